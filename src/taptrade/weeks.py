"""ISO weeks, the unit of the ledger's partitions (DESIGN §7): a week runs from Monday 00:00 UTC to the next
Monday 00:00 UTC and is named `YYYY-Www` (ISO 8601 week-numbering year), so names sort in time order; its
file is `weeks/YYYY-Www.db`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from taptrade.clock import DAY_MS

WEEK_MS = 7 * DAY_MS
_WEEK_NAME = re.compile(r"(\d{4})-W(\d{2})")


def week_of(ms: int) -> str:
    """The name of the week containing the instant `ms` (Unix milliseconds)."""
    year, week, _ = datetime.fromtimestamp(ms / 1000, tz=UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_start_ms(week: str) -> int:
    """Monday 00:00 UTC of the week, in Unix milliseconds."""
    match = _WEEK_NAME.fullmatch(week)
    if match is None:
        raise ValueError(f"not a week name (YYYY-Www): {week!r}")
    year, number = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"no week {number} in {year}") from None
    return int(datetime(monday.year, monday.month, monday.day, tzinfo=UTC).timestamp()) * 1000


def week_end_ms(week: str) -> int:
    """The next Monday 00:00 UTC: the first instant not in the week."""
    return week_start_ms(week) + WEEK_MS


def next_week(week: str) -> str:
    return week_of(week_end_ms(week))


def is_week_name(text: str) -> bool:
    try:
        week_start_ms(text)
    except ValueError:
        return False
    return True


def week_file_path(weeks_dir: Path, week: str) -> Path:
    """Where a week's file is kept locally: `weeks/YYYY-Www.db`."""
    return weeks_dir / f"{week}.db"


def local_weeks(weeks_dir: Path) -> list[str]:
    """The weeks whose file is in `weeks_dir` (complete files only: a file being written has another name)."""
    return sorted(p.stem for p in weeks_dir.glob("*.db") if is_week_name(p.stem))
