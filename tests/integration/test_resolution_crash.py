"""kill -9 of a real ledger process while it settles a column of 20,000 bets, twice, then a clean restart:
each winner is paid exactly once, integrity holds, and the column is recorded once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import msgspec
import pytest
import redis

from taptrade import bus
from taptrade.commands import Envelope, encode
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from taptrade.market import Bar
from tests.support import GRID_COLUMN_MS, address, bet, deposit, ledger_subprocess, now_ms, wait_for

USERS = [address(900 + n) for n in range(200)]
ROWS = 100
FIRST_ROW = 9_700
STAKE = 100


def queue_all(client: redis.Redis, commands: list[object]) -> None:
    pipe = client.pipeline(transaction=False)
    for n, command in enumerate(commands):
        envelope = Envelope(request_id=f"c{n}", reply_to=None, command=command)  # type: ignore[arg-type]
        pipe.xadd(bus.INTAKE_STREAM, {"m": encode(envelope)})
    pipe.execute()


def sweep_bars(column: int) -> list[Bar]:
    """The price sweeps every row of the grid's band during the column: every bet wins."""
    start_s = column * GRID_COLUMN_MS // 1000
    low, high = FIRST_ROW * 1000, (FIRST_ROW + ROWS) * 1000 - 1
    step = (high - low) // 4
    bars = [Bar(start_s - 1, low, low, low, low, 1)]
    for s in range(5):
        price = low + step * s
        bars.append(Bar(start_s + s, price, min(price + step, high), price, min(price + step, high), 3))
    return bars


def count(settings: Settings, sql: str) -> int:
    """The count, or -1 while the ledger has not created its tables yet."""
    try:
        conn = db.open_reader(settings.live_db_path)
    except FileNotFoundError:
        return -1
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


def last_resolving(log_path: Path) -> int:
    lines = [line for line in log_path.read_bytes().splitlines() if b'"column_resolving"' in line]
    return int(json.loads(lines[-1])["column"])


def kill_when_resolving(proc: subprocess.Popen[bytes], log_path: Path, seen_before: int) -> None:
    """kill -9 as soon as the ledger logs that it is settling a column (more than `seen_before` times)."""
    deadline = time.monotonic() + 60
    while log_path.read_bytes().count(b"column_resolving") <= seen_before:
        assert proc.poll() is None, "the ledger exited by itself"
        assert time.monotonic() < deadline, "the column never started resolving"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.slow
def test_kill_9_while_settling_a_column_pays_each_winner_once(settings: Settings, tmp_path: Path) -> None:
    client = redis.Redis.from_url(settings.resolved_redis_url())
    column = now_ms() // GRID_COLUMN_MS + 4
    queue_all(client, [deposit(owner, 1_000_000) for owner in USERS])
    queue_all(
        client,
        [bet(owner, column=column, row=FIRST_ROW + r, amount=STAKE) for owner in USERS for r in range(ROWS)],
    )
    bets = len(USERS) * ROWS
    log_path = tmp_path / "ledger.log"
    proc = ledger_subprocess(settings, log_path)
    try:
        wait_for(lambda: count(settings, "SELECT COUNT(*) FROM bets") == bets, 30, "all bets placed")
        assert now_ms() < column * GRID_COLUMN_MS, "bets placed before the column starts"
        for bar in sweep_bars(column):
            client.xadd(bus.BARS_STREAM, {"m": msgspec.json.encode(bar)})
        kills_mid_transaction = 0
        for attempt in range(2):
            # Columns before ours resolve (void, no bets) first; wait until ours is the one in flight.
            while True:
                seen = log_path.read_bytes().count(b"column_resolving")
                kill_when_resolving(proc, log_path, seen)
                if last_resolving(log_path) == column:
                    break
                proc = ledger_subprocess(settings, log_path)
            if count(settings, f"SELECT COUNT(*) FROM columns WHERE column_index = {column}") == 0:
                kills_mid_transaction += 1
            paid = count(settings, "SELECT COUNT(*) FROM ledger WHERE kind = 'PAYOUT'")
            assert paid in (0, bets), f"attempt {attempt}: a torn settlement left {paid} payouts"
            proc = ledger_subprocess(settings, log_path)
        assert kills_mid_transaction >= 1, "no kill landed inside the settlement transaction"
        wait_for(lambda: count(settings, "SELECT COUNT(*) FROM ledger WHERE kind = 'PAYOUT'") == bets, 60,
                 "every winner paid")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)

    conn = db.open_reader(settings.live_db_path)
    assert conn.execute(f"SELECT COUNT(*) FROM columns WHERE column_index = {column}").fetchone() == (1,)
    assert conn.execute("SELECT status, COUNT(*) FROM bets GROUP BY status").fetchall() == [("won", bets)]
    per_bet = conn.execute(
        "SELECT MAX(n), MIN(n) FROM (SELECT COUNT(*) AS n FROM ledger WHERE kind = 'PAYOUT' GROUP BY bet_ref)"
    ).fetchone()
    assert per_bet == (1, 1)
    payout = STAKE * 25_000 // 10_000
    expected = 1_000_000 + ROWS * (payout - STAKE)
    assert conn.execute("SELECT MIN(balance_cents), MAX(balance_cents) FROM users").fetchone() == (
        expected,
        expected,
    )
    assert check_integrity(conn).ok
