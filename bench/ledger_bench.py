"""Ledger throughput: pre-load the intake with bet commands for many users, run the ledger alone, and
report committed bets per second (synchronous=FULL, a private redis-server as `taptrade run` starts it).

    make bench-ledger            # or: .venv/bin/python bench/ledger_bench.py --bets 200000 --users 10000

The last line is `ledger_bets_per_s=N`. Deposits are applied before timing starts; the timed part is the
ledger loop reading, committing, acknowledging and replying to every bet.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from prometheus_client import REGISTRY

from taptrade import bus
from taptrade.commands import Deposit, Envelope, PlaceBet, encode
from taptrade.config import load_settings
from taptrade.launcher import private_redis, redis_answers, wait_until
from taptrade.ledger import db
from taptrade.ledger.app import build_service
from taptrade.ledger.integrity import check_integrity
from taptrade.obs.logging import configure_logging

STAKE_CENTS = 100
COLUMNS_USED = 25


def preload(client: redis.Redis, commands: list[Deposit] | list[PlaceBet], reply_to: str) -> None:
    pipe = client.pipeline(transaction=False)
    for n, command in enumerate(commands):
        envelope = Envelope(request_id=str(n), reply_to=reply_to, command=command)
        pipe.xadd(bus.INTAKE_STREAM, {"m": encode(envelope)})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def drain(handled: Callable[[], int], total: int) -> float:
    """Wait until `total` commands are handled; returns the seconds it took."""
    started = time.perf_counter()
    while handled() < total:
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--bets", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--batch-max", type=int, default=None, help="default: the product's default")
    args = parser.parse_args()
    configure_logging("warning", "bench")

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        data_dir = Path(tmp)
        spec, url = private_redis(data_dir)
        redis_proc = subprocess.Popen(spec.argv)
        try:
            wait_until(lambda: redis_answers(url), 10, "redis-server")
            overrides = {"ledger_batch_max": args.batch_max} if args.batch_max else {}
            settings = load_settings(data_dir=data_dir, redis_url=url, ledger_metrics_port=0, **overrides)
            client = redis.Redis.from_url(url)
            users = ["0x" + os.urandom(20).hex() for _ in range(args.users)]
            service = build_service(settings)
            stop = threading.Event()
            runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
            runner.start()

            preload(client, [Deposit(str(uuid.uuid4()), u, 100_000_000) for u in users], "tt:reply:bench")
            drain(lambda: service.commands_handled, len(users))
            batches_before = service.batches_committed

            first_column = time.time_ns() // 1_000_000 // (settings.column_seconds * 1000) + 5
            now_ms = time.time_ns() // 1_000_000
            bets = [
                PlaceBet(
                    bet_id=str(uuid.uuid4()),
                    address=users[n % len(users)],
                    column=first_column + (n // len(users)) % COLUMNS_USED,
                    row=9000 + n // (len(users) * COLUMNS_USED),
                    amount=STAKE_CENTS,
                    multiplier_e4=25_000,
                    quote_id=1,
                    placed_ms=now_ms,
                )
                for n in range(args.bets)
            ]
            # Hold the ledger back while the intake fills, so the timed part is the ledger alone.
            stop.set()
            runner.join()
            preload(client, bets, "tt:reply:bench")
            stop = threading.Event()
            runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
            handled_before = service.commands_handled
            in_transactions_before = REGISTRY.get_sample_value("ledger_commit_seconds_sum") or 0.0
            runner.start()
            elapsed = drain(lambda: service.commands_handled - handled_before, args.bets)
            stop.set()
            runner.join()
            in_transactions_after = REGISTRY.get_sample_value("ledger_commit_seconds_sum") or 0.0
            in_transactions = in_transactions_after - in_transactions_before

            conn = db.open_reader(settings.live_db_path)
            committed = conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0]
            batches = service.batches_committed - batches_before
            report = check_integrity(conn)
            size = settings.live_db_path.stat().st_size
        finally:
            redis_proc.terminate()
            redis_proc.wait()

    print(f"bets={args.bets} users={args.users} committed={committed} seconds={elapsed:.3f}")
    mean_batch = args.bets / batches
    print(f"batches={batches} mean_batch_size={mean_batch:.1f} batch_max={settings.ledger_batch_max}")
    print(f"integrity_ok={report.ok} live_db_bytes={size}")
    print(f"share_of_time_in_sqlite_transactions={in_transactions / elapsed:.2f}")
    print(f"ledger_bets_per_s={committed / elapsed:.0f}")


if __name__ == "__main__":
    main()
