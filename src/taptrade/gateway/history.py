"""History reads for the API: a user's balance, bets and ledger, through read-only SQLite connections.
Never the writer; only the owner's rows (every query is keyed by the user).

History spans live.db and the week files kept locally (DESIGN §7). live.db's checkpoints say which weeks
hold a user's rows and which columns and ledger ids they cover, so a page is merged from just those files;
a page that would need a week whose file is only in cold storage raises `ArchivedRange` (API: 410
`archived`) instead of silently leaving rows out. A restored week file is picked up on the next read."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taptrade.commands import BetRecord, EntryRecord
from taptrade.ledger import db
from taptrade.ledger.store import LIMIT_COLUMNS, bet_row_to_record, limit_state
from taptrade.limits import LimitState
from taptrade.weeks import week_file_path

_BET_SELECT = (
    "SELECT b.bet_id, u.address, b.column_index, b.row_index, b.lower_cents, b.upper_cents,"
    " b.amount_cents, b.multiplier_e4, b.quote_id, b.status, b.payout_cents, b.placed_ms, b.resolved_ms"
    " FROM bets b JOIN users u ON u.id = b.user_id"
)


@dataclass(frozen=True, slots=True)
class Account:
    user_id: int
    balance: int
    limits: LimitState


class ArchivedRange(Exception):
    """The rows asked for are in weeks only cold storage holds."""

    def __init__(self, weeks: list[str]) -> None:
        super().__init__(
            f"history of {', '.join(sorted(weeks))} is archived; an operator can restore it"
            " (taptrade archive restore WEEK)"
        )
        self.weeks = weeks


@dataclass(frozen=True, slots=True)
class UserWeek:
    """One user's part of a rotated week, from live.db's checkpoint."""

    week: str
    first_id: int
    last_id: int
    bets: int
    min_column: int | None
    max_column: int | None

    def has_bets_in(
        self, column_from: int | None, column_to: int | None, before: tuple[int, int] | None
    ) -> bool:
        if not self.bets or self.min_column is None or self.max_column is None:
            return False
        return (
            (column_from is None or self.max_column >= column_from)
            and (column_to is None or self.min_column < column_to)
            and (before is None or self.min_column <= before[0])
        )


class History:
    """Opens live.db read-only on first use (the ledger creates it), and week files as they are needed."""

    def __init__(self, path: Path, weeks_dir: Path | None = None) -> None:
        self._path = path
        self._weeks_dir = weeks_dir if weeks_dir is not None else path.parent / "weeks"
        self._conn: sqlite3.Connection | None = None
        self._week_conns: dict[str, sqlite3.Connection] = {}

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.open_reader(self._path)
        return self._conn

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM users LIMIT 1").fetchall()

    def account(self, address: str) -> Account | None:
        row = self.conn.execute(
            f"SELECT id, balance_cents, {LIMIT_COLUMNS} FROM users WHERE address = ?", (address,)
        ).fetchone()
        return None if row is None else Account(row[0], row[1], limit_state(row[2:]))

    def balance(self, address: str) -> int:
        account = self.account(address)
        return 0 if account is None else account.balance

    def bet(self, bet_key: bytes) -> tuple[BetRecord, str] | None:
        """A bet by its 16-byte id, with its owner's address: live.db first, then local week files."""
        sql = f"{_BET_SELECT} WHERE b.bet_id = ?"
        row = self.conn.execute(sql, (bet_key,)).fetchone()
        if row is None:
            local = "SELECT week FROM weeks WHERE file IS NOT NULL ORDER BY week DESC"
            for (week,) in self.conn.execute(local):
                week_conn = self._week(week)
                if week_conn is not None and (row := week_conn.execute(sql, (bet_key,)).fetchone()):
                    break
        return None if row is None else (bet_row_to_record(row), row[1])

    def bets(
        self,
        user_id: int,
        *,
        status: str | None,
        column_from: int | None,
        column_to: int | None,
        before: tuple[int, int] | None,
        limit: int,
    ) -> list[BetRecord]:
        """Newest window first: by (column, row) descending, the order of the (user, cell) index."""
        clauses, params = ["b.user_id = ?"], [user_id]
        if status is not None:
            clauses.append("b.status = ?")
            params.append(status)  # type: ignore[arg-type]
        if column_from is not None:
            clauses.append("b.column_index >= ?")
            params.append(column_from)
        if column_to is not None:
            clauses.append("b.column_index < ?")
            params.append(column_to)
        if before is not None:
            clauses.append("(b.column_index, b.row_index) < (?, ?)")
            params.extend(before)
        sql = (
            f"{_BET_SELECT} WHERE {' AND '.join(clauses)}"
            " ORDER BY b.column_index DESC, b.row_index DESC LIMIT ?"
        )
        # Week files hold only settled bets, so a query for open ones never needs them.
        weeks = [] if status == "confirmed" else [
            w for w in self.user_weeks(user_id) if w.has_bets_in(column_from, column_to, before)
        ]  # fmt: skip
        rows, missing = self._merged(weeks, sql, (*params, limit), key=lambda r: (r[2], r[3]), limit=limit)
        if missing and (len(rows) < limit or rows[-1][2] <= max(w.max_column or 0 for w in missing)):
            raise ArchivedRange([w.week for w in missing])
        return [bet_row_to_record(row) for row in rows]

    def ledger(self, user_id: int, *, before_id: int | None, limit: int) -> list[EntryRecord]:
        before = before_id if before_id is not None else 2**62
        weeks = [w for w in self.user_weeks(user_id) if w.first_id < before]
        rows, missing = self._merged(weeks, _LEDGER_SELECT, (user_id, before, limit), key=lambda r: r[0],
                                     limit=limit)  # fmt: skip
        if missing and (len(rows) < limit or rows[-1][0] <= max(w.last_id for w in missing)):
            raise ArchivedRange([w.week for w in missing])
        return [_entry(*row) for row in rows]

    def user_weeks(self, user_id: int) -> list[UserWeek]:
        rows = self.conn.execute(
            "SELECT week, first_ledger_id, last_ledger_id, bets, min_column, max_column FROM checkpoints"
            " WHERE user_id = ? ORDER BY week DESC",
            (user_id,),
        ).fetchall()
        return [UserWeek(*row) for row in rows]

    def _merged(
        self, weeks: list[UserWeek], sql: str, params: tuple[object, ...], *, key: Any, limit: int
    ) -> tuple[list[Any], list[UserWeek]]:
        """The newest `limit` rows of live.db and the given weeks' files, and the weeks not kept locally."""
        rows = self.conn.execute(sql, params).fetchall()
        missing: list[UserWeek] = []
        for week in weeks:
            week_conn = self._week(week.week)
            if week_conn is None:
                missing.append(week)
            else:
                rows.extend(week_conn.execute(sql, params).fetchall())
        if weeks:
            rows.sort(key=key, reverse=True)
        return rows[:limit], missing

    def _week(self, week: str) -> sqlite3.Connection | None:
        """A read-only connection to a local week file, or None if it is not here (archived and purged)."""
        path = week_file_path(self._weeks_dir, week)
        conn = self._week_conns.get(week)
        if not path.is_file():
            if conn is not None:
                conn.close()
                del self._week_conns[week]
            return None
        if conn is None:
            conn = self._week_conns[week] = db.open_reader(path)
        return conn

    def column(self, column: int) -> tuple[object, ...] | None:
        row = self.conn.execute(
            "SELECT status, open_cents, high_cents, low_cents, close_cents, ticks FROM columns"
            " WHERE column_index = ?",
            (column,),
        ).fetchone()
        return None if row is None else tuple(row)


_LEDGER_SELECT = (
    "SELECT l.id, l.kind, l.amount_cents, l.balance_after_cents, l.ref, b.bet_id, l.created_ms,"
    " l.meta FROM ledger l LEFT JOIN bets b ON b.id = l.bet_ref"
    " WHERE l.user_id = ? AND l.id < ? ORDER BY l.id DESC LIMIT ?"
)


def _entry(
    entry_id: int,
    kind: str,
    amount: int,
    after: int,
    ref: str | None,
    bet_key: bytes | None,
    at: int,
    meta: str | None,
) -> EntryRecord:
    """A ledger row as the API shows it: a bet's rows refer to the bet by its id."""
    if bet_key is not None:
        ref = str(uuid.UUID(bytes=bet_key))
    return EntryRecord(
        id=entry_id, kind=kind, amount=amount, balance_after=after, ref=ref, created_ms=at, meta=meta
    )
