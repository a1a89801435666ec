"""The product's check on the default quote model: on price paths drawn from the model itself (a driftless
Brownian motion at a realistic BTC volatility), a player who takes every offered cell gets back 95 % of
what they stake, give or take 1.5 points, when bets resolve by the DESIGN §6 rule.

Paths are sampled exactly, not approximated: the price at each whole second is a Gaussian step, and each
second's high and low are drawn from the Brownian bridge between its two endpoints,
    high = (a + b + sqrt((b - a)^2 - 2 sigma^2 dt ln U)) / 2,  low likewise with the minus sign,
which is the exact law of the maximum (minimum) of the continuous path over that second. A plain grid of
points would miss touches between them and bias the return low. High and low within one second are
drawn independently: each bet depends on only one of them (a band above the column's opening price can
only be reached by the high, one below only by the low, and the band holding it has already won), so
every bet's chance of winning is exact; only the correlation between bets is approximated.

Replay a run with `TAPTRADE_MC_SEED=<seed> pytest tests/integration/test_pricing_montecarlo.py -s`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from taptrade.grid import GridSpec
from taptrade.pricing.model import MarketState
from taptrade.pricing.quotes import quote_grid
from taptrade.pricing.touch import TouchModel
from taptrade.pricing.volatility import annualised_to_cents_per_sqrt_s

GRID = GridSpec()
PRICE_CENTS = 6_000_000  # $60,000
SIGMA = annualised_to_cents_per_sqrt_s(0.5, PRICE_CENTS)  # 50 % a year: about $5.34 per sqrt(s)
MIN_OFFSET, MAX_AHEAD, ROWS_EACH_SIDE = 2, 30, 20
SCENARIOS = 1000  # quote tables: each a different price within its band and time within its column
PATHS_PER_SCENARIO = 100
STEP_S = 1.0
TARGET_RTP, TOLERANCE = 0.95, 0.015


BUCKETS = ((20_000, "< 2x"), (50_000, "2-5x"), (200_000, "5-20x"), (1_000_001, ">= 20x"))


@dataclass(frozen=True)
class Outcome:
    """Per path and multiplier bucket: stakes ($1 a bet) and payouts, shape (paths, buckets)."""

    stakes: npt.NDArray[np.float64]
    payouts: npt.NDArray[np.float64]

    @property
    def bets(self) -> int:
        return int(self.stakes.sum())

    def rtp(self, bucket: int | None = None) -> float:
        stakes, payouts = self._columns(bucket)
        return float(payouts.sum() / stakes.sum())

    def standard_error(self, bucket: int | None = None) -> float:
        """Of the ratio, over independent paths (the bets on one path are not independent)."""
        stakes, payouts = self._columns(bucket)
        residual = payouts - self.rtp(bucket) * stakes
        return float(math.sqrt(residual.var(ddof=1) * len(residual)) / stakes.sum())

    def _columns(self, bucket: int | None) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        if bucket is None:
            return self.stakes.sum(axis=1), self.payouts.sum(axis=1)
        return self.stakes[:, bucket], self.payouts[:, bucket]


def _column_ranges(
    rng: np.random.Generator, price: float, t1_s: float, paths: int, columns: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(low, high) of each path over each column, shape (paths, columns), opening price included."""
    steps_per_column = round(GRID.column_seconds / STEP_S)
    opening = price + SIGMA * math.sqrt(t1_s) * rng.standard_normal(paths)  # at the first column's start
    increments = SIGMA * math.sqrt(STEP_S) * rng.standard_normal((paths, columns * steps_per_column))
    points = opening[:, None] + np.concatenate([np.zeros((paths, 1)), np.cumsum(increments, axis=1)], axis=1)
    a, b = points[:, :-1], points[:, 1:]
    spread_high = np.sqrt((b - a) ** 2 - 2.0 * SIGMA**2 * STEP_S * np.log1p(-rng.random(a.shape)))
    spread_low = np.sqrt((b - a) ** 2 - 2.0 * SIGMA**2 * STEP_S * np.log1p(-rng.random(a.shape)))
    high = ((a + b + spread_high) / 2.0).reshape(paths, columns, steps_per_column).max(axis=2)
    low = ((a + b - spread_low) / 2.0).reshape(paths, columns, steps_per_column).min(axis=2)
    # Each column also counts the price in effect when it opened (the close before its start).
    starts = points[:, ::steps_per_column][:, :columns]
    return np.minimum(low, starts), np.maximum(high, starts)


