"""1 s bars: OHLC and count per heard second, count-0 bars for quiet seconds, no bar for deaf ones."""

from __future__ import annotations

from taptrade.feed.bars import BarBuilder
from taptrade.feed.events import Heartbeat, Tick
from taptrade.market import Bar


def tick(ts_ms: int, price: int, trade_id: int | None = None) -> Tick:
    return Tick(price_cents=price, ts_ms=ts_ms, received_ms=ts_ms, trade_id=trade_id)


def test_a_second_of_trades_becomes_one_bar_when_the_next_second_is_heard() -> None:
    bars = BarBuilder()
    assert bars.on_event(tick(10_000, 500, 1)) == []
    assert bars.on_event(tick(10_400, 520, 2)) == []
    assert bars.on_event(tick(10_999, 490, 3)) == []
    assert bars.on_event(tick(11_000, 505, 4)) == [Bar(10, 500, 520, 490, 490, 3, 1, 3)]


def test_a_heard_second_without_trades_is_a_count_0_bar_at_the_previous_close() -> None:
    bars = BarBuilder()
    bars.on_event(tick(10_100, 500))
    assert bars.on_event(Heartbeat(11_200, 11_200)) == [Bar(10, 500, 500, 500, 500, 1)]
    assert bars.on_event(tick(12_000, 530)) == [Bar(11, 500, 500, 500, 500, 0)]


def test_a_second_nothing_was_heard_in_has_no_bar() -> None:
    bars = BarBuilder()
    bars.on_event(tick(10_100, 500))
    closed = bars.on_event(tick(13_100, 510))  # 11 and 12: deaf
    assert [b.second for b in closed] == [10]
    assert [b.second for b in bars.on_event(tick(14_000, 510))] == [13]


def test_an_event_for_a_closed_second_is_late_and_dropped() -> None:
    bars = BarBuilder()
    bars.on_event(tick(10_100, 500))
    bars.on_event(tick(11_100, 501))
    assert bars.on_event(tick(10_900, 999)) == []
    assert bars.late_events == 1
    assert bars.on_event(tick(12_000, 502)) == [Bar(11, 501, 501, 501, 501, 1)]


def test_the_clock_closes_a_bar_when_nothing_more_arrives() -> None:
    bars = BarBuilder(close_after_ms=1000)
    bars.on_event(tick(10_100, 500))
    assert bars.on_clock(11_999) == []
    assert bars.on_clock(12_000) == [Bar(10, 500, 500, 500, 500, 1)]
    assert bars.on_event(tick(10_500, 1)) == []  # too late now
    assert bars.late_events == 1
