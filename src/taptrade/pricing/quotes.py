"""From touch probabilities to the multipliers a quote table carries (DESIGN §5): `(1 - house_edge) / p`,
rounded down to 1/10,000, raised to the minimum, withheld above the maximum. Integers only leave here."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from taptrade.grid import GridSpec
from taptrade.money import MULTIPLIER_SCALE
from taptrade.pricing.model import MarketState, QuoteModel

# The float quotient 10,000 * (1 - edge) / p is within a few ulps (< 1e-9 here) of the exact one; only where
# it lies that close to an integer can flooring it go wrong, and only there is the floor redone exactly.
_NEAR_INTEGER = 1e-6


def build_multipliers(
    probabilities: npt.ArrayLike, *, house_edge: float = 0.05, min_e4: int = 11_000, max_e4: int = 1_000_000
) -> list[list[int | None]]:
    """`multipliers[c][r]` in 1/10,000 for a (columns, rows) table of probabilities; None = not offered.

    Each is floor(10,000 * (1 - house_edge) / p) exactly, with `house_edge` taken as the decimal it is
    written as (0.05 is 1/20), raised to `min_e4`; withheld when p == 0 or the multiplier exceeds `max_e4`.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be a (columns, rows) table, got shape {p.shape}")
    if not (0.0 <= house_edge < 1.0):
        raise ValueError(f"house_edge must be in [0, 1), got {house_edge}")
    if not (0 < min_e4 <= max_e4):
        raise ValueError(f"need 0 < min_e4 <= max_e4, got {min_e4} and {max_e4}")
    if np.isnan(p).any() or (p < 0.0).any() or (p > 1.0).any():
        raise ValueError("probabilities must be in [0, 1] (no NaN)")

    payout = 1 - Fraction(str(house_edge))  # the player's share of a fair bet
    scaled = float(payout * MULTIPLIER_SCALE)
    # Cells far below 1 / max are withheld without dividing (the quotient could overflow).
    candidate = p * (max_e4 + 2) > scaled
    quotient = scaled / np.where(candidate, p, 1.0)
    floored = np.floor(quotient)
    near_integer = candidate & (np.abs(quotient - np.rint(quotient)) < _NEAR_INTEGER)
    for c, r in np.argwhere(near_integer).tolist():
        numerator, denominator = float(p[c, r]).as_integer_ratio()
        floored[c, r] = math.floor(payout * MULTIPLIER_SCALE * denominator / numerator)
    offered = candidate & (floored <= max_e4)
    fair_e4 = np.where(offered, floored, 0.0).astype(np.int64)
    # A near-certain cell is worth less than the minimum; it is raised to the minimum (DESIGN §5), which pays
    # more than fair: such cells carry less house edge, or none.
    multipliers = np.maximum(fair_e4, min_e4).tolist()
    return [
        [m if ok else None for m, ok in zip(row_m, row_ok, strict=True)]
        for row_m, row_ok in zip(multipliers, offered.tolist(), strict=True)
    ]


def quote_grid(
    model: QuoteModel,
    state: MarketState,
    grid: GridSpec,
    *,
    placeable_min_offset: int,
    max_ahead_columns: int,
    rows_each_side: int,
    house_edge: float = 0.05,
    min_e4: int = 11_000,
    max_e4: int = 1_000_000,
) -> tuple[int, int, list[list[int | None]]]:
    """One quote table: `(first_column, first_row, multipliers)` for the placeable columns
    (current + placeable_min_offset .. current + max_ahead_columns) and the rows within `rows_each_side`
    of the price's row (none below row 0)."""
    if not (0 <= placeable_min_offset <= max_ahead_columns):
        raise ValueError(f"need 0 <= placeable_min_offset <= max_ahead_columns, got {placeable_min_offset}")
    if rows_each_side < 0:
        raise ValueError(f"rows_each_side must not be negative, got {rows_each_side}")
    first_column = grid.column_at(state.now_ms) + placeable_min_offset
    columns = max_ahead_columns - placeable_min_offset + 1
    price_row = grid.row_at(state.price_cents)
    first_row = max(price_row - rows_each_side, 0)
    rows = price_row + rows_each_side + 1 - first_row
    probabilities = model.touch_probabilities(state, grid, first_column, columns, first_row, rows)
    if probabilities.shape != (columns, rows):
        raise ValueError(f"quote model returned shape {probabilities.shape}, expected {(columns, rows)}")
    multipliers = build_multipliers(probabilities, house_edge=house_edge, min_e4=min_e4, max_e4=max_e4)
    return first_column, first_row, multipliers