def simulate(seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    model = TouchModel()
    stakes, payouts = [], []
    bucket_uppers = np.array([upper for upper, _ in BUCKETS])
    base_ms = GRID.column_start_ms(GRID.column_at(1_723_161_600_000))
    for _ in range(SCENARIOS):
        price = PRICE_CENTS + int(rng.integers(0, GRID.row_cents))
        now_ms = base_ms + int(rng.integers(0, GRID.column_ms))
        first_column, first_row, table = quote_grid(
            model,
            MarketState(price, now_ms, SIGMA),
            GRID,
            placeable_min_offset=MIN_OFFSET,
            max_ahead_columns=MAX_AHEAD,
            rows_each_side=ROWS_EACH_SIDE,
        )
        t1_s = (GRID.column_start_ms(first_column) - now_ms) / 1000.0
        low, high = _column_ranges(rng, float(price), t1_s, PATHS_PER_SCENARIO, len(table))
        multipliers = np.array([[m or 0 for m in column] for column in table], dtype=np.float64)
        rows = range(first_row, first_row + multipliers.shape[1])
        lower = np.array([GRID.row_lower_cents(r) for r in rows], dtype=np.float64)
        upper = np.array([GRID.row_upper_cents(r) for r in rows], dtype=np.float64)
        # DESIGN §6: a bet wins iff low <= upper and high >= lower.
        wins = (low[:, :, None] <= upper) & (high[:, :, None] >= lower)
        paid = np.where(wins, multipliers / 10_000, 0.0)
        bucket = np.searchsorted(bucket_uppers, multipliers, side="right")
        for b in range(len(BUCKETS)):
            cells = (multipliers > 0) & (bucket == b)
            stakes.append(np.full(PATHS_PER_SCENARIO, float(cells.sum())))
            payouts.append(paid[:, cells].sum(axis=1))
    shape = (SCENARIOS, len(BUCKETS), PATHS_PER_SCENARIO)
    return Outcome(
        np.array(stakes).reshape(shape).transpose(0, 2, 1).reshape(-1, len(BUCKETS)),
        np.array(payouts).reshape(shape).transpose(0, 2, 1).reshape(-1, len(BUCKETS)),
    )


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    seed = int(os.environ.get("TAPTRADE_MC_SEED", "20240809"))
    started = time.perf_counter()
    result = simulate(seed)
    elapsed = time.perf_counter() - started
    print(
        f"\nMonte Carlo seed={seed} sigma={SIGMA:.1f}c/sqrt(s) paths={len(result.stakes)} bets={result.bets} "
        f"rtp={result.rtp():.4f} se={result.standard_error():.4f} ({elapsed:.1f} s)"
    )
    for b, (_, name) in enumerate(BUCKETS):
        print(
            f"  multiplier {name:>6}: bets={int(result.stakes[:, b].sum()):>9} "
            f"rtp={result.rtp(b):.4f} se={result.standard_error(b):.4f}"
        )
    return result


@pytest.mark.slow
def test_return_to_player_is_95_percent_within_one_and_a_half_points(outcome: Outcome) -> None:
    assert outcome.bets >= 200_000
    # The check can only tell 1.5 points apart if the estimate is much tighter than that.
    assert outcome.standard_error() < TOLERANCE / 5
    assert abs(outcome.rtp() - TARGET_RTP) <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("bucket", range(len(BUCKETS)), ids=[name for _, name in BUCKETS])
def test_every_multiplier_range_returns_95_percent(outcome: Outcome, bucket: int) -> None:
    # Errors that cancel overall (tails too fat, centre too thin) show up here; the allowance is four
    # standard errors of the bucket's own estimate, at most 3 points.
    allowance = 4 * outcome.standard_error(bucket)
    assert allowance <= 0.03
    assert abs(outcome.rtp(bucket) - TARGET_RTP) <= allowance
