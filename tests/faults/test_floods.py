"""Floods against a real `taptrade run`: one wallet at 1,000 bets a second (its rate limit holds and the
other traders do not notice), 10,000 idle connections, and malformed, huge and fragmented WebSocket frames.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.faults.conftest import Scale
from tests.faults.harness import Load, System, funded_traders, send_open_loop, settings_for
from tests.gateway_support import bet_body, current_column

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(600)]

FLOOD_RATE = 1000
FLOOD_S = 5.0
BET_RATE_PER_S, BET_BURST = 10, 20  # the defaults of TAPTRADE_BET_RATE_PER_S and _BURST
IDLE_CONNECTIONS = 10_000
FLOODER_FUNDS = 10_000_000


async def flooder_requests(system: System, count: int) -> list[bytes]:
    """`count` bets by one signed-in, funded wallet, each on a quoted cell near the price."""
    settings = settings_for(system)
    [trader] = await funded_traders(system, 1, FLOODER_FUNDS)
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        price = (await client.get("/api/price")).json()["price"]
    # Columns far enough ahead that none stops being placeable while the flood is signed and sent (a
    # refusal by the rules comes before the limiter and would not count against it).
    row, column = price // settings.row_cents, current_column() + 5
    requests = []
    for n in range(count):
        cell_column, cell_row = column + 1 + (n // 7) % 20, row - 3 + n % 7
        body = json.dumps(bet_body(trader, settings, column=cell_column, row=cell_row, amount=100)).encode()
        head = (
            f"POST /api/bets HTTP/1.1\r\nHost: 127.0.0.1:{system.port}\r\n"
            f"Authorization: Bearer {trader.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


@pytest.mark.long_fault
def test_one_wallet_at_1000_a_second_is_held_to_its_rate_and_others_are_unaffected(
    system: System, scale: Scale
) -> None:
    count = int(FLOOD_RATE * FLOOD_S)
    others = Load(system, 100, FLOOD_S + 8, users=100)
    others.wait_started()
    requests = asyncio.run(flooder_requests(system, count))  # signed now: a signed bet is valid 30 s
    started = time.monotonic()
    answers = asyncio.run(send_open_loop(system.port, requests, FLOOD_RATE, connections=32))
    flood_s = time.monotonic() - started  # longer than FLOOD_S when the server queues
    record = others.finish()
    system.took(record)

    limited = [retry for status, _, retry in answers if status == 429]
    passed = [status for status, _, _ in answers if status != 429]
    codes = Counter(f"{status} {code}" for status, code, _ in answers)
    assert len(answers) == count
    assert all(limited), "a 429 without Retry-After"
    # Past the limiter: the burst, and the refill over the time the flood took to arrive.
    assert len(passed) <= BET_BURST + BET_RATE_PER_S * flood_s, (codes, flood_s)
    assert set(passed) <= {201, 409, 422}, sorted(set(passed))
    # The others bet as if nothing happened: no limit reached, nothing refused for capacity.
    assert not any(" 429" in key or " 503" in key or "timeout" in key for key in record.answers), (
        record.answers
    )
    assert len(record.confirmed) >= 0.95 * len(record.bets)
    assert system.verdict().ok


@pytest.mark.long_fault
def test_10000_idle_connections_do_not_stop_betting(system: System) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= IDLE_CONNECTIONS + 1000, (
        f"this test needs {IDLE_CONNECTIONS + 1000} open files, have {hard}"
    )
    try:
        asyncio.run(_idle_while_betting(system))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _idle_while_betting(system: System) -> None:
    idle: list[asyncio.StreamWriter] = []
    for _ in range(IDLE_CONNECTIONS // 500):
        opened = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", system.port) for _ in range(500))
        )
        idle.extend(writer for _, writer in opened)
    try:
        load = Load(system, 100, 5, users=100)
        await asyncio.to_thread(load.wait_started)
        record = await asyncio.to_thread(load.finish)
        system.took(record)
        async with httpx.AsyncClient(base_url=system.url, timeout=10) as client:
            assert (await client.get("/api/healthz")).status_code == 200
    finally:
        for writer in idle:
            writer.close()
    assert len(idle) == IDLE_CONNECTIONS
    assert set(record.statuses()) <= {200, 201}, record.answers
    assert system.verdict().ok


async def _close_code(ws: object, send: object) -> int | None:
    try:
        await ws.send(send)  # type: ignore[attr-defined]
        while True:
            await asyncio.wait_for(ws.recv(), 10)  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else exc.rcvd.code


async def _slow_fragments() -> AsyncIterator[str]:
    """1 MiB in 16 KiB fragments, a moment apart, so the client reads the server's close between them."""
    for _ in range(64):
        yield "y" * 16_384
        await asyncio.sleep(0.01)


def test_malformed_huge_and_fragmented_websocket_frames(system: System) -> None:
    asyncio.run(_frames(system.url.replace("http://", "ws://") + "/ws"))


async def _frames(url: str) -> None:
    async with connect(url, max_size=2**24) as ws:
        assert await _close_code(ws, "{not json") == 1008
    async with connect(url, max_size=2**24) as ws:
        assert await _close_code(ws, "x" * (1 << 20)) == 1009  # refused by the protocol, not buffered
    async with connect(url, max_size=2**24) as ws:
        assert await _close_code(ws, _slow_fragments()) == 1009  # 1 MiB in fragments
    async with connect(url, max_size=2**24) as ws:
        await ws.send(iter(['{"ty', 'pe":', '"pi', 'ng"}']))  # a small message in four fragments
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "pong":
            pass
        # and a client that misbehaved never harmed this one: prices keep coming
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "price":
            pass
