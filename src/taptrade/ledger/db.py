"""live.db: opening it for the one writer (durability pragmas set, read back, verified; migrations
applied) or for readers (read-only, never able to write).

Durability is set explicitly and checked: WAL, `synchronous=FULL` (money survives power loss; group
commit makes the fsync cheap), foreign keys on. A connection that does not read back these values is
refused rather than used.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import urllib.parse
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# PRAGMA name -> value it must read back as.
_WRITER_PRAGMAS: dict[str, object] = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL
    "foreign_keys": 1,
}


WRITER_CACHE_KIB = 64 * 1024
WAL_FALLBACK_CHECKPOINT_PAGES = 4000  # 16 MiB of 4 KiB pages
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


class DurabilityError(RuntimeError):
    """The database does not hold the durability settings money needs."""


def migrate(path: Path) -> list[str]:
    """Apply every pending migration; returns the ids applied."""
    backend = get_backend("sqlite:///" + urllib.parse.quote(str(path.resolve())))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        # yoyo prints the rows of any statement that returns some, and SQLite's ADD COLUMN with a CHECK
        # runs one internally; stdout belongs to the process (the launcher's first line is its URL).
        with backend.lock(), contextlib.redirect_stdout(io.StringIO()):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def open_writer(path: Path) -> sqlite3.Connection:
    """The ledger's connection: autocommit mode, so transactions are the explicit BEGIN/COMMIT we write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = open_durable(path)
    # Performance only, not durability (docs/ledger.md): a page cache big enough for the hot indexes (bet
    # ids are random UUIDs, so their index is written all over). Checkpoints are the `WalCheckpointer`'s,
    # off the loop; the writer's own is the fallback, should that thread stop or fall behind.
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_FALLBACK_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    migrate(path)
    return conn


def open_durable(path: Path) -> sqlite3.Connection:
    """A connection that may write live.db, with the durability pragmas set and read back (the writer's,
    and the checkpointer's, whose fsync of the database file comes before SQLite reuses the WAL)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    verify_durability(conn)
    return conn


def verify_durability(conn: sqlite3.Connection) -> None:
    for name, wanted in _WRITER_PRAGMAS.items():
        got = conn.execute(f"PRAGMA {name}").fetchone()[0]
        if str(got).lower() != str(wanted):
            raise DurabilityError(f"PRAGMA {name} is {got!r}, must be {wanted!r}")


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (history, integrity, operator queries). Never blocks the writer."""
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn
