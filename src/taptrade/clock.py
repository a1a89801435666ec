"""Time, injected: processes read the clock through `Clock` so tests can jump it instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def utc_day(ms: int) -> int:
    """Days since 1970-01-01 UTC: the day a Unix time in milliseconds falls on."""
    return ms // DAY_MS


class Clock(Protocol):
    def now_ms(self) -> int:
        """Unix time in integer milliseconds."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def set(self, now_ms: int) -> None:
        self._now_ms = now_ms

    def advance(self, delta_ms: int) -> None:
        self._now_ms += delta_ms
