"""The resolution rule (DESIGN §6), as a pure function of recorded 1 s bars, so that resolving a column
from the same bars gives the same answer every time (and `taptrade resolve --verify` can redo it).

A column's range is the low and high of its bars (seconds [start, end)) plus the close of the bar just
before it (the price in effect when it opened); the path counts as continuous, so a bet wins iff
`low <= upper and high >= lower`. The column is void, and every bet in it refunded, when no bar covers
it, when more than `MAX_MISSING_SECONDS` consecutive seconds of it have no bar (the feed was deaf), or
when the feed was critical (breaker open) in any of its seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taptrade.grid import GridSpec, touches
from taptrade.market import Bar

MAX_MISSING_SECONDS = 3


@dataclass(frozen=True, slots=True)
class ColumnOutcome:
    column: int
    status: Literal["resolved", "void"]
    open: int | None
    high: int | None
    low: int | None
    close: int | None
    ticks: int
    first_trade_id: int | None
    last_trade_id: int | None
    void_reason: str | None = None

    def wins(self, lower_cents: int, upper_cents: int) -> bool:
        if self.low is None or self.high is None:
            raise ValueError(f"column {self.column} is void: no bet in it wins or loses")
        return touches(self.low, self.high, lower_cents, upper_cents)


def column_outcome(column: int, grid: GridSpec, bars: Mapping[int, Bar]) -> ColumnOutcome:
    """`bars`: the recorded bars by second, covering at least the column and the second before it."""
    start_s = grid.column_start_ms(column) // 1000
    end_s = grid.column_end_ms(column) // 1000
    inside = [bars[s] for s in range(start_s, end_s) if s in bars]
    before = bars.get(start_s - 1)
    ticks = sum(b.count for b in inside)
    first_ids = [b.first_trade_id for b in inside if b.first_trade_id is not None]
    last_ids = [b.last_trade_id for b in inside if b.last_trade_id is not None]
    trade_ids = (first_ids[0] if first_ids else None, last_ids[-1] if last_ids else None)

    def void(reason: str) -> ColumnOutcome:
        return ColumnOutcome(column, "void", None, None, None, None, ticks, *trade_ids, void_reason=reason)

    if not inside:
        return void("no price data")
    gap = _longest_gap(start_s, end_s, bars)
    if gap > MAX_MISSING_SECONDS:
        return void(f"the feed was deaf for {gap} s")
    if any(b.health == "critical" for b in inside):
        return void("the circuit breaker was open")
    lows = [b.low for b in inside]
    highs = [b.high for b in inside]
    if before is not None:
        lows.append(before.close)
        highs.append(before.close)
    opened = before.close if before is not None else inside[0].open
    return ColumnOutcome(
        column, "resolved", opened, max(highs), min(lows), inside[-1].close, ticks, *trade_ids
    )


def _longest_gap(start_s: int, end_s: int, bars: Mapping[int, Bar]) -> int:
    longest = run = 0
    for second in range(start_s, end_s):
        run = 0 if second in bars else run + 1
        longest = max(longest, run)
    return longest
