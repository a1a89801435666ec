"""The default quote model: touch probabilities of a driftless Brownian path, and loading a model by name."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from taptrade.grid import GridSpec
from taptrade.pricing.model import MarketState, load_model
from taptrade.pricing.touch import TouchModel, bivariate_normal_cdf
from taptrade.pricing.volatility import EwmaVolatility

GRID = GridSpec()
MODEL = TouchModel()
SIGMA = 534.0  # cents per sqrt(s): 50 % a year at $60,000
COLUMN_START_MS = GRID.column_start_ms(344_632_320)  # a column boundary in August 2024
MID_BAND = 6_000_500  # the middle of row 6000, [$60,000, $60,010]
PRICE_ROW = GRID.row_at(MID_BAND)


def table(
    price: int = MID_BAND,
    now_ms: int = COLUMN_START_MS + 1_300,
    sigma: float = SIGMA,
    offsets: range = range(2, 31),
    rows_each_side: int = 20,
) -> npt.NDArray[np.float64]:
    current = GRID.column_at(now_ms)
    row = GRID.row_at(price)
    state = MarketState(price, now_ms, sigma)
    return MODEL.touch_probabilities(
        state, GRID, current + offsets.start, len(offsets), row - rows_each_side, 2 * rows_each_side + 1
    )


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def touch_by_integration(
    price: float, lower: float, upper: float, sigma: float, t1_s: float, tau_s: float
) -> float:
    """E[g(X_t1)] by Simpson's rule on a fine grid, split at the band's edges where g has its kinks:
    independent of the bivariate normal the model uses."""
    spread = sigma * math.sqrt(t1_s)
    reach = sigma * math.sqrt(tau_s)

    def g(x: float) -> float:
        if x < lower:
            return 2.0 * normal_cdf(-(lower - x) / reach)
        if x > upper:
            return 2.0 * normal_cdf(-(x - upper) / reach)
        return 1.0

    total = normal_cdf((upper - price) / spread) - normal_cdf((lower - price) / spread)
    for a, b in ((price - 12 * spread - 12 * reach, lower), (upper, price + 12 * spread + 12 * reach)):
        if b <= a:
            continue
        xs = np.linspace(a, b, 40_001)
        density = np.exp(-(((xs - price) / spread) ** 2) / 2.0) / (spread * math.sqrt(2.0 * math.pi))
        values = np.array([g(x) for x in xs.tolist()]) * density
        weights = np.ones_like(xs)
        weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
        total += float(np.sum(weights * values)) * (xs[1] - xs[0]) / 3.0
    return total


def test_table_has_one_probability_per_cell_in_zero_to_one() -> None:
    probabilities = table()
    assert probabilities.shape == (29, 41)
    assert np.all((probabilities >= 0.0) & (probabilities <= 1.0))


def test_probability_falls_with_distance_from_the_price_on_both_sides() -> None:
    probabilities = table()
    above, below = probabilities[:, 20:], probabilities[:, 20::-1]
    for side in (above, below):
        # Strictly while the probability is still visible, then it may sit at 0.
        visible = side[:, 1:] > 1e-12
        assert np.all(np.diff(side, axis=1)[visible] < 0.0)


def test_probability_is_symmetric_above_and_below_a_price_in_the_middle_of_its_band() -> None:
    probabilities = table(price=MID_BAND)
    np.testing.assert_allclose(probabilities[:, 21:], probabilities[:, 19::-1], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("into_column_ms", [0, 2_500, 4_999])
def test_the_band_holding_the_price_is_certain_in_the_open_column(into_column_ms: int) -> None:
    probabilities = table(now_ms=COLUMN_START_MS + into_column_ms, offsets=range(0, 1))
    assert probabilities[0, 20] == 1.0


def test_open_column_uses_the_reflection_principle_on_the_time_left() -> None:
    probabilities = table(now_ms=COLUMN_START_MS + 2_000, offsets=range(0, 1))
    distance = GRID.row_lower_cents(PRICE_ROW + 1) - MID_BAND  # up to the band above
    expected = 2.0 * normal_cdf(-distance / (SIGMA * math.sqrt(3.0)))
    assert probabilities[0, 21] == pytest.approx(expected, rel=1e-12)


def test_probability_is_continuous_as_a_column_opens() -> None:
    just_before = table(now_ms=COLUMN_START_MS - 1, offsets=range(1, 2))[0]
    at_start = table(now_ms=COLUMN_START_MS, offsets=range(0, 1))[0]
    np.testing.assert_allclose(just_before, at_start, atol=2e-3)


def test_far_cells_become_more_likely_as_volatility_rises() -> None:
    calm, wild = table(sigma=300.0), table(sigma=900.0)
    far = np.abs(np.arange(41) - 20) >= 8
    assert np.all(wild[:, far] > calm[:, far])


@pytest.mark.parametrize(
    ("offset", "row_shift", "price", "now_into_column_ms"),
    [
        (2, 0, MID_BAND, 1_300),  # the price's band, the first placeable column
        (2, 3, MID_BAND, 4_900),
        (7, -5, 6_000_013, 0),
        (30, 0, 6_000_999, 2_000),
        (30, 15, MID_BAND, 700),
        (12, -12, 6_000_250, 3_333),
    ],
)
def test_matches_numerical_integration(
    offset: int, row_shift: int, price: int, now_into_column_ms: int
) -> None:
    now_ms = COLUMN_START_MS + now_into_column_ms
    column = GRID.column_at(now_ms) + offset
    row = GRID.row_at(price) + row_shift
    state = MarketState(price, now_ms, SIGMA)
    model_p = MODEL.touch_probabilities(state, GRID, column, 1, row, 1)[0, 0]
    t1_s = (GRID.column_start_ms(column) - now_ms) / 1000.0
    expected = touch_by_integration(
        price, GRID.row_lower_cents(row), GRID.row_upper_cents(row), SIGMA, t1_s, GRID.column_seconds
    )
    assert model_p == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_a_one_cent_band_at_the_price_follows_the_arcsine_law() -> None:
    # A path crosses a level during [t1, t1 + tau] unless it has no zero there: 1 - (2/pi) asin(sqrt(t1/T)).
    # The band's width adds about width / (sigma sqrt(t1)): a very wide sigma makes that negligible.
    grid = GridSpec(row_cents=1)
    now_ms = COLUMN_START_MS + 1_000
    column = grid.column_at(now_ms) + 4
    state = MarketState(6_000_000, now_ms, 1e6)
    p = MODEL.touch_probabilities(state, grid, column, 1, grid.row_at(6_000_000), 1)[0, 0]
    t1_s = (grid.column_start_ms(column) - now_ms) / 1000.0
    expected = 1.0 - 2.0 / math.pi * math.asin(math.sqrt(t1_s / (t1_s + grid.column_seconds)))
    assert p == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("rho", [-0.999, -0.95, -0.925, -0.9, -0.5, 0.0, 0.3, 0.93, 0.9999])
def test_bivariate_normal_matches_the_exact_quadrant_probability(rho: float) -> None:
    assert bivariate_normal_cdf(0.0, 0.0, rho) == pytest.approx(
        0.25 + math.asin(rho) / (2 * math.pi), abs=1e-14
    )


@pytest.mark.parametrize(
    ("h", "k", "rho"),
    [(1.0, -0.5, -0.95), (-2.0, 3.0, -0.97), (0.3, 0.2, 0.93), (-0.7, 1.5, 0.6), (2.0, -3.0, -0.3)],
)
def test_bivariate_normal_matches_numerical_integration(h: float, k: float, rho: float) -> None:
    xs = np.linspace(-12.0, h, 200_001)
    conditional = [normal_cdf((k - rho * x) / math.sqrt(1.0 - rho * rho)) for x in xs.tolist()]
    values = np.exp(-xs * xs / 2.0) / math.sqrt(2.0 * math.pi) * np.array(conditional)
    expected = float(np.sum((values[1:] + values[:-1]) / 2.0 * np.diff(xs)))
    assert bivariate_normal_cdf(h, k, rho) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("now_into_column_ms", [0, 1, 2_500])
def test_no_nan_at_the_volatility_floor_or_when_a_column_opens(now_into_column_ms: int) -> None:
    floor = EwmaVolatility(MID_BAND).floor_cents_per_sqrt_s()
    for sigma in (floor, 1e-9, 1e-300):
        probabilities = table(sigma=sigma, now_ms=COLUMN_START_MS + now_into_column_ms, offsets=range(0, 31))
        assert np.all(np.isfinite(probabilities))
        assert np.all((probabilities >= 0.0) & (probabilities <= 1.0))


def test_a_path_that_never_moves_touches_only_its_own_band() -> None:
    probabilities = table(sigma=0.0)
    expected = np.zeros((29, 41))
    expected[:, 20] = 1.0
    np.testing.assert_array_equal(probabilities, expected)


def test_a_column_that_has_ended_is_refused() -> None:
    now_ms = COLUMN_START_MS + 1_000
    state = MarketState(MID_BAND, now_ms, SIGMA)
    with pytest.raises(ValueError, match="has ended"):
        MODEL.touch_probabilities(state, GRID, GRID.column_at(now_ms) - 1, 3, PRICE_ROW, 1)


def test_market_state_refuses_a_negative_or_nan_sigma() -> None:
    for sigma in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="sigma"):
            MarketState(MID_BAND, COLUMN_START_MS, sigma)


def test_load_model_makes_the_named_class() -> None:
    assert isinstance(load_model("taptrade.pricing.touch:TouchModel"), TouchModel)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("taptrade.pricing.touch.TouchModel", "module:Class"),
        ("taptrade.pricing.touch:", "module:Class"),
        ("taptrade.pricing.nope:TouchModel", "cannot import"),
        ("taptrade.pricing.touch:NoSuchModel", "no class"),
        ("taptrade.grid:GridSpec", "no touch_probabilities"),
        ("taptrade.pricing.volatility:EwmaVolatility", "no arguments"),
    ],
)
def test_load_model_explains_a_bad_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_model(spec)
