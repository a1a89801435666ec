"""Weekly rotation (DESIGN §7): once a week has ended (Monday 00:00 UTC), its settled history moves out of
live.db into `weeks/YYYY-Www.db`, leaving a per-user checkpoint so balances still add up.

What moves, per user, is the longest prefix of their ledger rows (in id order) such that every row was
written before the week's end and every bet with a row in it was resolved before the week's end, with all
of its rows inside the prefix. So a bet never straddles two files, a user's rows in live.db continue exactly
from the checkpoint's balance, and the cut depends only on facts fixed at the week's end: rotating later, or
again after a crash, moves the same rows. Whatever cannot move yet (a bet placed late on Sunday and resolved
on Monday, and everything that user did after it) moves with the next week.

Two phases, so the ledger never stops taking bets for long, however big the week:
1. Write the file: cuts computed from a read snapshot of live.db (the rows concerned never change again),
   the week file written under a temporary name, fsynced and renamed. In the ledger this runs in a child
   process (no lock held on live.db, no share of the ledger's GIL). A crash leaves at most a temporary file.
2. Remove from live.db, in small transactions between the ledger's batches: for a chunk of the file's
   users, delete exactly their rows and bets that the file holds (counts checked) and record their
   checkpoint in the same transaction; the last chunk records the week. The file, complete once renamed,
   is the plan: after a crash, phase 2 carries on with the users that have no checkpoint for the week yet.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from taptrade.clock import Clock
from taptrade.ledger import db
from taptrade.ledger.store import BatchFailed
from taptrade.obs.logging import get_logger
from taptrade.weeks import next_week, week_end_ms, week_file_path, week_of, week_start_ms

log = get_logger(__name__)

WEEK_SCHEMA = Path(__file__).with_name("week_schema.sql")
WEEK_FILE_FORMAT = 1
MAX_WEEKS_PER_CALL = 520
CHUNK_ROWS = 5_000  # at most this many rows deleted per live.db transaction in phase 2
CHUNK_BUDGET_S = 0.02  # and no more users once a transaction has taken this long (bets wait meanwhile)
RETRY_AFTER_FAILURE_MS = 60_000


@dataclass(slots=True)
class UserCut:
    """What one user's rows in the week file are: ids first..last, and the balance after the last."""

    user_id: int
    first_id: int
    last_id: int
    balance: int
    rows: int
    bet_ids: list[int] = field(default_factory=list)
    min_column: int | None = None
    max_column: int | None = None


@dataclass(frozen=True, slots=True)
class RotatedWeek:
    week: str
    file: Path | None
    users: int
    bets: int
    ledger_rows: int


# --- phase 1: the week file ---------------------------------------------------------------------


def compute_cuts(conn: sqlite3.Connection, end_ms: int, schema: str = "main") -> list[UserCut]:
    """Each user's movable prefix for a week ending at `end_ms` (see the module's docstring), from the
    live.db attached to `conn` as `schema`."""
    rows = conn.execute(
        "SELECT l.user_id, l.id, l.kind, l.bet_ref, l.balance_after_cents, l.created_ms,"
        " b.status, b.resolved_ms, b.column_index"
        f" FROM {schema}.ledger l LEFT JOIN {schema}.bets b ON b.id = l.bet_ref AND l.kind = 'BET'"
        " ORDER BY l.user_id, l.id"
    )
    cuts: list[UserCut] = []
    current: int | None = None
    group: list[tuple[Any, ...]] = []
    for row in rows:
        if row[0] != current:
            if group and (cut := _user_cut(group, end_ms)) is not None:
                cuts.append(cut)
            current, group = row[0], []
        group.append(row)
    if group and (cut := _user_cut(group, end_ms)) is not None:
        cuts.append(cut)
    return cuts


