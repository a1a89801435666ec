"""The hub's price pacer: a tick after a quiet spell goes out at once, and ticks closer together than the
interval are coalesced to the newest, one per interval. (The interval is stretched here so the test can
tell "at once" from "at the next interval" with a wide margin.) Its schedule: a steady 10 Hz feed goes out
as it comes however late each send is, and no burst gets more than 10 a second through."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import pytest

from taptrade import bus
from taptrade.gateway import ws
from taptrade.gateway.ws import Hub, PriceSchedule
from taptrade.gateway.ws_wire import text_frame
from taptrade.market import PriceTick, QuoteTable

INTERVAL_S = 1.0


class Market:
    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.price: PriceTick | None = None
        self.quotes: QuoteTable | None = None

    def tick(self, price: int) -> None:
        self.price = PriceTick(price=price, ts_ms=price, source="simulated")
        for listener in self.listeners:
            listener(bus.PRICE_CHANNEL)


class Client:
    def __init__(self) -> None:
        self.prices: list[bytes] = []

    def offer_price(self, frame: bytes) -> None:
        self.prices.append(frame)


async def test_a_tick_goes_out_at_once_and_a_burst_is_coalesced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws, "PRICE_INTERVAL_S", INTERVAL_S)
    market = Market()
    hub = Hub(cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, market), cast(Any, None))
    client = Client()
    hub.clients.add(cast(Any, client))
    pacer = asyncio.create_task(hub._pace_prices())
    try:
        await asyncio.sleep(0.05)
        market.tick(100)
        await asyncio.sleep(0.2)  # far less than the interval
        assert client.prices == [text_frame(b'{"type":"price","price":100,"ts_ms":100}')]

        market.tick(101)
        market.tick(102)
        await asyncio.sleep(0.2)
        assert len(client.prices) == 1  # the interval since the last send has not passed

        await asyncio.sleep(INTERVAL_S)
        newest_only = [text_frame(b'{"type":"price","price":102,"ts_ms":102}')]
        assert client.prices[1:] == newest_only
    finally:
        pacer.cancel()


def test_a_steady_feed_is_never_held_though_every_send_is_late() -> None:
    schedule = PriceSchedule()
    holds = []
    for n in range(1_000):
        ready = n * 0.1 + (0.004 if n % 3 == 0 else -0.004)  # the feed's and Redis's jitter
        hold = schedule.wait_s(ready)
        holds.append(hold)
        schedule.sent(ready + hold + 0.002)  # the loop gets to the send 2 ms late, every time
    # With "100 ms after the last send" the lateness piled up into holds of up to 100 ms.
    assert max(holds) == 0.0


def test_after_a_late_tick_a_steady_feed_catches_up() -> None:
    schedule = PriceSchedule()
    holds = []
    for n in range(20):
        ready = n * 0.1 + (0.06 if n == 5 else 0.0)  # one tick 60 ms late (a busy loop, a slow feed)
        hold = schedule.wait_s(ready)
        holds.append(round(hold * 1000))
        schedule.sent(ready + hold)
    # The tick after the late one waits for the 75 ms floor, the next for less, then none: a schedule
    # without the tolerance kept the 60 ms lateness for every tick after.
    assert holds[6:9] == [35, 10, 0]
    assert max(holds[9:]) == 0


def test_a_burst_gets_at_most_ten_a_second_never_two_within_75_ms() -> None:
    schedule = PriceSchedule()
    sent: list[float] = []
    now = 0.0
    while now < 60.0:  # a tick every millisecond for 60 s, each sent as soon as the schedule allows
        now += schedule.wait_s(now)
        sent.append(now)
        schedule.sent(now)
        now += 0.001
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.075 - 1e-9
    # Ten gaps take a second but for the one price of tolerance: a 10 Hz rate, however long the burst.
    assert min(sent[i + 10] - sent[i] for i in range(len(sent) - 10)) >= 0.9 - 1e-9
    assert (len(sent) - 1) / (sent[-1] - sent[0]) <= 10.02


class Recording:
    """A client that writes down, in one log shared by all, what it was handed."""

    def __init__(self, name: int, log: list[tuple[str, int, bytes]]) -> None:
        self.name, self.log = name, log

    def offer_price(self, frame: bytes) -> None:
        self.log.append(("price", self.name, frame))

    def offer_quotes(self, frame: bytes) -> None:
        self.log.append(("quotes", self.name, frame))


def quote_table(quote_id: int) -> QuoteTable:
    return QuoteTable(quote_id, 1_000 + quote_id, 6_000_000, 10, 5, [[15_000, None], [21_000, 30_500]])


CLIENTS = 5 * ws.QUOTES_SLICE


def hub_of_recordings(market: Market, log: list[tuple[str, int, bytes]]) -> Hub:
    """A hub with CLIENTS recording clients, named 0 to CLIENTS - 1."""
    hub = Hub(cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, market), cast(Any, None))
    for name in range(CLIENTS):
        hub.clients.add(cast(Any, Recording(name, log)))
    return hub


async def until(condition: Any, timeout_s: float = 2.0) -> None:
    """Wait, a turn of the loop at a time, for `condition()`."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (the loop's turns are what is being counted)
            await asyncio.sleep(0)


async def test_a_price_goes_out_between_the_slices_of_a_quote_table() -> None:
    market, log = Market(), list[tuple[str, int, bytes]]()
    hub, clients = hub_of_recordings(market, log), CLIENTS
    tasks = [asyncio.create_task(hub._pace_prices()), asyncio.create_task(hub._hand_out_quotes())]
    try:
        await asyncio.sleep(0.01)
        market.quotes = quote_table(1)
        hub.on_market(bus.QUOTES_CHANNEL)  # a table, and right behind it a price
        market.tick(100)
        await until(lambda: len(log) == 2 * clients)
    finally:
        for task in tasks:
            task.cancel()
    kinds = [kind for kind, _, _ in log]
    last_price = len(kinds) - kinds[::-1].index("price") - 1
    # Every client had the price while the table was still being handed out: one pass over all clients
    # in one go would have made the price wait for all of it.
    assert last_price < len(kinds) - kinds[::-1].index("quotes") - 1
    assert kinds[: ws.QUOTES_SLICE] == ["quotes"] * ws.QUOTES_SLICE
    assert sorted(name for kind, name, _ in log if kind == "quotes") == list(range(clients))


async def test_a_newer_quote_table_replaces_the_one_being_handed_out() -> None:
    market, log = Market(), list[tuple[str, int, bytes]]()
    hub, clients = hub_of_recordings(market, log), CLIENTS
    handing = asyncio.create_task(hub._hand_out_quotes())
    try:
        await asyncio.sleep(0.01)
        market.quotes = quote_table(1)
        hub.on_market(bus.QUOTES_CHANNEL)
        await until(lambda: len(log) >= ws.QUOTES_SLICE)  # the first slice has it
        market.quotes = quote_table(2)
        hub.on_market(bus.QUOTES_CHANNEL)
        await until(lambda: sum(frame == log[-1][2] for _, _, frame in log) == clients)
        await asyncio.sleep(0.01)
    finally:
        handing.cancel()
    first, newer = log[0][2], log[-1][2]
    assert first != newer
    assert b'"quote_id":2' in newer
    given_first = {name for _, name, frame in log if frame == first}
    # The old table stopped where the new one came; every client ends with the new one.
    assert len(given_first) < clients
    assert {name for _, name, frame in log if frame == newer} == set(range(clients))
    assert len(log) == len(given_first) + clients
