"""A week's rotation and its archive: N bets placed and resolved through the real ledger store, the week
rotated out of live.db by the real rotator (timed: the ledger loop pauses for it), then the week file
compressed with zstd at several levels (ratio and speed: the archiver's level is chosen from this).

    .venv/bin/python bench/week_file.py [--bets 1000000] [--users 10000] [--levels 3 9 19]

Prints `rotation_s=`, the week file's size and, per level, `zstd_level=L ratio=R seconds=S`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import zstandard

from taptrade.clock import ManualClock
from taptrade.commands import Deposit, PlaceBet
from taptrade.config import load_settings
from taptrade.ledger import db
from taptrade.ledger.app import rules_from
from taptrade.ledger.integrity import check_everything
from taptrade.ledger.resolution import ColumnOutcome
from taptrade.ledger.rotation import Rotator
from taptrade.ledger.store import LedgerStore
from taptrade.obs.logging import configure_logging
from taptrade.weeks import week_end_ms, week_of

T0 = 1_763_700_000_000  # Friday 2025-11-21
BATCH = 2000
ROWS = range(9700, 9721)
PRICE_ROW = 9710


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bets", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--levels", type=int, nargs="+", default=[3, 9, 19])
    args = parser.parse_args()
    configure_logging("warning", "bench")
    with tempfile.TemporaryDirectory(prefix="week-file-") as tmp:
        data_dir = Path(tmp)
        settings = load_settings(data_dir=data_dir)
        clock = ManualClock(T0)
        conn = db.open_writer(settings.live_db_path)
        store = LedgerStore(conn, rules_from(settings), clock)
        users = ["0x" + os.urandom(20).hex() for _ in range(args.users)]
        for start in range(0, len(users), BATCH):
            store.apply_batch([Deposit(str(uuid.uuid4()), u, 10**9) for u in users[start : start + BATCH]])
        # Bets spread over the day's columns, each column resolved once it ends.
        per_column = len(ROWS) * len(users)
        first_column = T0 // 5000 + 2
        placed = 0
        column = first_column
        while placed < args.bets:
            clock.set(column * 5000 - 8000)
            n = min(per_column, args.bets - placed)
            cells = [(users[i % len(users)], ROWS[(i // len(users)) % len(ROWS)]) for i in range(n)]
            for start in range(0, n, BATCH):
                store.apply_batch([PlaceBet(str(uuid.uuid4()), u, column, r, 1000, 25_000, 1, clock.now_ms())
                                   for u, r in cells[start : start + BATCH]])  # fmt: skip
            clock.set((column + 1) * 5000 + 2000)
            low, high = (PRICE_ROW - 1) * 1000 + 500, (PRICE_ROW + 2) * 1000 - 500
            store.apply_resolution(ColumnOutcome(column, "resolved", low, high, low, high, 100, None, None),
                                   column + 1)  # fmt: skip
            placed += n
            column += 1
        week = week_of(T0)
        clock.set(week_end_ms(week) + 60_000)
        rows_before = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        # As the ledger loop drives it: every call is time the loop spends away from bets.
        rotator = Rotator(conn, clock, settings.weeks_dir)
        started = time.perf_counter()
        pauses: list[float] = []
        rotated = None
        while rotated is None:
            call = time.perf_counter()
            rotated = rotator.rotate_due()
            pauses.append(time.perf_counter() - call)
            if rotated is None:
                time.sleep(0.2)  # the loop's housekeeping period
        rotation_s = time.perf_counter() - started
        assert rotated.file is not None
        print(
            f"bets={rotated.bets} ledger_rows={rotated.ledger_rows} (of {rows_before}) users={rotated.users}"
        )
        longest_ms, total_ms = max(pauses) * 1000, sum(pauses) * 1000
        print(f"rotation_s={rotation_s:.2f} loop_calls={len(pauses)} longest_pause_ms={longest_ms:.0f}"
              f" total_pause_ms={total_ms:.0f}")  # fmt: skip
        report = check_everything(db.open_reader(settings.live_db_path), settings.weeks_dir)
        print(f"integrity_ok={report.ok}")
        raw = rotated.file.stat().st_size
        print(f"week_file_bytes={raw} bytes_per_bet={raw / rotated.bets:.0f}")
        for level in args.levels:
            packed = data_dir / f"week.{level}.zst"
            started = time.perf_counter()
            with rotated.file.open("rb") as src, packed.open("wb") as dst:
                zstandard.ZstdCompressor(level=level, write_checksum=True).copy_stream(src, dst, size=raw)
            seconds = time.perf_counter() - started
            size = packed.stat().st_size
            print(f"zstd_level={level} bytes={size} ratio={raw / size:.2f} seconds={seconds:.1f}"
                  f" mb_per_s={raw / seconds / 1e6:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
