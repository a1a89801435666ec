"""Money arithmetic: integer cents, multipliers in 1/10,000, floor payouts."""

from __future__ import annotations

import pytest

from taptrade.money import format_cents, format_multiplier, parse_multiplier, payout_cents, price_to_cents


@pytest.mark.parametrize(
    ("amount", "multiplier_e4", "payout"),
    [
        (1000, 25_000, 2500),
        (100, 11_000, 110),
        (100, 12_345, 123),  # 123.45 floors to 123
        (333, 33_333, 1109),  # 1109.9889 floors to 1109
        (10_000, 1_000_000, 1_000_000),
        (1, 19_999, 1),
    ],
)
def test_payout_is_floor_of_stake_times_multiplier(amount: int, multiplier_e4: int, payout: int) -> None:
    assert payout_cents(amount, multiplier_e4) == payout


def test_payout_refuses_negative_inputs() -> None:
    with pytest.raises(ValueError, match="negative"):
        payout_cents(-1, 20_000)


@pytest.mark.parametrize(
    ("text", "e4"),
    [("2.5000", 25_000), ("2.5", 25_000), ("2", 20_000), ("100.0000", 1_000_000), ("1.1", 11_000)],
)
def test_multiplier_parses_decimal_strings(text: str, e4: int) -> None:
    assert parse_multiplier(text) == e4


@pytest.mark.parametrize(
    "text", ["", "2.50001", "-1", "1e3", "02.5", "2.", ".5", "NaN", "2,5", " 2.5", "2.5\n"]
)
def test_multiplier_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="multiplier"):
        parse_multiplier(text)


def test_multiplier_formats_with_four_places_and_round_trips() -> None:
    assert format_multiplier(25_000) == "2.5000"
    assert format_multiplier(11_001) == "1.1001"
    for e4 in (11_000, 12_345, 999_999, 1_000_000):
        assert parse_multiplier(format_multiplier(e4)) == e4


def test_cents_format_for_humans() -> None:
    assert format_cents(123_456) == "$1,234.56"
    assert format_cents(-5) == "-$0.05"


@pytest.mark.parametrize(
    ("text", "cents"),
    [("61685.99000000", 6168599), ("61685.995", 6168600), ("61685.985", 6168598), ("1", 100), ("0.004", 0)],
)
def test_exchange_prices_become_cents_half_even(text: str, cents: int) -> None:
    if cents == 0:
        with pytest.raises(ValueError, match="positive"):
            price_to_cents(text)
    else:
        assert price_to_cents(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "-1", "1e5", "1,5", " 1", "NaN", "Infinity", "1.2.3", "1" * 13])
def test_anything_but_a_plain_decimal_price_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="price"):
        price_to_cents(text)
