"""ISO week names and bounds: Monday 00:00 UTC, across year ends and 53-week years."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taptrade.weeks import is_week_name, next_week, week_end_ms, week_of, week_start_ms


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1000  # type: ignore[misc]


@pytest.mark.parametrize(
    ("week", "monday"),
    [
        ("2025-W40", (2025, 9, 29)),
        ("2026-W01", (2025, 12, 29)),  # the ISO year starts in the calendar year before
        ("2026-W53", (2026, 12, 28)),  # 2026 has 53 ISO weeks
        ("2027-W01", (2027, 1, 4)),
    ],
)
def test_a_week_starts_on_its_monday_at_midnight_utc(week: str, monday: tuple[int, int, int]) -> None:
    assert week_start_ms(week) == ms(*monday)
    assert week_of(ms(*monday)) == week
    assert week_of(ms(*monday) - 1) != week
    assert week_of(week_end_ms(week) - 1) == week


def test_next_week_crosses_year_ends() -> None:
    assert next_week("2026-W52") == "2026-W53"
    assert next_week("2026-W53") == "2027-W01"
    assert next_week("2025-W52") == "2026-W01"


@pytest.mark.parametrize("text", ["2025-W53", "2025-W00", "2025-w01", "2025W01", "25-W01", "2025-W1", ""])
def test_what_is_not_a_week_is_refused(text: str) -> None:
    assert not is_week_name(text)
    with pytest.raises(ValueError, match="week"):
        week_start_ms(text)
