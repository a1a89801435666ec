"""Helpers for gateway tests: a real uvicorn server on a free port, wallets that sign in with real SIWE
messages, P-256 session keys, signed bets, and a market (quotes and feed status) published in Redis."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import redis
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from taptrade import bus
from taptrade.auth.bet_message import bet_message
from taptrade.bus import IntakeClient
from taptrade.config import Settings
from taptrade.gateway.app import create_app
from taptrade.gateway.server import PROTOCOLS
from taptrade.market import FeedStatus, PriceTick, QuoteTable
from tests.support import deposit, now_ms, wait_for

PRICE_CENTS = 9_712_345
QUOTE_E4 = 25_000
QUOTE_ROWS = 21  # rows quoted, centred on the price's row
QUOTE_COLUMNS = 32  # columns quoted, from the current one


class GatewayThread:
    """The gateway app served by uvicorn on a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            lifespan="on",
            **PROTOCOLS,  # as the gateway's workers serve
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{settings.port}"

    def __enter__(self) -> GatewayThread:
        self.thread.start()
        wait_for(lambda: self.server.started, 15, "gateway started")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Trader:
    """A wallet with a browser-like P-256 session key."""

    wallet: LocalAccount = field(default_factory=Account.create)
    session_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    token: str | None = None

    @property
    def address(self) -> str:
        return str(self.wallet.address).lower()

    def session_key_b64(self) -> str:
        spki = self.session_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(spki)

    def siwe_message(self, settings: Settings, nonce: str, **overrides: Any) -> str:
        issued = datetime.now(UTC)
        fields: dict[str, Any] = {
            "domain": f"127.0.0.1:{settings.port}",
            "address": self.wallet.address,
            "statement": "Sign in to Tap Trading",
            "uri": f"http://127.0.0.1:{settings.port}",
            "version": "1",
            "chain_id": settings.chain_id,
            "nonce": nonce,
            "issued_at": issued.isoformat().replace("+00:00", "Z"),
            "expiration_time": (issued + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "resources": [f"urn:taptrade:session-key:{self.session_key_b64()}"],
        }
        fields.update(overrides)
        return str(SiweMessage(**fields).prepare_message())

    def sign_text(self, text: str, wallet: LocalAccount | None = None) -> str:
        signed = (wallet or self.wallet).sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def bet_body(
    trader: Trader,
    settings: Settings,
    *,
    column: int,
    row: int,
    amount: int = 1000,
    min_multiplier: str = "1.1000",
    scheme: str = "session",
    bet_id: str | None = None,
    nonce: str | None = None,
    timestamp: int | None = None,
    chain_id: int | None = None,
    tamper: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bet signed as the browser (session key) or a bot (EIP-191) would sign it."""
    fields: dict[str, Any] = {
        "bet_id": bet_id or str(uuid.uuid4()),
        "cell": f"{column}:{row}",
        "amount": amount,
        "min_multiplier": min_multiplier,
        "nonce": nonce or str(uuid.uuid4()),
        "timestamp": timestamp if timestamp is not None else int(time.time()),
        "chain_id": chain_id if chain_id is not None else settings.chain_id,
    }
    text = bet_message(**fields).encode()
    if scheme == "session":
        der = trader.session_key.sign(text, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        body = {**fields, "scheme": "session", "signature": signature}
    else:
        body = {
            **fields,
            "scheme": "eip191",
            "signature": trader.sign_text(text.decode()),
            "address": trader.address,
        }
    body.update(tamper or {})
    return body


def current_column() -> int:
    return now_ms() // 5000


def publish_market(
    redis_url: str,
    *,
    price: int = PRICE_CENTS,
    multiplier_e4: int | None = QUOTE_E4,
    betting: str = "open",
    price_feed: str = "healthy",
    tick_age_ms: int = 0,
    quotes_age_ms: int = 0,
) -> QuoteTable:
    """What the feed would publish: a tick, a quote table over every placeable column, the status."""
    client = redis.Redis.from_url(redis_url)
    now = now_ms()
    first_column, first_row = current_column(), price // 1000 - QUOTE_ROWS // 2
    table = QuoteTable(
        quote_id=now,
        ts_ms=now - quotes_age_ms,
        price=price,
        first_column=first_column,
        first_row=first_row,
        multipliers_e4=[[multiplier_e4] * QUOTE_ROWS for _ in range(QUOTE_COLUMNS)],
    )
    tick = PriceTick(price=price, ts_ms=now - tick_age_ms, source="simulated")
    status = FeedStatus(price_feed=price_feed, betting=betting, since_ms=now, source="simulated")  # type: ignore[arg-type]
    for key, channel, value in (
        (bus.PRICE_KEY, bus.PRICE_CHANNEL, tick),
        (bus.QUOTES_KEY, bus.QUOTES_CHANNEL, table),
        (bus.FEED_STATUS_KEY, bus.FEED_STATUS_CHANNEL, status),
    ):
        data = msgspec.json.encode(value)
        client.set(key, data)
        client.publish(channel, data)
    client.close()
    return table


async def sign_in(client: httpx.AsyncClient, settings: Settings, trader: Trader) -> dict[str, Any]:
    nonce = (await client.get("/api/auth/nonce")).json()["nonce"]
    message = trader.siwe_message(settings, nonce)
    response = await client.post(
        "/api/auth/login", json={"message": message, "signature": trader.sign_text(message)}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    trader.token = answer["token"]
    return answer


def error_code(response: httpx.Response) -> tuple[int, str]:
    """An error answer as (status, API.md code)."""
    return response.status_code, response.json()["error"]["code"]


async def funded_trader(
    client: httpx.AsyncClient, settings: Settings, intake: IntakeClient, cents: int
) -> Trader:
    """A new trader, signed in, with `cents` deposited through the ledger."""
    trader = Trader()
    await sign_in(client, settings, trader)
    assert (await intake.submit(deposit(trader.address, cents))).ok
    return trader


async def asked_until_stored(
    client: httpx.AsyncClient, trader: Trader, bet_id: str, attempts: int = 100, pause_s: float = 0.1
) -> httpx.Response:
    """`GET /api/bets/{bet_id}` until it is found (200) or `attempts` have passed: the last answer. For a
    bet whose outcome was unknown (504) while the ledger works through what waited for it."""
    for _ in range(attempts):
        answer = await client.get(f"/api/bets/{bet_id}", headers=trader.headers())
        if answer.status_code == 200:
            break
        await asyncio.sleep(pause_s)
    return answer


@contextmanager
def fresh_market(redis_url: str) -> Iterator[None]:
    """Keep publishing the static market every 0.5 s (as a live feed would), for a test whose client is
    slower than the quote tables' maximum age."""
    stop = threading.Event()

    def publish() -> None:
        while not stop.wait(0.5):
            publish_market(redis_url)

    publisher = threading.Thread(target=publish, daemon=True)
    publish_market(redis_url)
    publisher.start()
    try:
        yield
    finally:
        stop.set()
        publisher.join(timeout=5)
