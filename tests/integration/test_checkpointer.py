"""The WAL checkpointer: committed pages reach live.db's file without the writer checkpointing, and keep
within a few pages of the writer while it commits; the thread syncs as the writer does, a failing
checkpoint is logged and retried, and the ledger runs one for as long as it serves."""

from __future__ import annotations

import sqlite3
import struct
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.checkpointer import WalCheckpointer
from tests.support import LedgerThread, address, wait_for


def rows_in_the_database_file(path: Path) -> int:
    """Users as the database file alone holds them: `immutable` reads no WAL."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
    finally:
        conn.close()


def add_users(writer: sqlite3.Connection, first: int, count: int, pause_s: float = 0.0) -> None:
    """One user per transaction, `pause_s` after each."""
    for n in range(first, first + count):
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO users (address, created_ms) VALUES (?, 0)", (address(n),))
        writer.execute("COMMIT")
        if pause_s:
            time.sleep(pause_s)


def test_committed_pages_reach_the_database_file_without_the_writer_checkpointing(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    writer = db.open_writer(path)
    add_users(writer, 0, 50)
    assert rows_in_the_database_file(path) == 0  # all of it still in the WAL: the writer did not checkpoint
    checkpoints_before = REGISTRY.get_sample_value("ledger_wal_checkpoint_seconds_count") or 0.0
    checkpointer = WalCheckpointer(path, every_s=0.01)
    checkpointer.start()
    try:
        wait_for(lambda: rows_in_the_database_file(path) == 50, what="rows in the file")
        add_users(writer, 50, 50)
        wait_for(lambda: rows_in_the_database_file(path) == 100, what="rows in the file")
    finally:
        checkpointer.stop()
    assert not checkpointer.running
    assert checkpointer.checkpoints > 0
    assert checkpointer.failures == 0
    assert (
        REGISTRY.get_sample_value("ledger_wal_checkpoint_seconds_count")
        == checkpoints_before + checkpointer.checkpoints
    )
    assert REGISTRY.get_sample_value("ledger_wal_pages") is not None


def pages_not_yet_in_the_file(path: Path) -> int:
    """The WAL's committed pages not yet copied back (mxFrame - nBackfill), read from the shared-memory
    index SQLite keeps beside the WAL (its header at 0, the checkpoint's progress at 96), without the
    checkpoint a query would run."""
    shm = (path.parent / (path.name + "-shm")).read_bytes()
    (max_frame,) = struct.unpack_from("=I", shm, 16)
    (backfilled,) = struct.unpack_from("=I", shm, 96)
    return int(max_frame - backfilled)


def test_the_file_keeps_within_a_few_pages_of_the_writer_while_it_keeps_committing(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    writer = db.open_writer(path)
    checkpointer = WalCheckpointer(path, every_s=0.01)
    transactions = 1000  # each appends at least two pages to the WAL (the users row, its address index)
    lag: list[int] = []
    checkpointer.start()
    try:
        for n in range(transactions):
            add_users(writer, n, 1, pause_s=0.001)  # the pause stands for the ledger's Redis round trips
            lag.append(pages_not_yet_in_the_file(path))
    finally:
        checkpointer.stop()
    # Without the thread the lag would be every page written (under the writer's own mark of 4,000).
    assert max(lag) < 2 * transactions / 10


def test_the_checkpointer_syncs_the_database_file_as_the_writer_does(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    db.open_writer(path).close()
    conn = db.open_durable(path)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: the file is on disk before WAL reuse
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_writer_keeps_its_own_checkpoint_as_the_fallback(tmp_path: Path) -> None:
    writer = db.open_writer(tmp_path / "live.db")
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == db.WAL_FALLBACK_CHECKPOINT_PAGES


def test_a_failing_checkpoint_is_logged_and_the_next_one_tried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.db"
    db.open_writer(path).close()
    checkpointer = WalCheckpointer(path)
    conn = db.open_durable(path)
    conn.close()  # every statement on it now fails, as on a database gone bad
    checkpointer.checkpoint(conn)
    checkpointer.checkpoint(conn)
    assert checkpointer.failures == 2
    assert checkpointer.checkpoints == 0
    logged = capsys.readouterr().err
    assert logged.count('"wal_checkpoint_failed"') == 1  # once a minute, not at every failure


def test_the_ledger_checkpoints_in_the_background_while_it_serves(settings: Settings) -> None:
    with LedgerThread(settings) as ledger:
        checkpointer = ledger.service._checkpointer
        assert checkpointer is not None
        wait_for(lambda: checkpointer.running and checkpointer.checkpoints > 0, what="a first checkpoint")
        add_users(db.open_durable(settings.live_db_path), 0, 10)  # a second writer, between the ledger's
        wait_for(lambda: rows_in_the_database_file(settings.live_db_path) == 10, what="rows in the file")
    assert not checkpointer.running