def _user_cut(rows: Iterable[tuple[Any, ...]], end_ms: int) -> UserCut | None:
    unsettled: set[int] = set()  # won or void bets in the prefix whose PAYOUT/REFUND is not yet seen
    first_id: int | None = None
    bets: list[tuple[int, int]] = []
    best: UserCut | None = None
    for count, row in enumerate(rows, start=1):
        user_id, entry_id, kind, bet_ref, balance_after, created_ms, status, resolved_ms, column = row
        if created_ms >= end_ms:
            break
        if kind == "BET":
            if status == "confirmed" or resolved_ms is None or resolved_ms >= end_ms:
                break  # this bet (and so everything after it) waits for a later week
            bets.append((bet_ref, column))
            if status != "lost":
                unsettled.add(bet_ref)
        elif kind in ("PAYOUT", "REFUND"):
            unsettled.discard(bet_ref)
        first_id = entry_id if first_id is None else first_id
        if not unsettled:
            columns = [c for _, c in bets]
            best = UserCut(user_id, first_id, entry_id, balance_after, count, [b for b, _ in bets],
                           min(columns, default=None), max(columns, default=None))  # fmt: skip
    return best


def write_week_file(live_path: Path, weeks_dir: Path, week: str, written_ms: int) -> None:
    """Phase 1, from its own read-only connection: the week file, complete and durable, or nothing."""
    path = week_file_path(weeks_dir, week)
    weeks_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    out = sqlite3.connect(tmp, isolation_level=None)
    try:
        out.execute("PRAGMA synchronous = FULL")
        out.executescript(WEEK_SCHEMA.read_text())
        out.execute("ATTACH DATABASE ? AS live", (f"file:{live_path.resolve()}?mode=ro",))
        out.execute("BEGIN")  # one snapshot of live.db for the cut and the copy
        cuts = compute_cuts(out, week_end_ms(week), schema="live")
        out.execute("CREATE TEMP TABLE cut (user_id INTEGER PRIMARY KEY, first_id, last_id, balance)")
        out.execute("CREATE TEMP TABLE moved_bets (id INTEGER PRIMARY KEY)")
        out.executemany("INSERT INTO temp.cut VALUES (?, ?, ?, ?)",
                        [(c.user_id, c.first_id, c.last_id, c.balance) for c in cuts])  # fmt: skip
        out.executemany("INSERT INTO temp.moved_bets VALUES (?)", [(b,) for c in cuts for b in c.bet_ids])
        out.executemany(
            "INSERT INTO main.cuts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.user_id, c.balance, c.first_id, c.last_id, c.rows, len(c.bet_ids), c.min_column, c.max_column)
             for c in cuts],
        )  # fmt: skip
        out.execute(
            "INSERT INTO main.users (id, address, balance_cents, created_ms)"
            " SELECT u.id, u.address, c.balance, u.created_ms"
            " FROM temp.cut c JOIN live.users u ON u.id = c.user_id"
        )
        out.execute(
            "INSERT INTO main.checkpoints (user_id, week, balance_cents, last_ledger_id)"
            " SELECT p.user_id, p.week, p.balance_cents, p.last_ledger_id FROM live.checkpoints p"
            " JOIN temp.cut c ON c.user_id = p.user_id"
            " WHERE p.week = (SELECT MAX(q.week) FROM live.checkpoints q WHERE q.user_id = p.user_id)"
        )
        out.execute(
            "INSERT INTO main.bets SELECT b.id, b.bet_id, b.user_id, b.column_index, b.row_index,"
            " b.lower_cents, b.upper_cents, b.amount_cents, b.multiplier_e4, b.quote_id, b.status,"
            " b.payout_cents, b.placed_ms, b.resolved_ms"
            " FROM temp.moved_bets r JOIN live.bets b ON b.id = r.id"
        )
        out.execute(
            "INSERT INTO main.ledger SELECT l.user_id, l.id, l.kind, l.amount_cents, l.balance_after_cents,"
            " l.bet_ref, l.ref, l.meta, l.created_ms FROM temp.cut c"
            " JOIN live.ledger l ON l.user_id = c.user_id AND l.id BETWEEN c.first_id AND c.last_id"
        )
        out.executemany(
            "INSERT INTO main.week_info (key, value) VALUES (?, ?)",
            [("week", week), ("start_ms", week_start_ms(week)), ("end_ms", week_end_ms(week)),
             ("format", WEEK_FILE_FORMAT), ("written_ms", written_ms)],
        )  # fmt: skip
        out.execute("COMMIT")
        out.execute("DETACH DATABASE live")
    finally:
        out.close()
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


