"""The EWMA volatility: squared 1 s changes, half-life, prior, floor."""

from __future__ import annotations

import math

import pytest

from taptrade.pricing.volatility import SECONDS_PER_YEAR, EwmaVolatility

PRICE = 6_000_000  # $60,000


def test_prior_is_fifty_percent_a_year_at_the_given_price() -> None:
    assert EwmaVolatility(PRICE).sigma_cents_per_sqrt_s() == pytest.approx(
        PRICE * 0.5 / math.sqrt(SECONDS_PER_YEAR)
    )
    assert EwmaVolatility(PRICE).sigma_cents_per_sqrt_s() == pytest.approx(534.22, abs=0.01)


def test_the_first_bar_only_sets_the_reference() -> None:
    volatility = EwmaVolatility(PRICE)
    volatility.update(PRICE + 50_000)  # far from the constructor's price: not a 1 s change
    assert volatility.sigma_cents_per_sqrt_s() == pytest.approx(
        EwmaVolatility(PRICE).sigma_cents_per_sqrt_s()
    )


def test_ewma_of_squared_changes_on_a_known_sequence() -> None:
    # Half-life 1 s: each bar keeps half the old variance and adds half its squared change.
    volatility = EwmaVolatility(PRICE, half_life_s=1.0, prior_annualised=0.0, floor_annualised=0.0)
    for close in (PRICE, PRICE + 10, PRICE + 10, PRICE - 10):
        volatility.update(close)
    # 0 -> (0 + 100) / 2 = 50 -> (50 + 0) / 2 = 25 -> (25 + 400) / 2 = 212.5
    assert volatility.sigma_cents_per_sqrt_s() == pytest.approx(math.sqrt(212.5))


def test_variance_halves_after_one_half_life_of_quiet_bars() -> None:
    volatility = EwmaVolatility(PRICE, half_life_s=60.0, floor_annualised=0.0)
    prior = volatility.sigma_cents_per_sqrt_s()
    volatility.update(PRICE)
    for _ in range(60):
        volatility.update(PRICE)  # bars with no trades repeat the close: a change of 0
    assert volatility.sigma_cents_per_sqrt_s() == pytest.approx(prior / math.sqrt(2.0))


def test_a_steady_move_converges_to_its_size() -> None:
    volatility = EwmaVolatility(PRICE, half_life_s=5.0)
    close = PRICE
    for n in range(400):
        close += 700 if n % 2 else -700
        volatility.update(close)
    assert volatility.sigma_cents_per_sqrt_s() == pytest.approx(700.0, rel=1e-6)


def test_a_quiet_market_stops_at_the_floor() -> None:
    volatility = EwmaVolatility(PRICE)
    for _ in range(3_600):
        volatility.update(PRICE)
    assert volatility.sigma_cents_per_sqrt_s() == volatility.floor_cents_per_sqrt_s()
    assert volatility.floor_cents_per_sqrt_s() == pytest.approx(PRICE * 0.2 / math.sqrt(SECONDS_PER_YEAR))


def test_the_floor_follows_the_latest_close() -> None:
    volatility = EwmaVolatility(PRICE)
    volatility.update(PRICE * 2)
    assert volatility.floor_cents_per_sqrt_s() == pytest.approx(
        2 * EwmaVolatility(PRICE).floor_cents_per_sqrt_s()
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_life_s": 0.0}, "half_life_s"),
        ({"half_life_s": math.inf}, "half_life_s"),
        ({"prior_annualised": -0.1}, "negative"),
        ({"floor_annualised": -0.1}, "negative"),
    ],
)
def test_settings_out_of_range_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EwmaVolatility(PRICE, **kwargs)


@pytest.mark.parametrize("price", [0, -1])
def test_a_non_positive_price_is_refused(price: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        EwmaVolatility(price)


@pytest.mark.parametrize("close", [0, -1])
def test_a_non_positive_close_is_refused(close: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        EwmaVolatility(PRICE).update(close)
