"""1 s bars in exchange time (DESIGN §5): open/high/low/close/count of every second the feed heard.

A second in which the exchange spoke (a heartbeat or book update) but nothing traded closes with count 0
and the previous close; a second in which nothing at all was heard gets no bar, so a gap in the bars means
the feed was deaf, never that the market was quiet. A bar closes when an event of a later second arrives,
or when the clock is `close_after_ms` past the second's end. Events for an already closed second are too
late to change it: they are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from taptrade.feed.events import SourceEvent, Tick
from taptrade.market import Bar


@dataclass(slots=True)
class _Open:
    second: int
    open: int | None = None
    high: int = 0
    low: int = 0
    close: int = 0
    count: int = 0
    first_trade_id: int | None = None
    last_trade_id: int | None = None

    def add(self, tick: Tick) -> None:
        price = tick.price_cents
        if self.open is None:
            self.open = self.high = self.low = price
            self.first_trade_id = tick.trade_id
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.count += 1
        if tick.trade_id is not None:
            self.last_trade_id = tick.trade_id


class BarBuilder:
    def __init__(self, close_after_ms: int = 1000) -> None:
        self._close_after_ms = close_after_ms
        self._open: _Open | None = None
        self._last_closed_second: int | None = None
        self._last_close: int | None = None
        self.late_events = 0

    def on_event(self, event: SourceEvent) -> list[Bar]:
        """Take one event; returns the bar it closed, if any."""
        second = event.ts_ms // 1000
        if self._is_late(second):
            self.late_events += 1
            return []
        closed = self._close() if self._open is not None and second > self._open.second else []
        if self._open is None:
            self._open = _Open(second)
        if isinstance(event, Tick):
            self._open.add(event)
        return closed

    def _is_late(self, second: int) -> bool:
        if self._open is not None:
            return second < self._open.second
        return self._last_closed_second is not None and second <= self._last_closed_second

    def on_clock(self, exchange_now_ms: int) -> list[Bar]:
        """Close the open bar once its second is over by `close_after_ms` of exchange time."""
        if (
            self._open is not None
            and exchange_now_ms >= (self._open.second + 1) * 1000 + self._close_after_ms
        ):
            return self._close()
        return []

    def _close(self) -> list[Bar]:
        bar, self._open = self._open, None
        assert bar is not None
        self._last_closed_second = bar.second
        if bar.open is None:
            if self._last_close is None:
                return []  # heard, but there is no price yet to carry
            price = self._last_close
            return [Bar(bar.second, price, price, price, price, 0)]
        self._last_close = bar.close
        return [
            Bar(
                bar.second,
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.count,
                bar.first_trade_id,
                bar.last_trade_id,
            )
        ]
