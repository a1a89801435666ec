"""The grid (DESIGN §2): columns are time windows, rows are price bands, a cell is `"{column}:{row}"`.

Pure functions shared by every process and mirrored in the web UI. The server derives every bound and
time from the cell id; it never takes them from a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL_RE = re.compile(r"^(0|[1-9][0-9]{0,11}):(0|[1-9][0-9]{0,11})$")


@dataclass(frozen=True, slots=True)
class GridSpec:
    column_seconds: int = 5
    row_cents: int = 1000
    placeable_min_offset: int = 2
    max_ahead_columns: int = 30

    @property
    def column_ms(self) -> int:
        return self.column_seconds * 1000

    def column_at(self, ts_ms: int) -> int:
        """The column covering the instant `ts_ms`."""
        return ts_ms // self.column_ms

    def column_start_ms(self, column: int) -> int:
        return column * self.column_ms

    def column_end_ms(self, column: int) -> int:
        """Exclusive end: the column covers [start, end)."""
        return (column + 1) * self.column_ms

    def row_at(self, price_cents: int) -> int:
        """The row whose band holds `price_cents` (the lower row on a shared boundary)."""
        return price_cents // self.row_cents

    def row_lower_cents(self, row: int) -> int:
        return row * self.row_cents

    def row_upper_cents(self, row: int) -> int:
        """Inclusive upper bound: a band covers [lower, upper]."""
        return (row + 1) * self.row_cents

    def is_placeable(self, column: int, now_ms: int) -> bool:
        """Not past, not current, not next; and not beyond the horizon."""
        current = self.column_at(now_ms)
        return current + self.placeable_min_offset <= column <= current + self.max_ahead_columns


@dataclass(frozen=True, slots=True)
class Cell:
    column: int
    row: int

    @property
    def id(self) -> str:
        return format_cell(self.column, self.row)


def format_cell(column: int, row: int) -> str:
    return f"{column}:{row}"


def parse_cell(text: str) -> Cell:
    """`"356000123:9712"` -> Cell(356000123, 9712). Two base-10 integers, no signs, no padding."""
    match = _CELL_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a cell id of the form COLUMN:ROW: {text!r}")
    return Cell(int(match.group(1)), int(match.group(2)))


def touches(low_cents: int, high_cents: int, lower_cents: int, upper_cents: int) -> bool:
    """Whether a continuous path ranging over [low, high] entered the band [lower, upper] (DESIGN §6)."""
    return low_cents <= upper_cents and high_cents >= lower_cents
