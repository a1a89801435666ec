"""Every published quote table, kept 7 days for disputes: one gzip file of JSON lines per UTC day under
`DATA_DIR/quotes/`, so the multiplier a bet got (its `quote_id`) can always be shown with the table it came
from. Files older than the retention are deleted as days roll over."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from taptrade.clock import DAY_MS
from taptrade.market import QuoteTable
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

RETENTION_DAYS = 7
_encoder = msgspec.json.Encoder()


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


class QuoteLog:
    def __init__(self, directory: Path, retention_days: int = RETENTION_DAYS) -> None:
        self._directory = directory
        self._retention_days = retention_days
        self._day: str | None = None
        self._file: gzip.GzipFile | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def append(self, table: QuoteTable) -> None:
        day = day_of(table.ts_ms)
        if day != self._day:
            self._roll(day, table.ts_ms)
        assert self._file is not None
        self._file.write(_encoder.encode(table) + b"\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _roll(self, day: str, now_ms: int) -> None:
        self.close()
        self._day = day
        # Kept open for the day. Appending a new gzip member keeps what an earlier run wrote readable.
        self._file = gzip.GzipFile(self._directory / f"{day}.jsonl.gz", "ab")
        cutoff = now_ms - self._retention_days * DAY_MS
        for old in self._directory.glob("*.jsonl.gz"):
            if old.name < f"{day_of(cutoff)}.jsonl.gz":
                old.unlink()
                log.info("quote_log_purged", file=old.name)


def find_table(directory: Path, quote_id: int, ts_ms: int) -> QuoteTable | None:
    """The table with `quote_id`, from the file of the day of `ts_ms` (a bet's `placed_ms`)."""
    path = directory / f"{day_of(ts_ms)}.jsonl.gz"
    if not path.is_file():
        return None
    decoder = msgspec.json.Decoder(QuoteTable)
    with gzip.open(path, "rb") as lines:
        for line in lines:
            table = decoder.decode(line)
            if table.quote_id == quote_id:
                return table
    return None
