"""The recorded real BTC trades, through the replay source and the feed's bar builder, resolve every cell
exactly as an independent computation from the raw trades says they should."""

from __future__ import annotations

import csv
import gzip
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from taptrade.clock import ManualClock
from taptrade.feed.bars import BarBuilder
from taptrade.feed.replay import ReplaySource
from taptrade.grid import GridSpec
from taptrade.ledger.resolution import column_outcome
from taptrade.market import Bar

TRADES = (
    Path(__file__).parent.parent / "data" / "trades" / "binance-spot-btcusdt-trades-20240809T0000Z.csv.gz"
)
GRID = GridSpec()
T0 = 1_763_700_000_000


def raw_trades() -> list[tuple[int, int]]:
    """(time, cents) straight from the CSV, without any project code."""
    with gzip.open(TRADES, "rt") as f:
        rows = list(csv.DictReader(f))
    cents = Decimal(100)
    return [
        (int(r["trade_time_ms"]), int((Decimal(r["price"]) * cents).quantize(1, ROUND_HALF_EVEN)))
        for r in rows
    ]


async def replayed_bars() -> tuple[list[Bar], int]:
    clock = ManualClock(T0)

    async def sleep(seconds: float) -> None:
        clock.advance(max(0, math.ceil(seconds * 1000)))

    source = ReplaySource(TRADES, speed=1000, clock=clock, sleep=sleep)
    builder, bars = BarBuilder(), []
    async for event in source.events():
        bars.extend(builder.on_event(event))
    bars.extend(builder.on_clock(2**62))
    assert source.replay_offset_ms is not None
    return bars, source.replay_offset_ms


async def test_every_replayed_outcome_matches_the_raw_trades() -> None:
    bars, offset = await replayed_bars()
    by_second = {b.second: b for b in bars}
    trades = raw_trades()
    first_column = GRID.column_at(trades[0][0] + offset) + 1  # the first whole column after the start
    last_column = GRID.column_at(trades[-1][0] + offset) - 1
    checked = 0
    for column in range(first_column, last_column + 1):
        outcome = column_outcome(column, GRID, by_second)
        start, end = GRID.column_start_ms(column) - offset, GRID.column_end_ms(column) - offset
        inside = [p for t, p in trades if start <= t < end]
        before = [p for t, p in trades if t < start][-1:]  # the price in effect when the column opened
        assert outcome.status == "resolved", (column, outcome.void_reason)
        low, high = min(inside + before), max(inside + before)
        assert (outcome.low, outcome.high, outcome.ticks) == (low, high, len(inside)), column
        for row in range(low // 1000 - 3, high // 1000 + 4):
            lower, upper = GRID.row_lower_cents(row), GRID.row_upper_cents(row)
            expected = any(lower <= p <= upper for p in inside + before) or (low <= upper and high >= lower)
            assert outcome.wins(lower, upper) is expected, (column, row)
            checked += 1
    assert last_column - first_column + 1 >= 55
    assert checked > 500
