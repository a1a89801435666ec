"""Quote tables are kept per UTC day for 7 days, and older days are purged."""

from __future__ import annotations

from pathlib import Path

from taptrade.feed.quote_log import QuoteLog, find_table
from taptrade.market import QuoteTable

DAY_MS = 86_400_000
T0 = 1_763_683_200_000  # 2025-11-21 00:00 UTC


def table(quote_id: int, ts_ms: int) -> QuoteTable:
    return QuoteTable(quote_id, ts_ms, 6_000_000, 10, 5990, [[25_000, None]])


def test_tables_are_found_by_id_across_restarts(tmp_path: Path) -> None:
    first = QuoteLog(tmp_path)
    first.append(table(1, T0 + 1000))
    first.close()
    second = QuoteLog(tmp_path)  # a restarted feed appends to the same day's file
    second.append(table(2, T0 + 2000))
    second.close()
    assert find_table(tmp_path, 1, T0 + 1000) == table(1, T0 + 1000)
    assert find_table(tmp_path, 2, T0 + 2000) == table(2, T0 + 2000)
    assert find_table(tmp_path, 3, T0 + 2000) is None


def test_days_older_than_the_retention_are_purged(tmp_path: Path) -> None:
    log = QuoteLog(tmp_path, retention_days=7)
    for day in range(10):
        log.append(table(day, T0 + day * DAY_MS))
    log.close()
    kept = sorted(p.name for p in tmp_path.glob("*.jsonl.gz"))
    assert kept[0] == "2025-11-23.jsonl.gz"
    assert kept[-1] == "2025-11-30.jsonl.gz"
    # The day of the cutoff stays: it holds tables from within the last 7 x 24 h.
    assert find_table(tmp_path, 1, T0 + 1 * DAY_MS) is None
    assert find_table(tmp_path, 2, T0 + 2 * DAY_MS) == table(2, T0 + 2 * DAY_MS)
    assert find_table(tmp_path, 9, T0 + 9 * DAY_MS) == table(9, T0 + 9 * DAY_MS)
