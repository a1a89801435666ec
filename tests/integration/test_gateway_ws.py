"""The WebSocket /ws against the running gateway: every message type, the owner's events after auth, and
a stalled client that is coalesced and then closed with 1013 while another keeps its rate."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from taptrade import bus
from taptrade.bus import IntakeClient
from taptrade.config import Settings
from tests.gateway_support import (
    PRICE_CENTS,
    GatewayThread,
    Trader,
    bet_body,
    current_column,
    publish_market,
    sign_in,
)
from tests.support import deposit

ROW = PRICE_CENTS // 1000


async def next_of(ws: ClientConnection, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        message: dict[str, Any] = json.loads(raw)
        if message["type"] == kind:
            return message


async def first_of_each(ws: ClientConnection, kinds: set[str]) -> dict[str, dict[str, Any]]:
    """The first message of each kind, whatever their order."""
    found: dict[str, dict[str, Any]] = {}
    while len(found) < len(kinds):
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5.0))
        if message["type"] in kinds:
            found.setdefault(message["type"], message)
    return found


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else exc.rcvd.code


def ws_url(gateway: GatewayThread) -> str:
    return gateway.url.replace("http://", "ws://") + "/ws"


async def test_hello_price_quotes_status_and_pong(gateway: GatewayThread, settings: Settings) -> None:
    async with connect(ws_url(gateway)) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        assert hello["grid"]["column_seconds"] == 5
        assert hello["status"] == {"type": "status", "price_feed": "healthy", "betting": "open",
                                   "since_ms": hello["status"]["since_ms"]}  # fmt: skip
        assert abs(hello["server_ms"] - time.time() * 1000) < 5000
        first = await first_of_each(ws, {"quotes", "price"})  # the price goes out first, when it has one
        assert first["quotes"]["multipliers"][3][10] == "2.5000"
        assert first["price"]["price"] == PRICE_CENTS
        publish_market(
            settings.resolved_redis_url(), price=PRICE_CENTS + 700, betting="suspended", price_feed="critical"
        )
        changed = await first_of_each(ws, {"status", "price"})
        assert (changed["status"]["price_feed"], changed["status"]["betting"]) == ("critical", "suspended")
        assert changed["price"]["price"] == PRICE_CENTS + 700
        await ws.send(json.dumps({"type": "ping"}))
        await next_of(ws, "pong")


async def test_prices_are_coalesced_to_at_most_ten_a_second(
    gateway: GatewayThread, settings: Settings
) -> None:
    client = redis.Redis.from_url(settings.resolved_redis_url())
    prices: list[int] = []

    async def receive(ws: ClientConnection) -> None:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "price":
                prices.append(message["price"])

    async with connect(ws_url(gateway)) as ws:
        await next_of(ws, "hello")
        receiver = asyncio.create_task(receive(ws))
        started = time.monotonic()
        for n in range(200):  # 200 ticks, 5 ms apart
            tick = {"price": PRICE_CENTS + n, "ts_ms": int(time.time() * 1000), "source": "simulated"}
            await asyncio.to_thread(client.publish, bus.PRICE_CHANNEL, json.dumps(tick))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.5)  # the last tick's interval
        elapsed = time.monotonic() - started
        receiver.cancel()
    client.close()
    assert 2 <= len(prices) <= elapsed * 10 + 2, (len(prices), elapsed)  # at most 10 a second
    assert prices[-1] == PRICE_CENTS + 199  # the newest wins


async def test_after_auth_the_owner_gets_bet_and_balance_events_with_seq(
    gateway: GatewayThread, settings: Settings, intake: IntakeClient
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        trader, other = Trader(), Trader()
        await sign_in(http, settings, trader)
        await sign_in(http, settings, other)
        assert (await intake.submit(deposit(trader.address, 5000))).ok
        async with connect(ws_url(gateway)) as mine, connect(ws_url(gateway)) as theirs:
            await mine.send(json.dumps({"type": "auth", "token": trader.token}))
            await theirs.send(json.dumps({"type": "auth", "token": other.token}))
            await asyncio.sleep(0.2)
            body = bet_body(trader, settings, column=current_column() + 3, row=ROW)
            assert (await http.post("/api/bets", json=body, headers=trader.headers())).status_code == 201
            bet = await next_of(mine, "bet")
            balance = await next_of(mine, "balance")
            assert (bet["seq"], bet["bet"]["bet_id"], bet["bet"]["status"]) == (
                2,
                body["bet_id"],
                "confirmed",
            )
            assert (balance["seq"], balance["balance"]) == (3, 4000)
            with pytest.raises(TimeoutError):
                await next_of(theirs, "bet", timeout_s=1.0)


async def test_a_bad_token_closes_the_socket(gateway: GatewayThread) -> None:
    async with connect(ws_url(gateway)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "nope"}))
        assert await close_code(ws) == 1008


async def test_garbage_closes_only_that_socket(gateway: GatewayThread) -> None:
    async with connect(ws_url(gateway)) as good, connect(ws_url(gateway)) as bad:
        await bad.send("not json {")
        assert await close_code(bad) == 1008
        await good.send(json.dumps({"type": "ping"}))
        await next_of(good, "pong")


def stalled_client(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b"101" in sock.recv(1024).split(b"\r\n")[0]
    return sock


@pytest.mark.slow
async def test_a_stalled_client_is_closed_with_1013_while_others_keep_their_rate(
    gateway: GatewayThread, settings: Settings
) -> None:
    client = redis.Redis.from_url(settings.resolved_redis_url())
    stalled = stalled_client(ws_url(gateway))
    big_row = [25_000] * 400
    try:
        await _load_until_stalled_is_closed(gateway, client, big_row)
    finally:
        stalled.close()


async def _load_until_stalled_is_closed(
    gateway: GatewayThread, client: redis.Redis, big_row: list[int]
) -> None:
    async with connect(ws_url(gateway), max_size=2**24) as healthy:
        await next_of(healthy, "hello")
        received = 0
        started = time.monotonic()
        while time.monotonic() - started < 20:
            table = {"quote_id": received, "ts_ms": int(time.time() * 1000), "price": PRICE_CENTS,
                     "first_column": current_column(), "first_row": ROW,
                     "multipliers_e4": [big_row] * 32}  # fmt: skip
            client.publish(bus.QUOTES_CHANNEL, json.dumps(table))  # ~150 KB each
            try:
                while True:
                    await asyncio.wait_for(healthy.recv(), 0.02)
                    received += 1
            except TimeoutError:
                pass
            if _stalled_gone(gateway):
                break
        assert _stalled_gone(gateway), "the stalled client was never closed"
        assert received >= 20, received  # the healthy client kept getting messages meanwhile


def _stalled_gone(gateway: GatewayThread) -> bool:
    hub = gateway.app.state.gateway.hub
    return len(hub.clients) <= 1


async def test_resolved_columns_are_broadcast(gateway: GatewayThread, settings: Settings) -> None:
    column = {"column": 7, "start_ms": 35_000, "end_ms": 40_000, "status": "resolved",
              "open": 100, "high": 120, "low": 90, "close": 110, "ticks": 42}  # fmt: skip
    async with connect(ws_url(gateway)) as ws:
        await next_of(ws, "hello")
        redis.Redis.from_url(settings.resolved_redis_url()).publish(bus.COLUMNS_CHANNEL, json.dumps(column))
        assert await next_of(ws, "column") == {"type": "column", **column}
