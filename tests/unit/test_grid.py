"""The grid: columns, rows, cell ids, placeability, the touch rule."""

from __future__ import annotations

import pytest

from taptrade.grid import Cell, GridSpec, format_cell, parse_cell, touches

GRID = GridSpec()


def test_column_covers_its_half_open_window() -> None:
    assert GRID.column_at(0) == 0
    assert GRID.column_at(4999) == 0
    assert GRID.column_at(5000) == 1
    assert (GRID.column_start_ms(7), GRID.column_end_ms(7)) == (35_000, 40_000)


def test_row_bounds_are_inclusive_ten_dollar_bands() -> None:
    assert (GRID.row_lower_cents(9712), GRID.row_upper_cents(9712)) == (9_712_000, 9_713_000)
    assert GRID.row_at(9_712_999) == 9712


@pytest.mark.parametrize(
    ("offset", "placeable"),
    [(-1, False), (0, False), (1, False), (2, True), (30, True), (31, False)],
)
def test_only_columns_two_to_thirty_ahead_are_placeable(offset: int, placeable: bool) -> None:
    now_ms = 1_763_700_002_500
    current = GRID.column_at(now_ms)
    assert GRID.is_placeable(current + offset, now_ms) is placeable


def test_placeability_flips_exactly_at_the_column_boundary() -> None:
    boundary = 1_000 * 5000
    assert GRID.is_placeable(1_002, boundary - 1)
    assert not GRID.is_placeable(1_001, boundary)
    assert GRID.is_placeable(1_002, boundary)


def test_cell_ids_round_trip() -> None:
    assert parse_cell("356000123:9712") == Cell(356000123, 9712)
    assert format_cell(356000123, 9712) == "356000123:9712"
    assert Cell(1, 2).id == "1:2"


@pytest.mark.parametrize(
    "text", ["", "1", "1:", ":1", "-1:2", "1:-2", "01:2", "1:02", "1:2:3", "a:b", "1 :2", "+1:2", "1:2\n"]
)
def test_malformed_cell_ids_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="cell id"):
        parse_cell(text)


@pytest.mark.parametrize(
    ("low", "high", "hit"),
    [
        (100, 200, True),  # inside
        (50, 100, True),  # touches lower bound exactly
        (200, 300, True),  # touches upper bound exactly
        (0, 400, True),  # jumps across the band
        (0, 99, False),
        (201, 300, False),
    ],
)
def test_touch_rule(low: int, high: int, hit: bool) -> None:
    assert touches(low, high, 100, 200) is hit
