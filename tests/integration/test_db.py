"""live.db: durability pragmas read back, migrations recorded once, STRICT types, read-only readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taptrade.ledger import db


def test_writer_sets_and_verifies_durability(tmp_path: Path) -> None:
    conn = db.open_writer(tmp_path / "live.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_connection_without_durability_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    with pytest.raises(db.DurabilityError, match="synchronous"):
        db.verify_durability(conn)


def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    db.open_writer(path).close()
    assert db.migrate(path) == []  # already applied
    tables = {r[0] for r in db.open_reader(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "bets", "ledger", "columns", "price_bars", "checkpoints", "weeks"} <= tables


def test_tables_are_strict_and_constrained(tmp_path: Path) -> None:
    conn = db.open_writer(tmp_path / "live.db")
    with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT value in INTEGER column"):
        conn.execute(
            "INSERT INTO users (address, balance_cents, created_ms) VALUES (?, 'ten', 0)", ("0x" + "b" * 40,)
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(
            "INSERT INTO users (address, balance_cents, created_ms) VALUES (?, -1, 0)", ("0x" + "a" * 40,)
        )
    conn.execute("INSERT INTO users (address, created_ms) VALUES (?, 0)", ("0x" + "a" * 40,))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("INSERT INTO users (address, created_ms) VALUES (?, 0)", ("0x" + "a" * 40,))
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        conn.execute(
            "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, created_ms)"
            " VALUES (999, 1, 'DEPOSIT', 5, 5, 0)"
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # a BET row must name its bet
        conn.execute(
            "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, created_ms)"
            " VALUES (1, 1, 'BET', -5, 0, 0)"
        )


def test_reader_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    db.open_writer(path).close()
    reader = db.open_reader(path)
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        reader.execute("INSERT INTO users (address, created_ms) VALUES ('x', 0)")


def test_reader_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no database"):
        db.open_reader(tmp_path / "missing.db")
