"""Replay of recorded trades (`trade_time_ms,price,qty[,trade_id]`, CSV, plain or gzipped) as if live.

Recorded times are shifted by a whole number of columns so that the recording starts at the next column
and column boundaries fall where they fell in the recording: recorded time + `replay_offset_ms` = served
time, so anyone can map a column back to the recording. Each recorded second without a trade yields a
heartbeat (the recording heard the exchange). At `speed` > 1 the recording plays faster than the wall
clock and its served times run ahead of it: for tests and demos only. When the recording ends the source
falls silent, as a dead exchange would.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from taptrade.clock import Clock, SystemClock
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.money import price_to_cents
from taptrade.obs.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    ts_ms: int
    price_cents: int
    trade_id: int | None


def read_trades(path: Path) -> list[RecordedTrade]:
    """Every well-formed row, in time order; malformed rows are skipped and counted in the log."""
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    trades, skipped = [], 0
    for row in csv.reader(io.StringIO(text)):
        try:
            trade_id = int(row[3]) if len(row) > 3 and row[3] else None
            trades.append(RecordedTrade(int(row[0]), price_to_cents(row[1]), trade_id))
        except (ValueError, IndexError):
            skipped += 1  # the header, or a damaged row
    if skipped > 1:
        log.warning("replay_rows_skipped", path=str(path), skipped=skipped)
    trades.sort(key=lambda t: t.ts_ms)
    return trades


def column_offset_ms(first_ts_ms: int, now_ms: int, column_ms: int) -> int:
    """The whole-column shift that puts the recording's first column at the next column after `now_ms`."""
    return (now_ms // column_ms + 1) * column_ms - (first_ts_ms // column_ms) * column_ms


def with_heartbeats(trades: list[RecordedTrade]) -> Iterator[RecordedTrade | int]:
    """The trades, with the start (ms) of every recorded second that has none in between."""
    if not trades:
        return
    second = trades[0].ts_ms // 1000
    for trade in trades:
        while trade.ts_ms // 1000 > second:
            second += 1
            if trade.ts_ms // 1000 > second:
                yield second * 1000
        yield trade


class ReplaySource:
    name = "replay"
    measures_skew = False

    def __init__(
        self,
        path: Path,
        *,
        speed: float = 1.0,
        column_ms: int = 5000,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if speed <= 0:
            raise ValueError("replay speed must be positive")
        self._trades = read_trades(path)
        if not self._trades:
            raise ValueError(f"no trades in {path}")
        self._path = path
        self._speed = speed
        self._column_ms = column_ms
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self.replay_offset_ms: int | None = None

    async def events(self) -> AsyncIterator[SourceEvent]:
        first = self._trades[0].ts_ms
        start_ms = self._clock.now_ms()
        offset = column_offset_ms(first, start_ms, self._column_ms)
        self.replay_offset_ms = offset
        log.info("replay_started", path=str(self._path), offset_ms=offset, speed=self._speed,
                 trades=len(self._trades))  # fmt: skip
        origin = (first // self._column_ms) * self._column_ms  # recorded time served at the next column
        for item in with_heartbeats(self._trades):
            recorded_ms = item if isinstance(item, int) else item.ts_ms
            due_ms = origin + offset + (recorded_ms - origin) / self._speed
            wait_ms = due_ms - self._clock.now_ms()
            if wait_ms > 0:
                await self._sleep(wait_ms / 1000)
            now_ms = self._clock.now_ms()
            if isinstance(item, int):
                yield Heartbeat(ts_ms=item + offset, received_ms=now_ms)
            else:
                yield Tick(item.price_cents, item.ts_ms + offset, now_ms, item.trade_id)
        log.info("replay_finished", path=str(self._path))
