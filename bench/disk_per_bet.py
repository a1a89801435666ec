"""Bytes on disk per bet: 1,000,000 bets placed and resolved through the real ledger store (bet row,
BET and PAYOUT ledger rows, every index), then the database size divided by the bets.

    .venv/bin/python -m bench.disk_per_bet [--bets 1000000] [--users 10000]

Goal: <= 300 bytes per bet. Prints the size of each table and index (SQLite's dbstat) and, last,
`bytes_per_bet=N`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from bench.funded_store import ROWS, T0, apply_in_batches, funded_store, touching_outcome
from taptrade.commands import PlaceBet
from taptrade.ledger import db
from taptrade.obs.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bets", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("warning", "bench")
    with tempfile.TemporaryDirectory(prefix="disk-per-bet-") as tmp:
        path = Path(tmp) / "live.db"
        store, clock, users = funded_store(Path(tmp), args.users)
        first_column = T0 // 5000 + 2
        columns = range(first_column, first_column + 29)
        cells = [(c, r) for c in columns for r in ROWS]
        started = time.perf_counter()
        apply_in_batches(
            store,
            (
                PlaceBet(str(uuid.uuid4()), users[n % len(users)], *cells[(n // len(users)) % len(cells)],
                         1000, 25_000, n, T0)
                for n in range(args.bets)
            ),
        )  # fmt: skip
        placed_s = time.perf_counter() - started
        clock.set((columns[-1] + 1) * 5000 + 5000)
        for column in columns:
            store.apply_resolution(touching_outcome(column), column + 1)
        conn = db.open_reader(path)
        bets = conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0]
        won = conn.execute("SELECT COUNT(*) FROM bets WHERE status = 'won'").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM ledger WHERE kind IN ('BET', 'PAYOUT')").fetchone()[0]
        writer = db.open_writer(path)
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        print(f"bets={bets} won={won} bet_and_payout_ledger_rows={rows} users={args.users}")
        print(f"placed_in={placed_s:.1f}s")
        try:
            for name, bytes_ in writer.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()[:8]:
                print(f"  {name:32s} {bytes_ / bets:7.1f} bytes/bet")
        except Exception as exc:  # dbstat is a compile-time option of SQLite
            print(f"  (no per-table sizes: {exc})")
        print(f"live_db_bytes={size}")
        print(f"bytes_per_bet={size / bets:.0f}")


if __name__ == "__main__":
    main()