def _write_week_file_in_child(live_path: str, weeks_dir: str, week: str, written_ms: int) -> None:
    write_week_file(Path(live_path), Path(weeks_dir), week, written_ms)


# --- the rotator in the ledger loop -----------------------------------------------------------------


class Rotator:
    """Drives both phases from the ledger loop: `rotate_due` is called every housekeeping round and does at
    most one bounded step."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock,
        weeks_dir: Path,
        *,
        live_path: Path | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self._chunk_rows = chunk_rows
        self._conn = conn
        self._clock = clock
        self._weeks_dir = weeks_dir
        self._live_path = live_path or Path(conn.execute("PRAGMA database_list").fetchone()[2])
        self._quiet_until_ms = 0
        self._child: BaseProcess | None = None
        self._week_file: sqlite3.Connection | None = None

    @property
    def busy(self) -> bool:
        """A rotation is under way: the week file being written, or live.db's rows being removed."""
        return self._child is not None or self._week_file is not None

    def next_due(self) -> str | None:
        """The oldest week that has ended and is not rotated yet, if any."""
        week = self._next_week()
        return week if week is not None and week_end_ms(week) <= self._clock.now_ms() else None

    def _next_week(self) -> str | None:
        last = self._conn.execute("SELECT MAX(week) FROM weeks").fetchone()[0]
        if last is not None:
            return next_week(last)
        first = self._conn.execute("SELECT MIN(created_ms) FROM users").fetchone()[0]
        return None if first is None else week_of(first)

    def rotate_due(self) -> RotatedWeek | None:
        """One bounded step of the oldest ended week's rotation (empty weeks are recorded at once).
        Returns the week when its rotation completes. Between weeks it costs a comparison."""
        empty = None
        for _ in range(MAX_WEEKS_PER_CALL):
            now_ms = self._clock.now_ms()
            if now_ms < self._quiet_until_ms or not self._child_done(now_ms):
                return empty
            week = self._next_week()
            if week is None or week_end_ms(week) > now_ms:
                # Nothing to rotate before that week ends (with no users yet, look again in a minute).
                self._quiet_until_ms = week_end_ms(week) if week is not None else now_ms + 60_000
                return empty
            if week_file_path(self._weeks_dir, week).is_file():
                return self._remove_some(week, self._chunk_rows)
            if not self._anything_before(week_end_ms(week)):
                empty = self._record_empty(week)
                continue
            args = (str(self._live_path), str(self._weeks_dir), week, now_ms)
            ctx = multiprocessing.get_context("spawn")
            self._child = ctx.Process(target=_write_week_file_in_child, args=args, daemon=True)
            self._child.start()
            log.info("week_file_writing", week=week, pid=self._child.pid)
            return empty
        return empty

    def _child_done(self, now_ms: int) -> bool:
        child = self._child
        if child is None:
            return True
        if child.is_alive():
            return False
        self._child = None
        if child.exitcode != 0:
            log.error("week_file_failed", exitcode=child.exitcode, retry_in_s=RETRY_AFTER_FAILURE_MS // 1000)
            self._quiet_until_ms = now_ms + RETRY_AFTER_FAILURE_MS
            return False
        return True

    def _anything_before(self, end_ms: int) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM ledger WHERE created_ms < ? LIMIT 1", (end_ms,)).fetchone()
            is not None
        )

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """One live.db write transaction; a failure of the database rolls it back as `BatchFailed`."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise BatchFailed.of(exc, what) from exc
            raise

    def _record_empty(self, week: str) -> RotatedWeek:
        rotated = RotatedWeek(week, None, 0, 0, 0)
        with self._transaction(f"recording week {week}"):
            self._record_week(rotated)
        return rotated

    def _remove_some(self, week: str, max_rows: int) -> RotatedWeek | None:
        """Phase 2, one transaction: the file's next users (about `max_rows` rows) leave live.db."""
        path = week_file_path(self._weeks_dir, week)
        if self._week_file is None:
            self._week_file = db.open_reader(path)
        week_file = self._week_file
        done = self._conn.execute(
            "SELECT COALESCE(MAX(user_id), 0) FROM checkpoints WHERE week = ?", (week,)
        ).fetchone()[0]
        cuts = _cuts_from_file(week_file, after_user=done, max_rows=max_rows)
        remaining = week_file.execute("SELECT COUNT(*) FROM cuts WHERE user_id > ?", (done,)).fetchone()[0]
        last_chunk = len(cuts) == remaining
        now_ms = self._clock.now_ms()
        # Deleting a bet makes SQLite look for ledger rows naming it, a scan per bet (bet_ref has no index:
        # the hot path does not pay for one). The rows this transaction deletes are exactly all the rows of
        # the bets it deletes (the week file's construction; counts checked below), so the check is off
        # for it; `taptrade integrity` still looks for orphans.
        self._conn.execute("PRAGMA foreign_keys = OFF")
        started = time.perf_counter()
        rotated = None
        try:
            with self._transaction(f"rotation of {week}"):
                for n, cut in enumerate(cuts):
                    if n and time.perf_counter() - started > CHUNK_BUDGET_S:
                        last_chunk = False
                        break
                    self._remove_user(week, cut, now_ms)
                if last_chunk:
                    totals = week_file.execute(
                        "SELECT COUNT(*), COALESCE(SUM(bets), 0), COALESCE(SUM(ledger_rows), 0) FROM cuts"
                    ).fetchone()
                    rotated = RotatedWeek(week, path, *totals)
                    self._record_week(rotated)
        finally:
            self._conn.execute("PRAGMA foreign_keys = ON")
            db.verify_durability(self._conn)
        if rotated is not None:
            self._week_file.close()
            self._week_file = None
            log.info("week_rotated", week=week, file=str(path), users=rotated.users, bets=rotated.bets,
                     ledger_rows=rotated.ledger_rows)  # fmt: skip
        return rotated

    def _remove_user(self, week: str, cut: UserCut, now_ms: int) -> None:
        conn = self._conn
        deleted_rows = conn.execute(
            "DELETE FROM ledger WHERE user_id = ? AND id BETWEEN ? AND ?",
            (cut.user_id, cut.first_id, cut.last_id),
        ).rowcount
        deleted_bets = conn.executemany(
            "DELETE FROM bets WHERE id = ? AND user_id = ?", [(bet, cut.user_id) for bet in cut.bet_ids]
        ).rowcount
        if (deleted_rows, deleted_bets) != (cut.rows, len(cut.bet_ids)):
            raise BatchFailed(
                f"rotation of {week}, user {cut.user_id}: live.db had {deleted_rows} rows and"
                f" {deleted_bets} bets where the week file holds {cut.rows} and {len(cut.bet_ids)}"
            )
        conn.execute(
            "INSERT INTO checkpoints (user_id, week, balance_cents, first_ledger_id, last_ledger_id,"
            " ledger_rows, bets, min_column, max_column, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cut.user_id, week, cut.balance, cut.first_id, cut.last_id, cut.rows, len(cut.bet_ids),
             cut.min_column, cut.max_column, now_ms),
        )  # fmt: skip

    def _record_week(self, rotated: RotatedWeek) -> None:
        self._conn.execute(
            "INSERT INTO weeks (week, start_ms, end_ms, file, users, bets, ledger_rows, rotated_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rotated.week, week_start_ms(rotated.week), week_end_ms(rotated.week),
             rotated.file.name if rotated.file else None, rotated.users, rotated.bets, rotated.ledger_rows,
             self._clock.now_ms()),
        )  # fmt: skip


def _cuts_from_file(week_file: sqlite3.Connection, *, after_user: int, max_rows: int) -> list[UserCut]:
    """The next users of a week file's plan (ids above `after_user`), about `max_rows` ledger rows' worth."""
    cuts: list[UserCut] = []
    total = 0
    plan = week_file.execute(
        "SELECT user_id, first_ledger_id, last_ledger_id, balance_cents, ledger_rows, min_column, max_column"
        " FROM cuts WHERE user_id > ? ORDER BY user_id",
        (after_user,),
    )
    for user_id, first_id, last_id, balance, rows, min_column, max_column in plan:
        if cuts and total + rows > max_rows:
            break
        bets = [b for (b,) in week_file.execute("SELECT id FROM bets WHERE user_id = ?", (user_id,))]
        cuts.append(UserCut(user_id, first_id, last_id, balance, rows, bets, min_column, max_column))
        total += rows
    return cuts


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
