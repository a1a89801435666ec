"""Pricing backtest on recorded trades: would the quotes have returned 95 % on real BTC?

    .venv/bin/python bench/pricing_backtest.py        # tests/data/trades/..., 60 s warm-up

Builds 1 s bars from the trades (a second without trades repeats the previous close), then walks through
time: after each bar closes, feeds it to the EWMA volatility and (after the warm-up) quotes the grid at
that instant with the quote model, exactly as the feed would, and takes a notional $1 bet on every offered
cell. Each bet resolves by DESIGN §6 on the recorded bars: the column's low/high over its bars plus the
close of the bar before it opened. Bets on columns that end after the recording are dropped.

Prints the realised return to player overall, by distance from the price in rows and by columns ahead,
with bet counts, wins against the wins the model expected, and a bootstrap interval over columns (every
bet on one column shares one price path, so columns, not bets, are the independent draws).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taptrade.feed.bars import BarBuilder
from taptrade.feed.events import Heartbeat, Tick
from taptrade.feed.replay import RecordedTrade, read_trades, with_heartbeats
from taptrade.grid import GridSpec, touches
from taptrade.market import Bar
from taptrade.money import MULTIPLIER_SCALE
from taptrade.pricing.model import MarketState, load_model
from taptrade.pricing.quotes import quote_grid
from taptrade.pricing.volatility import EwmaVolatility

TRADES = (
    Path(__file__).resolve().parents[1]
    / "tests/data/trades/binance-spot-btcusdt-trades-20240809T0000Z.csv.gz"
)
DISTANCE_GROUPS = ((0, 0, "0"), (1, 1, "1"), (2, 2, "2"), (3, 5, "3-5"), (6, 10, "6-10"), (11, 10**9, ">10"))
AHEAD_GROUPS = (
    (2, 2, "2"),
    (3, 3, "3"),
    (4, 5, "4-5"),
    (6, 10, "6-10"),
    (11, 20, "11-20"),
    (21, 30, "21-30"),
)
BOOTSTRAP_DRAWS = 2000


@dataclass
class Tally:
    bets: int = 0
    wins: int = 0
    expected_wins: float = 0.0
    paid: float = 0.0
    columns: set[int] = field(default_factory=set)

    def add(self, column: int, multiplier_e4: int, p: float, won: bool) -> None:
        self.bets += 1
        self.expected_wins += p
        self.columns.add(column)
        if won:
            self.wins += 1
            self.paid += multiplier_e4 / MULTIPLIER_SCALE

    @property
    def rtp(self) -> float:
        return self.paid / self.bets if self.bets else math.nan


def build_bars(trades: list[RecordedTrade]) -> list[Bar]:
    """The bars the live feed would make of this recording: its heartbeats and its bar builder."""
    builder, bars = BarBuilder(), []
    for item in with_heartbeats(trades):
        if isinstance(item, int):
            bars.extend(builder.on_event(Heartbeat(item, item)))
        else:
            bars.extend(builder.on_event(Tick(item.price_cents, item.ts_ms, item.ts_ms, item.trade_id)))
    bars.extend(builder.on_clock(2**62))
    return bars


def column_range(grid: GridSpec, bars_by_second: dict[int, Bar], column: int) -> tuple[int, int] | None:
    """DESIGN §6: (low, high) over the column's bars plus the close before it opened; None if not recorded."""
    first_second = grid.column_start_ms(column) // 1000
    end_second = grid.column_end_ms(column) // 1000
    seconds = range(first_second - 1, end_second)
    if any(s not in bars_by_second for s in seconds):
        return None
    before = bars_by_second[first_second - 1].close
    inside = [bars_by_second[s] for s in seconds[1:]]
    return min([before, *(b.low for b in inside)]), max([before, *(b.high for b in inside)])


def group_of(value: int, groups: tuple[tuple[int, int, str], ...]) -> str:
    return next(name for low, high, name in groups if low <= value <= high)


def bootstrap_rtp(
    per_column: dict[int, tuple[int, float]], rng: np.random.Generator
) -> tuple[float, float] | None:
    """90 % interval of the overall RTP, resampling whole columns."""
    if len(per_column) < 2:
        return None
    bets = np.array([b for b, _ in per_column.values()], dtype=np.float64)
    paid = np.array([p for _, p in per_column.values()], dtype=np.float64)
    draws = rng.integers(0, len(bets), size=(BOOTSTRAP_DRAWS, len(bets)))
    rtps = paid[draws].sum(axis=1) / bets[draws].sum(axis=1)
    return float(np.quantile(rtps, 0.05)), float(np.quantile(rtps, 0.95))


