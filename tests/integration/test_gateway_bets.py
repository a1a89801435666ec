"""POST /api/bets against the running gateway, ledger and Redis: every rule enforced by the server."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.gateway_support import (
    PRICE_CENTS,
    GatewayThread,
    Trader,
    asked_until_stored,
    bet_body,
    current_column,
    error_code,
    fresh_market,
    funded_trader,
    publish_market,
    sign_in,
)
from tests.support import LedgerThread, RedisServer, make_settings

ROW = PRICE_CENTS // 1000


@pytest.fixture
async def trader(client: httpx.AsyncClient, settings: Settings, intake: IntakeClient) -> Trader:
    return await funded_trader(client, settings, intake, 10_000)


async def place(client: httpx.AsyncClient, trader: Trader, body: dict[str, object]) -> httpx.Response:
    return await client.post("/api/bets", json=body, headers=trader.headers())


async def test_session_signed_bet_is_confirmed(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    response = await place(client, trader, bet_body(trader, settings, column=column, row=ROW, amount=2500))
    assert response.status_code == 201, response.text
    answer = response.json()
    bet = answer["bet"]
    assert answer["balance"] == 7500
    assert (bet["cell"], bet["column"], bet["row"]) == (f"{column}:{ROW}", column, ROW)
    assert (bet["lower"], bet["upper"]) == (ROW * 1000, ROW * 1000 + 1000)
    assert (bet["start_ms"], bet["end_ms"]) == (column * 5000, column * 5000 + 5000)
    assert (bet["amount"], bet["multiplier"], bet["status"], bet["payout"]) == (
        2500,
        "2.5000",
        "confirmed",
        None,
    )
    stored = db.open_reader(settings.live_db_path).execute("SELECT COUNT(*) FROM bets").fetchone()[0]
    assert stored == 1


async def test_wallet_signed_bet_needs_no_session(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, scheme="eip191")
    response = await client.post("/api/bets", json=body)  # no Authorization header
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == 9000


async def test_exact_replay_is_replayed_nonce(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW)
    assert (await place(client, trader, body)).status_code == 201
    assert error_code(await place(client, trader, body)) == (401, "replayed_nonce")


@pytest.mark.parametrize("skew_s", [-31, 31, -3600])
async def test_old_or_future_timestamp_is_stale(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, skew_s: int
) -> None:
    body = bet_body(
        trader, settings, column=current_column() + 3, row=ROW, timestamp=int(time.time()) + skew_s
    )
    assert error_code(await place(client, trader, body)) == (401, "stale_timestamp")


@pytest.mark.parametrize(
    "tamper",
    [
        {"amount": 10000},
        {"cell": "1:1"},
        {"min_multiplier": "1.2000"},
        {"chain_id": 5},
        {"nonce": "othernonce1"},
    ],
)
async def test_tampered_field_is_bad_signature(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, tamper: dict[str, object]
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, tamper=tamper)
    assert error_code(await place(client, trader, body)) == (401, "bad_signature")


async def test_wallet_signature_by_another_key_is_bad_signature(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(Trader(), settings, column=current_column() + 3, row=ROW, scheme="eip191")
    body["address"] = trader.address
    assert error_code(await client.post("/api/bets", json=body)) == (401, "bad_signature")


async def test_other_chain_is_wrong_chain(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, chain_id=5)
    assert error_code(await place(client, trader, body)) == (401, "wrong_chain")


@pytest.mark.parametrize("offset", [-1, 0, 1, 31])
async def test_past_current_next_and_too_far_columns_are_not_placeable(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, offset: int
) -> None:
    body = bet_body(trader, settings, column=current_column() + offset, row=ROW)
    assert error_code(await place(client, trader, body)) == (422, "cell_not_placeable")


async def test_stake_not_a_preset_is_bad_stake(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, amount=1234)
    assert error_code(await place(client, trader, body)) == (422, "bad_stake")


async def test_min_multiplier_above_quote_is_multiplier_moved(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, min_multiplier="2.5001")
    assert error_code(await place(client, trader, body)) == (422, "multiplier_moved")
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, min_multiplier="2.5")
    assert (await place(client, trader, body)).status_code == 201


async def test_a_cell_outside_the_quote_table_has_no_quote(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW + 500)
    assert error_code(await place(client, trader, body)) == (422, "no_quote")


async def test_retry_with_same_bet_id_and_fresh_nonce_returns_the_same_bet(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    first = await place(client, trader, bet_body(trader, settings, column=column, row=ROW))
    bet_id = first.json()["bet"]["bet_id"]
    again = await place(client, trader, bet_body(trader, settings, column=column, row=ROW, bet_id=bet_id))
    assert again.status_code == 200
    assert again.json() == first.json()


async def test_same_bet_id_other_cell_is_a_conflict(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    first = await place(client, trader, bet_body(trader, settings, column=column, row=ROW))
    bet_id = first.json()["bet"]["bet_id"]
    other = bet_body(trader, settings, column=column, row=ROW + 1, bet_id=bet_id)
    assert error_code(await place(client, trader, other)) == (409, "bet_id_conflict")


async def test_second_bet_on_a_cell_is_cell_taken(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    assert (
        await place(client, trader, bet_body(trader, settings, column=column, row=ROW))
    ).status_code == 201
    assert error_code(await place(client, trader, bet_body(trader, settings, column=column, row=ROW))) == (
        409,
        "cell_taken",
    )


async def test_fifty_concurrent_bets_worth_more_than_the_balance_never_overdraw(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    # $100 buys ten $10 bets; the wallet's rate limit (burst 20) lets more than ten through to the ledger.
    cells = [(column + n % 3, ROW - 8 + n // 3) for n in range(50)]
    bodies = [bet_body(trader, settings, column=c, row=r, amount=1000) for c, r in cells]
    responses = await asyncio.gather(*(place(client, trader, body) for body in bodies))
    assert sum(r.status_code == 201 for r in responses) == 10
    refusals = {error_code(r) for r in responses if r.status_code != 201}
    assert (422, "insufficient_funds") in refusals
    assert refusals <= {(422, "insufficient_funds"), (429, "rate_limited")}
    conn = db.open_reader(settings.live_db_path)
    assert conn.execute("SELECT balance_cents FROM users").fetchall() == [(0,)]
    assert check_integrity(conn).ok


async def test_rate_limit_is_429_with_retry_after(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    column = current_column() + 3
    cells = [(column + n // 20, ROW - 10 + n % 20) for n in range(settings.bet_burst + 10)]
    bodies = [bet_body(trader, settings, column=c, row=r, amount=100) for c, r in cells]
    # All at once; the bucket (10/s) still refills a little while a busy machine serves them.
    started = time.monotonic()
    responses = await asyncio.gather(*(place(client, trader, body) for body in bodies))
    refill = math.ceil((time.monotonic() - started) * settings.bet_rate_per_s)
    limited = [r for r in responses if r.status_code == 429]
    assert limited, [r.status_code for r in responses]
    assert limited[0].json()["error"]["code"] == "rate_limited"
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert sum(r.status_code == 201 for r in responses) <= settings.bet_burst + refill


async def test_logout_revokes_betting(client: httpx.AsyncClient, settings: Settings, trader: Trader) -> None:
    assert (await client.post("/api/auth/logout", headers=trader.headers())).status_code == 204
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW)
    assert error_code(await place(client, trader, body)) == (401, "no_session")


async def test_suspended_betting_is_503_price_feed_stale(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    publish_market(settings.resolved_redis_url(), betting="suspended", price_feed="critical")
    await asyncio.sleep(0.2)
    response = await place(client, trader, bet_body(trader, settings, column=current_column() + 3, row=ROW))
    assert error_code(response) == (503, "price_feed_stale")
    assert "Retry-After" in response.headers


@pytest.mark.parametrize("stale", ["tick", "quotes"])
async def test_a_silent_feed_or_old_quotes_suspend_betting_even_if_the_feed_said_healthy(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, stale: str
) -> None:
    # An old tick: the feed went quiet. An old quote table alone: nothing is wrong with the cell (so not
    # 422 no_quote), the market view is behind — seen while Redis was down.
    age = {"tick_age_ms": settings.feed_stale_after_ms + 1000} if stale == "tick" else {
        "quotes_age_ms": settings.quote_max_age_ms + 500}  # fmt: skip
    publish_market(settings.resolved_redis_url(), **age)
    await asyncio.sleep(0.2)
    response = await place(client, trader, bet_body(trader, settings, column=current_column() + 3, row=ROW))
    assert error_code(response) == (503, "price_feed_stale")
    assert "Retry-After" in response.headers


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "bad_request"),
        (b"{}", "bad_request"),
        (b'{"bet_id": 1}', "bad_request"),
        (b"[]", "bad_request"),
    ],
)
async def test_malformed_bodies_are_400(client: httpx.AsyncClient, body: bytes, expected: str) -> None:
    response = await client.post("/api/bets", content=body, headers={"Content-Type": "application/json"})
    assert error_code(response) == (400, expected)


async def test_unknown_fields_are_refused(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    body = bet_body(trader, settings, column=current_column() + 3, row=ROW, tamper={"payout": 1_000_000})
    assert error_code(await place(client, trader, body)) == (400, "bad_request")


async def test_body_over_8_kib_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/bets", content=b"x" * 9000, headers={"Content-Type": "application/json"}
    )
    assert error_code(response) == (413, "too_large")


async def test_chunked_body_over_8_kib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post("/api/bets", content=chunks(), headers={"Content-Type": "application/json"})
    assert error_code(response) == (413, "too_large")


async def test_no_answer_from_the_ledger_is_504_and_logged_for_a_dispute(
    tmp_path: Path, redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The ledger is down: the bet is queued but never answered in time."""
    settings = make_settings(tmp_path / "no-ledger", redis_url, reply_timeout_ms=300)
    db.open_writer(settings.live_db_path).close()
    publish_market(settings.resolved_redis_url())
    trader = Trader()
    with GatewayThread(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            await sign_in(http, settings, trader)
            body = bet_body(trader, settings, column=current_column() + 3, row=ROW)
            response = await http.post("/api/bets", json=body, headers=trader.headers())
    assert error_code(response) == (504, "timeout")
    assert body["bet_id"] in response.json()["error"]["message"]  # where to ask about it
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if '"event":"bet"' in line]
    [logged] = [line for line in lines if line.get("bet_id") == body["bet_id"]]
    assert (logged["code"], logged["cell"], logged["balance"]) == ("timeout", body["cell"], None)
    assert logged["quote_id"] > 0


