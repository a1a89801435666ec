"""Probabilities to multipliers: the house edge, the floor to 1/10,000, the 1.10x minimum, the 100x maximum;
and one full quote table."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taptrade.grid import GridSpec
from taptrade.pricing.model import MarketState
from taptrade.pricing.quotes import build_multipliers, quote_grid
from taptrade.pricing.touch import TouchModel

GRID = GridSpec()
NOW_MS = 1_723_161_602_300


def one(p: float, house_edge: float = 0.05) -> int | None:
    return build_multipliers([[p]], house_edge=house_edge)[0][0]


@pytest.mark.parametrize(
    ("p", "e4"),
    [
        (0.5, 19_000),  # exactly 1.9
        (0.25, 38_000),
        (0.3, 31_666),  # 3.16666... floors
        (0.7, 13_571),  # 1.357142... floors
        (0.1, 94_999),  # the float 0.1 is a hair above 1/10, so 9.5 / 0.1 is a hair below 95,000
    ],
)
def test_multiplier_is_the_fair_value_rounded_down_to_1e4(p: float, e4: int) -> None:
    assert one(p) == e4


def test_house_edge_sets_the_share_paid_back() -> None:
    assert one(0.5, house_edge=0.0) == 20_000
    assert one(0.5, house_edge=0.1) == 18_000


@pytest.mark.parametrize("p", [1.0, 0.9, 0.95 / 1.1])
def test_a_multiplier_below_the_minimum_is_raised_to_1_10x(p: float) -> None:
    assert one(p) == 11_000


def test_the_maximum_itself_is_offered() -> None:
    assert one(0.0095) == 1_000_000  # 0.95 / 0.0095 = 100x


@pytest.mark.parametrize("p", [0.0094, 1e-9, 5e-324, 0.0])
def test_above_100x_or_impossible_is_not_offered(p: float) -> None:
    assert one(p) is None


def test_output_is_plain_python_ints_and_none() -> None:
    multipliers = build_multipliers(np.array([[0.5, 0.0], [0.125, 1.0]]))
    assert multipliers == [[19_000, None], [76_000, 11_000]]
    assert all(type(m) is int for column in multipliers for m in column if m is not None)


@pytest.mark.parametrize("bad", [[[-0.1]], [[1.1]], [[float("nan")]], [0.5]])
def test_probabilities_outside_zero_to_one_or_not_a_table_are_refused(bad: list[list[float]]) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        build_multipliers(bad)


@given(
    p=st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    house_edge=st.sampled_from([0.0, 0.01, 0.025, 0.05, 0.1, 0.2]),
)
def test_a_multiplier_never_pays_more_than_the_edge_allows_and_is_the_largest_that_does(
    p: float, house_edge: float
) -> None:
    e4 = one(p, house_edge=house_edge)
    if e4 is None or e4 == 11_000:  # not offered, or raised to the minimum
        return
    share = 1 - Fraction(str(house_edge))
    assert Fraction(e4, 10_000) * Fraction(p) <= share
    assert Fraction(e4 + 1, 10_000) * Fraction(p) > share


class FixedModel:
    """Returns a given table and records what it was asked for."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.asked: tuple[int, int, int, int] | None = None

    def touch_probabilities(
        self, state: MarketState, grid: GridSpec, first_column: int, columns: int, first_row: int, rows: int
    ) -> npt.NDArray[np.float64]:
        self.asked = (first_column, columns, first_row, rows)
        return np.full((columns, rows), self.value)


def test_quote_grid_covers_the_placeable_columns_and_rows_around_the_price() -> None:
    model = FixedModel(0.5)
    state = MarketState(6_000_437, NOW_MS, 534.0)
    first_column, first_row, multipliers = quote_grid(
        model, state, GRID, placeable_min_offset=2, max_ahead_columns=30, rows_each_side=20
    )
    assert (first_column, first_row) == (GRID.column_at(NOW_MS) + 2, 6000 - 20)
    assert model.asked == (first_column, 29, first_row, 41)
    assert multipliers == [[19_000] * 41] * 29


def test_quote_grid_passes_edge_and_limits_through() -> None:
    state = MarketState(6_000_437, NOW_MS, 534.0)
    _, _, multipliers = quote_grid(
        FixedModel(0.5),
        state,
        GRID,
        placeable_min_offset=2,
        max_ahead_columns=2,
        rows_each_side=0,
        house_edge=0.1,
        min_e4=20_000,
    )
    assert multipliers == [[20_000]]


def test_quote_grid_stops_at_row_zero() -> None:
    model = FixedModel(0.5)
    _, first_row, multipliers = quote_grid(
        model,
        MarketState(2_500, NOW_MS, 1.0),
        GRID,
        placeable_min_offset=2,
        max_ahead_columns=3,
        rows_each_side=5,
    )
    assert first_row == 0
    assert model.asked is not None
    assert model.asked[2:] == (0, 8)  # rows 0..7: the price's row 2, and 5 above
    assert len(multipliers[0]) == 8


def test_quote_grid_refuses_a_table_of_the_wrong_shape() -> None:
    class Wrong(FixedModel):
        def touch_probabilities(
            self,
            state: MarketState,
            grid: GridSpec,
            first_column: int,
            columns: int,
            first_row: int,
            rows: int,
        ) -> npt.NDArray[np.float64]:
            return np.full((columns, rows + 1), 0.5)

    with pytest.raises(ValueError, match="shape"):
        quote_grid(
            Wrong(0.5),
            MarketState(6_000_437, NOW_MS, 534.0),
            GRID,
            placeable_min_offset=2,
            max_ahead_columns=30,
            rows_each_side=20,
        )


def test_quote_grid_with_the_default_model_offers_the_price_band_and_withholds_far_cells() -> None:
    _, _, multipliers = quote_grid(
        TouchModel(),
        MarketState(6_000_437, NOW_MS, 534.0),
        GRID,
        placeable_min_offset=2,
        max_ahead_columns=30,
        rows_each_side=20,
    )
    near, far = multipliers[0][20], multipliers[0][0]
    assert near is not None
    assert 11_000 <= near < 20_000
    assert far is None
