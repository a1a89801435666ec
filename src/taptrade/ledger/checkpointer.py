"""live.db's WAL checkpoints, off the ledger's loop: a thread with a connection of its own copies committed
pages from the WAL back into the database file while the loop goes on committing.

SQLite checkpoints in the connection that commits, once the WAL passes `wal_autocheckpoint` pages. At 3,000
bets a second that was about every half second, and each one held the ledger's loop for the copies of every
page written since the last one and an fsync of the database file (12-14 ms per fsync measured, more as the
file grows): every bet waiting meanwhile waited that long too (docs/ledger.md, docs/benchmarks.md).

Here a PASSIVE checkpoint runs every 50 ms. It takes no lock the writer needs, and Python's sqlite3 releases
the GIL while SQLite works, so its copies and fsync overlap with the loop. The writer's own checkpoint still
comes at its mark (`db.WAL_FALLBACK_CHECKPOINT_PAGES`), since only a checkpoint that catches up with the
writer lets the WAL start over from its beginning, but it now finds at most the last 50 ms of pages left to
copy. If this thread stops or falls behind, the writer's checkpoint does the whole work again, as before.
Durability is the writer's: this connection syncs at `synchronous=FULL` too (read back), so the database
file is on disk before SQLite reuses any of the WAL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from taptrade.ledger import db
from taptrade.ledger.metrics import LEDGER_WAL_CHECKPOINT_SECONDS, LEDGER_WAL_PAGES
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

CHECKPOINT_EVERY_S = 0.05
FAILURE_LOG_EVERY_S = 60.0


class WalCheckpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._path = path
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        self.failures = 0
        self._failure_logged_at = -FAILURE_LOG_EVERY_S

    def start(self) -> None:
        conn = db.open_durable(self._path)  # here, so a connection that is not durable fails the start
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(conn,), name="wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stop.wait(self._every_s):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint; a failure is counted, logged now and then, and the next one tried."""
        started = time.perf_counter()
        try:
            _busy, wal_pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self.failures += 1
            now = time.monotonic()
            if now - self._failure_logged_at >= FAILURE_LOG_EVERY_S:
                self._failure_logged_at = now
                log.error("wal_checkpoint_failed", error=str(exc), failures=self.failures)
            return
        self.checkpoints += 1
        LEDGER_WAL_PAGES.set(wal_pages)
        LEDGER_WAL_CHECKPOINT_SECONDS.observe(time.perf_counter() - started)
