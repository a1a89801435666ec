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
from taptrade.market import PriceTick

INTERVAL_S = 1.0


class Market:
    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.price: PriceTick | None = None

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
