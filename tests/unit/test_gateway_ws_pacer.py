"""The hub's price pacer: a tick after a quiet spell goes out at once, and ticks closer together than the
interval are coalesced to the newest, one per interval. (The interval is stretched here so the test can
tell "at once" from "at the next interval" with a wide margin.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from taptrade import bus
from taptrade.gateway import ws
from taptrade.gateway.ws import Hub
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
        self.prices: list[str] = []

    def offer_price(self, text: str) -> None:
        self.prices.append(text)


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
        assert client.prices == ['{"type":"price","price":100,"ts_ms":100}']

        market.tick(101)
        market.tick(102)
        await asyncio.sleep(0.2)
        assert len(client.prices) == 1  # the interval since the last send has not passed

        await asyncio.sleep(INTERVAL_S)
        assert client.prices[1:] == ['{"type":"price","price":102,"ts_ms":102}']  # the newest only
    finally:
        pacer.cancel()