def print_path_diagnostics(grid: GridSpec, bars: list[Bar], bars_by_second: dict[int, Bar]) -> None:
    """How the recorded path compares with the model's Brownian motion at its own 1 s volatility: the
    variance per second at longer lags, and how far each column's range reached from its opening price."""
    closes = np.array([b.close for b in bars], dtype=np.float64)
    sigma_1s = math.sqrt(float(np.mean(np.diff(closes) ** 2)))
    lags = " ".join(
        f"{lag}s={math.sqrt(float(np.mean((closes[lag:] - closes[:-lag]) ** 2)) / lag):.0f}"
        for lag in (1, 5, 30)
        if lag < len(closes)
    )
    print(f"recorded rms change / sqrt(lag), cents/sqrt(s): {lags}")
    excursions = []
    for column in range(grid.column_at(bars[0].second * 1000) + 1, grid.column_at(bars[-1].second * 1000)):
        span = column_range(grid, bars_by_second, column)
        if span is not None:
            opening = bars_by_second[grid.column_start_ms(column) // 1000 - 1].close
            excursions += [span[1] - opening, opening - span[0]]
    if excursions:
        expected = sigma_1s * math.sqrt(2 * grid.column_seconds / math.pi)  # E[max of BM over a column]
        print(
            f"column reach from its opening price: mean={statistics.mean(excursions):.0f} cents; "
            f"Brownian motion at the 1 s sigma ({sigma_1s:.0f}) expects {expected:.0f}"
        )


def print_table(title: str, tallies: dict[str, Tally], order: list[str]) -> None:
    print(f"\n{title:>12} {'bets':>8} {'columns':>8} {'wins':>7} {'expected':>9} {'RTP':>8}")
    for name in order:
        t = tallies.get(name)
        if t is None:
            continue
        print(f"{name:>12} {t.bets:>8} {len(t.columns):>8} {t.wins:>7} {t.expected_wins:>9.1f} {t.rtp:>8.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--trades", type=Path, default=TRADES)
    parser.add_argument("--warmup-s", type=int, default=60)
    parser.add_argument("--half-life-s", type=float, default=60.0)
    parser.add_argument("--house-edge", type=float, default=0.05)
    parser.add_argument("--model", default="taptrade.pricing.touch:TouchModel")
    parser.add_argument("--sigma", type=float, default=None, help="fixed cents/sqrt(s) instead of the EWMA")
    parser.add_argument("--seed", type=int, default=1, help="for the bootstrap")
    args = parser.parse_args()

    grid = GridSpec()
    model = load_model(args.model)
    trades = read_trades(args.trades)
    bars = build_bars(trades)
    bars_by_second = {b.second: b for b in bars}
    volatility = EwmaVolatility(bars[0].close, half_life_s=args.half_life_s)

    overall = Tally()
    by_distance: dict[str, Tally] = defaultdict(Tally)
    by_ahead: dict[str, Tally] = defaultdict(Tally)
    per_column: dict[int, tuple[int, float]] = {}
    unresolved = 0
    quote_ms: list[float] = []
    sigmas: list[float] = []
    for n, bar in enumerate(bars):
        volatility.update(bar.close)
        if n + 1 < args.warmup_s:
            continue
        now_ms = (bar.second + 1) * 1000  # the bar has just closed
        sigma = volatility.sigma_cents_per_sqrt_s() if args.sigma is None else args.sigma
        sigmas.append(sigma)
        state = MarketState(bar.close, now_ms, sigma)
        started = time.perf_counter()
        first_column, first_row, table = quote_grid(
            model,
            state,
            grid,
            placeable_min_offset=grid.placeable_min_offset,
            max_ahead_columns=grid.max_ahead_columns,
            rows_each_side=20,
            house_edge=args.house_edge,
        )
        quote_ms.append((time.perf_counter() - started) * 1000)
        # The model's own probabilities, to compare the wins it expected with the wins that happened.
        probabilities = model.touch_probabilities(
            state, grid, first_column, len(table), first_row, len(table[0])
        )
        current = grid.column_at(now_ms)
        price_row = grid.row_at(bar.close)
        for c, column_multipliers in enumerate(table):
            column = first_column + c
            span = column_range(grid, bars_by_second, column)
            for r, multiplier_e4 in enumerate(column_multipliers):
                if multiplier_e4 is None:
                    continue
                if span is None:
                    unresolved += 1
                    continue
                row = first_row + r
                won = touches(span[0], span[1], grid.row_lower_cents(row), grid.row_upper_cents(row))
                p = float(probabilities[c, r])
                overall.add(column, multiplier_e4, p, won)
                by_distance[group_of(abs(row - price_row), DISTANCE_GROUPS)].add(
                    column, multiplier_e4, p, won
                )
                by_ahead[group_of(column - current, AHEAD_GROUPS)].add(column, multiplier_e4, p, won)
                bets, paid = per_column.get(column, (0, 0.0))
                per_column[column] = (bets + 1, paid + (multiplier_e4 / MULTIPLIER_SCALE if won else 0.0))

    span_s = (trades[-1].ts_ms - trades[0].ts_ms) / 1000
    empty = sum(b.count == 0 for b in bars)
    print(f"trades={len(trades)} span={span_s:.0f}s bars={len(bars)} empty_bars={empty}")
    print(f"quotes={len(quote_ms)} (one a second after a {args.warmup_s} s warm-up) model={args.model}")
    print(
        f"sigma (EWMA, half-life {args.half_life_s:.0f} s) cents/sqrt(s): min={min(sigmas):.0f} "
        f"median={statistics.median(sigmas):.0f} max={max(sigmas):.0f}"
    )
    print(
        f"quote table (29 x 41 cells, with multipliers): median={statistics.median(quote_ms):.2f} ms "
        f"max={max(quote_ms):.2f} ms"
    )
    print_path_diagnostics(grid, bars, bars_by_second)
    print(f"bets resolved={overall.bets} on {len(overall.columns)} columns; past the recording={unresolved}")
    print_table("rows away", by_distance, [name for _, _, name in DISTANCE_GROUPS])
    print_table("cols ahead", by_ahead, [name for _, _, name in AHEAD_GROUPS])
    print_table("all", {"all": overall}, ["all"])
    interval = bootstrap_rtp(per_column, np.random.default_rng(args.seed))
    if interval is not None:
        print(
            f"\nrtp={overall.rtp:.4f}  90% interval (bootstrap over columns, seed {args.seed}): "
            f"{interval[0]:.2%} - {interval[1]:.2%}"
        )


if __name__ == "__main__":
    main()
