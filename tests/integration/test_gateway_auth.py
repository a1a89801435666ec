"""Sign-In with Ethereum against the running gateway: a real wallet signs a real EIP-4361 message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from eth_account import Account

from taptrade.config import Settings
from tests.gateway_support import Trader, error_code, sign_in


async def nonce(client: httpx.AsyncClient) -> str:
    response = await client.get("/api/auth/nonce")
    assert response.status_code == 200
    value: str = response.json()["nonce"]
    return value


async def login(client: httpx.AsyncClient, message: str, signature: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"message": message, "signature": signature})


async def test_sign_in_gives_a_session_that_opens_me(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    answer = await sign_in(client, settings, trader)
    assert answer["address"] == trader.address
    assert answer["balance"] == 0
    me = await client.get("/api/me", headers=trader.headers())
    assert me.status_code == 200
    body = me.json()
    assert (body["address"], body["balance"]) == (trader.address, 0)
    assert body["limits"] == {
        "daily_loss_limit": None,
        "loss_today": 0,
        "paused_until_ms": None,
        "pending": None,
    }
    assert body["session_expires_ms"] == answer["expires_ms"]


async def test_signature_by_another_wallet_is_bad_signature(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    trader = Trader()
    message = trader.siwe_message(settings, await nonce(client))
    response = await login(client, message, trader.sign_text(message, Account.create()))
    assert error_code(response) == (401, "bad_signature")


async def test_other_domain_is_wrong_domain(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    message = trader.siwe_message(
        settings, await nonce(client), domain="evil.example", uri="https://evil.example"
    )
    assert error_code(await login(client, message, trader.sign_text(message))) == (401, "wrong_domain")


async def test_host_header_is_not_trusted_for_the_domain(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    trader = Trader()
    message = trader.siwe_message(
        settings, await nonce(client), domain="evil.example", uri="https://evil.example"
    )
    response = await client.post(
        "/api/auth/login",
        json={"message": message, "signature": trader.sign_text(message)},
        headers={"Host": "evil.example"},
    )
    assert error_code(response) == (401, "wrong_domain")


async def test_other_chain_is_wrong_chain(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    message = trader.siwe_message(settings, await nonce(client), chain_id=settings.chain_id + 1)
    assert error_code(await login(client, message, trader.sign_text(message))) == (401, "wrong_chain")


async def test_expired_message_is_expired(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    past = datetime.now(UTC) - timedelta(minutes=1)
    message = trader.siwe_message(
        settings,
        await nonce(client),
        issued_at=(past - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        expiration_time=past.isoformat().replace("+00:00", "Z"),
    )
    assert error_code(await login(client, message, trader.sign_text(message))) == (401, "expired")


async def test_a_nonce_works_once(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    message = trader.siwe_message(settings, await nonce(client))
    signature = trader.sign_text(message)
    assert (await login(client, message, signature)).status_code == 200
    assert error_code(await login(client, message, signature)) == (401, "bad_nonce")


async def test_an_unknown_nonce_is_bad_nonce(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    message = trader.siwe_message(settings, "0123456789abcdef0123456789abcdef")
    assert error_code(await login(client, message, trader.sign_text(message))) == (401, "bad_nonce")


async def test_a_message_without_session_key_is_bad_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    trader = Trader()
    message = trader.siwe_message(settings, await nonce(client), resources=[])
    assert error_code(await login(client, message, trader.sign_text(message))) == (400, "bad_request")


async def test_logout_revokes_the_session(client: httpx.AsyncClient, settings: Settings) -> None:
    trader = Trader()
    await sign_in(client, settings, trader)
    assert (await client.post("/api/auth/logout", headers=trader.headers())).status_code == 204
    assert error_code(await client.get("/api/me", headers=trader.headers())) == (401, "no_session")
    assert error_code(await client.post("/api/auth/logout", headers=trader.headers())) == (401, "no_session")


async def test_no_or_garbage_token_is_no_session(client: httpx.AsyncClient) -> None:
    assert error_code(await client.get("/api/me")) == (401, "no_session")
    assert error_code(await client.get("/api/me", headers={"Authorization": "Bearer nope"})) == (
        401,
        "no_session",
    )
    assert error_code(await client.get("/api/me", headers={"Authorization": "Basic abc"})) == (
        401,
        "no_session",
    )
