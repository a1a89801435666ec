"""Adversarial requests against the real gateway, ledger and Redis: the replay and forgery matrix for both
signing schemes, and SQL-injection strings in every field a client sends. Every attempt is refused with
the contract's error, and nothing changes: no bet, no debit, integrity clean."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.gateway_support import (
    PRICE_CENTS,
    Trader,
    bet_body,
    current_column,
    error_code,
    funded_trader,
)

ROW = PRICE_CENTS // 1000
FUNDS = 10_000
INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE bets; --",
    "x' UNION SELECT address, balance_cents FROM users --",
    '"; DELETE FROM ledger WHERE "1"="1',
    "1:1) OR 1=1 --",
    "%27%20OR%201%3D1",
    "\u0000' OR 1=1",
]


@pytest.fixture
async def trader(client: httpx.AsyncClient, settings: Settings, intake: IntakeClient) -> Trader:
    return await funded_trader(client, settings, intake, FUNDS)


def snapshot(settings: Settings) -> tuple[int, int, int]:
    """(bets, ledger rows, money held) — what an attack must not change."""
    conn = db.open_reader(settings.live_db_path)
    try:
        bets = conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        held = conn.execute("SELECT COALESCE(SUM(balance_cents), 0) FROM users").fetchone()[0]
        assert check_integrity(conn).ok
    finally:
        conn.close()
    return int(bets), int(rows), int(held)


def forged(attack: str, scheme: str, trader: Trader, settings: Settings) -> dict[str, Any]:
    """A bet body carrying one attack, otherwise well formed and signed."""
    column = current_column() + 3
    if attack == "stale_timestamp":
        return bet_body(
            trader, settings, column=column, row=ROW, scheme=scheme, timestamp=int(time.time()) - 31
        )
    if attack == "other_chain":
        return bet_body(
            trader, settings, column=column, row=ROW, scheme=scheme, chain_id=settings.chain_id + 4
        )
    if attack == "other_key":
        intruder = Trader()
        body = bet_body(intruder, settings, column=column, row=ROW, scheme=scheme)
        if scheme == "eip191":
            body["address"] = trader.address  # signed by another wallet, claimed for this one
        return body  # a session bet is sent with the victim's token, signed by another key
    if attack == "tampered_amount":
        return bet_body(trader, settings, column=column, row=ROW, scheme=scheme, tamper={"amount": 5000})
    if attack == "tampered_cell":
        return bet_body(
            trader, settings, column=column, row=ROW, scheme=scheme, tamper={"cell": f"{column}:{ROW + 1}"}
        )
    raise AssertionError(attack)


EXPECTED = {
    "stale_timestamp": (401, "stale_timestamp"),
    "other_chain": (401, "wrong_chain"),
    "other_key": (401, "bad_signature"),
    "tampered_amount": (401, "bad_signature"),
    "tampered_cell": (401, "bad_signature"),
}


@pytest.mark.parametrize("scheme", ["session", "eip191"])
@pytest.mark.parametrize("attack", sorted(EXPECTED))
async def test_forgery_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, scheme: str, attack: str
) -> None:
    before = snapshot(settings)
    body = forged(attack, scheme, trader, settings)
    response = await client.post("/api/bets", json=body, headers=trader.headers())
    assert error_code(response) == EXPECTED[attack]
    assert snapshot(settings) == before


@pytest.mark.parametrize("scheme", ["session", "eip191"])
async def test_a_replayed_bet_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, scheme: str
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, scheme=scheme)
    assert (await client.post("/api/bets", json=body, headers=trader.headers())).status_code == 201
    after_first = snapshot(settings)
    for _ in range(3):
        replay = await client.post("/api/bets", json=body, headers=trader.headers())
        assert error_code(replay) == (401, "replayed_nonce")
    # The same bet with a fresh nonce is a retry, answered with the stored bet: still one debit.
    retry = {**body, "nonce": uuid.uuid4().hex}
    retry_body = bet_body(
        trader, settings, column=int(body["cell"].split(":")[0]), row=ROW, scheme=scheme,
        bet_id=body["bet_id"], nonce=retry["nonce"],
    )  # fmt: skip
    answer = await client.post("/api/bets", json=retry_body, headers=trader.headers())
    assert answer.status_code == 200, answer.text
    assert snapshot(settings) == after_first


BET_FIELDS = ["bet_id", "cell", "min_multiplier", "nonce", "signature", "scheme", "address"]


@pytest.mark.parametrize("field", BET_FIELDS)
async def test_sql_in_a_bet_field_is_a_clean_refusal(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, field: str
) -> None:
    before = snapshot(settings)
    for text in INJECTIONS:
        body = bet_body(trader, settings, column=current_column() + 3, row=ROW, tamper={field: text})
        response = await client.post("/api/bets", json=body, headers=trader.headers())
        assert response.status_code in (400, 401), (field, text, response.status_code, response.text)
        assert "error" in response.json()
    assert snapshot(settings) == before


async def injected_reads(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, text: str
) -> list[httpx.Response]:
    """`text` in each query parameter, path segment, token and sign-in field a client can send."""
    segment = quote(text, safe="")  # a path segment as a client would have to send it
    header = text.replace("\u0000", "")  # a header cannot carry NUL at all
    mine = trader.headers()
    siwe = trader.siwe_message(settings, text)
    return [
        await client.get("/api/bets", params={"cursor": text}, headers=mine),
        await client.get("/api/bets", params={"limit": text}, headers=mine),
        await client.get("/api/ledger", params={"cursor": text}, headers=mine),
        await client.get(f"/api/bets/{segment}", headers=mine),
        await client.get(f"/api/columns/{segment}"),
        await client.get("/api/me", headers={"Authorization": f"Bearer {header}"}),
        await client.post("/api/auth/login", json={"message": text, "signature": text}),
        await client.post("/api/auth/login", json={"message": siwe, "signature": "0x00"}),
    ]


async def test_sql_in_reads_sign_in_and_tokens_is_a_clean_refusal(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    before = snapshot(settings)
    for text in INJECTIONS:
        for response in await injected_reads(client, settings, trader, text):
            assert 400 <= response.status_code < 500, (text, response.request.url, response.text)
            assert "error" in response.json(), response.text
    assert snapshot(settings) == before
    mine = await client.get("/api/bets", headers=trader.headers())
    assert mine.status_code == 200  # and the tables are still there to answer


def test_the_injection_strings_are_valid_sql_payloads() -> None:
    """The strings do break a query built by concatenation (so refusing them cleanly means something)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE bets (cell TEXT)")
    conn.execute("INSERT INTO bets VALUES ('1:1')")
    query = "SELECT COUNT(*) FROM bets WHERE cell = '" + INJECTIONS[0] + "'"
    assert conn.execute(query).fetchone()[0] == 1  # the OR matched every row