async def test_a_redis_that_refuses_writes_is_503_unavailable_and_the_bet_goes_through_after(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, capfd: pytest.CaptureFixture[str]
) -> None:
    """Redis up but refusing writes (its memory full here; its disk full gives MISCONF, the same path):
    a moment's unavailability with Retry-After, logged as the bet's answer rather than as a crash of the
    request, and nothing of the bet was kept."""
    body = bet_body(trader, settings, column=current_column() + 4, row=ROW)
    admin = redis.Redis.from_url(settings.resolved_redis_url())
    admin.config_set("maxmemory", 1)
    try:
        response = await place(client, trader, body)
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()
    assert error_code(response) == (503, "unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    logged = capfd.readouterr().err
    assert '"request_failed"' not in logged
    [line] = [json.loads(x) for x in logged.splitlines() if body["bet_id"] in x and '"event":"bet"' in x]
    assert line["code"] == "unavailable"

    again = await place(client, trader, body)  # the same signed bet: its nonce was not spent
    assert again.status_code == 201, again.text


@pytest.fixture
async def stall_world(
    tmp_path: Path, redis_url: str, redis_server: RedisServer, intake: IntakeClient
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings, Trader]]:
    """Gateway and ledger on the session's Redis with a short Redis timeout (500 ms), and a funded trader."""
    settings = make_settings(tmp_path / "stall", redis_url, redis_timeout_ms=500)
    with LedgerThread(settings), fresh_market(redis_url), GatewayThread(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            yield http, settings, await funded_trader(http, settings, intake, 10_000)


async def test_redis_down_is_503_unavailable_at_once(
    stall_world: tuple[httpx.AsyncClient, Settings, Trader], redis_server: RedisServer
) -> None:
    """Nothing listens: the command never left, so the bet certainly did not happen — 503, retry."""
    http, settings, trader = stall_world
    body = bet_body(trader, settings, column=current_column() + 4, row=ROW)
    redis_server.kill()
    try:
        response = await asyncio.wait_for(place(http, trader, body), 5)
    finally:
        redis_server.start()
    assert error_code(response) == (503, "unavailable")
    assert "Retry-After" in response.headers


async def test_a_stalled_redis_is_504_in_bounded_time_and_the_bet_may_still_land(
    stall_world: tuple[httpx.AsyncClient, Settings, Trader], redis_server: RedisServer
) -> None:
    """Redis up but not answering (stopped): the bet is answered after the Redis timeout, not after the
    stall. Its command already sat in Redis's socket, and Redis runs it when it wakes — which is why the
    answer is 504 (ask later), never 503 (it did not happen)."""
    http, settings, trader = stall_world
    first = await place(http, trader, bet_body(trader, settings, column=current_column() + 4, row=ROW))
    assert first.status_code == 201  # the worker now knows the session: the bet's next step is Redis's
    body = bet_body(trader, settings, column=current_column() + 4, row=ROW + 1)
    assert redis_server.proc is not None
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = await asyncio.wait_for(place(http, trader, body), 5)
        waited_s = time.monotonic() - started
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert error_code(response) == (504, "timeout"), response.text
    assert waited_s < 1.5  # the 500 ms timeout, with room for a busy machine

    asked = await asked_until_stored(http, trader, str(body["bet_id"]), pause_s=0.05)
    assert asked.status_code == 200, asked.text
    assert asked.json()["bet"]["status"] == "confirmed"
