"""The resolution rule (DESIGN §6) at its edges, on hand-made bars."""

from __future__ import annotations

import pytest

from taptrade.grid import GridSpec
from taptrade.ledger.resolution import column_outcome
from taptrade.market import Bar

GRID = GridSpec()
COLUMN = 1000  # seconds 5000..5004; the bar before is second 4999
LOWER, UPPER = 97_120_00, 97_130_00  # the band [lower, upper] of row 9712


def bar(
    second: int, low: int, high: int, close: int | None = None, count: int = 3, health: str = "healthy"
) -> Bar:
    return Bar(second, low, high, low, high if close is None else close, count, health=health)  # type: ignore[arg-type]


def flat(second: int, price: int, count: int = 0) -> Bar:
    return Bar(second, price, price, price, price, count)


BELOW, ABOVE, INSIDE = LOWER - 500, UPPER + 500, LOWER + 500


def column_of(bars: list[Bar]) -> dict[int, Bar]:
    return {b.second: b for b in bars}


@pytest.mark.parametrize(
    ("name", "bars", "won"),
    [
        (
            "touches the lower bound exactly",
            [flat(4999, BELOW), bar(5000, BELOW, LOWER, BELOW)] + [flat(s, BELOW) for s in range(5001, 5005)],
            True,
        ),
        (
            "touches the upper bound exactly",
            [flat(4999, ABOVE)]
            + [bar(5000, UPPER, ABOVE, ABOVE)]
            + [flat(s, ABOVE) for s in range(5001, 5005)],
            True,
        ),
        (
            "one cent short of the lower bound",
            [flat(4999, BELOW)]
            + [bar(5000, BELOW, LOWER - 1, BELOW)]
            + [flat(s, BELOW) for s in range(5001, 5005)],
            False,
        ),
        (
            "jumps across the band within a second",
            [flat(4999, BELOW)]
            + [bar(5000, BELOW, ABOVE, ABOVE)]
            + [flat(s, ABOVE) for s in range(5001, 5005)],
            True,
        ),
        (
            "only the price in effect at the start is inside",
            [flat(4999, INSIDE)] + [flat(s, ABOVE, 2) for s in range(5000, 5005)],
            True,
        ),
        (
            "a quiet market resolves on the last price",
            [flat(4999, INSIDE)] + [flat(s, INSIDE) for s in range(5000, 5005)],
            True,
        ),
        (
            "a quiet market away from the band loses",
            [flat(4999, BELOW)] + [flat(s, BELOW) for s in range(5000, 5005)],
            False,
        ),
        (
            "three missing seconds are tolerated",
            [flat(4999, BELOW), flat(5000, BELOW), flat(5004, INSIDE, 1)],
            True,
        ),
    ],
)
def test_resolution_edges(name: str, bars: list[Bar], won: bool) -> None:
    outcome = column_outcome(COLUMN, GRID, column_of(bars))
    assert outcome.status == "resolved", name
    assert outcome.wins(LOWER, UPPER) is won, name


def test_the_record_shows_open_high_low_close_ticks_and_trade_ids() -> None:
    bars = [flat(4999, 100)] + [
        Bar(s, 100 + s - 5000, 120, 90, 110, 2, s * 10, s * 10 + 1) for s in range(5000, 5005)
    ]
    o = column_outcome(COLUMN, GRID, column_of(bars))
    assert (o.open, o.high, o.low, o.close, o.ticks) == (100, 120, 90, 110, 10)
    assert (o.first_trade_id, o.last_trade_id) == (50000, 50041)


@pytest.mark.parametrize(
    ("bars", "reason"),
    [
        ([], "no price data"),
        ([flat(4999, INSIDE), flat(5004, INSIDE, 1)], "deaf for 4 s"),
        (
            [flat(4999, INSIDE)]
            + [
                bar(s, BELOW, ABOVE, health="critical" if s == 5002 else "healthy") for s in range(5000, 5005)
            ],
            "breaker was open",
        ),
    ],
)
def test_void_columns(bars: list[Bar], reason: str) -> None:
    outcome = column_outcome(COLUMN, GRID, column_of(bars))
    assert outcome.status == "void"
    assert outcome.void_reason is not None
    assert reason in outcome.void_reason
    with pytest.raises(ValueError, match="void"):
        outcome.wins(LOWER, UPPER)


def test_same_bars_same_answer() -> None:
    bars = column_of([flat(4999, BELOW)] + [bar(s, BELOW + s, ABOVE - s) for s in range(5000, 5005)])
    assert column_outcome(COLUMN, GRID, bars) == column_outcome(
        COLUMN, GRID, dict(reversed(list(bars.items())))
    )
