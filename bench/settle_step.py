"""What settling a busy column costs the ledger: the CPU time of each settlement step (500 bets, as the
resolver takes them) of one column of bets placed through the real ledger store.

    .venv/bin/python -m bench.settle_step [--bets 15000] [--users 2500]

A column at 3,000 bets/s holds 15,000 bets. Prints the time per step and, last, `settle_us_per_bet=N`:
the store's step (SQL, events) plus encoding the step's events for the bus, as the ledger does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.funded_store import ROWS, T0, apply_in_batches, funded_store, touching_outcome
from taptrade.commands import PlaceBet, encode
from taptrade.ledger.resolver import SETTLE_STEP_BETS
from taptrade.obs.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bets", type=int, default=15_000)
    parser.add_argument("--users", type=int, default=2_500)
    parser.add_argument("--repeat", type=int, default=3, help="columns settled; the figures are per column")
    args = parser.parse_args()
    configure_logging("warning", "bench")
    with tempfile.TemporaryDirectory(prefix="settle-step-") as tmp:
        store, clock, users = funded_store(Path(tmp), args.users)
        first_column = T0 // 5000 + 2
        columns = range(first_column, first_column + args.repeat)
        for column in columns:
            apply_in_batches(
                store,
                (
                    PlaceBet(str(uuid.uuid4()), users[n % len(users)], column,
                             ROWS[(n // len(users)) % len(ROWS)], 100, 25_000, n, T0)
                    for n in range(args.bets)
                ),
            )  # fmt: skip
        clock.set((columns[-1] + 1) * 5000 + 5000)
        step_ms: list[float] = []
        per_column_s: list[float] = []
        for column in columns:
            outcome = touching_outcome(column)
            column_started = time.process_time()
            while True:
                started = time.process_time()
                step = store.resolution_step(outcome, column + 1, max_bets=SETTLE_STEP_BETS)
                encode(step.events)
                step_ms.append((time.process_time() - started) * 1000)
                if step.finished:
                    break
            per_column_s.append(time.process_time() - column_started)
        print(f"bets_per_column={args.bets} users={args.users} columns={args.repeat}", end=" ")
        print(f"step_bets={SETTLE_STEP_BETS}")
        print(f"step_cpu_ms median={statistics.median(step_ms):.1f} max={max(step_ms):.1f}")
        print(f"column_cpu_ms median={statistics.median(per_column_s) * 1000:.0f}")
        print(f"settle_us_per_bet={statistics.median(per_column_s) * 1e6 / args.bets:.1f}")


if __name__ == "__main__":
    main()
