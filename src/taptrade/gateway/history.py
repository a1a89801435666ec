"""History reads for the API: a user's balance, bets and ledger, through read-only SQLite connections.
Never the writer; only the owner's rows (every query is keyed by the user)."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from taptrade.commands import BetRecord, EntryRecord
from taptrade.ledger import db
from taptrade.ledger.store import bet_row_to_record

_BET_SELECT = (
    "SELECT b.bet_id, u.address, b.column_index, b.row_index, b.lower_cents, b.upper_cents,"
    " b.amount_cents, b.multiplier_e4, b.quote_id, b.status, b.payout_cents, b.placed_ms, b.resolved_ms"
    " FROM bets b JOIN users u ON u.id = b.user_id"
)


@dataclass(frozen=True, slots=True)
class Account:
    user_id: int
    balance: int


class History:
    """Opens live.db read-only on first use (the ledger creates it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.open_reader(self._path)
        return self._conn

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM users LIMIT 1").fetchall()

    def account(self, address: str) -> Account | None:
        row = self.conn.execute(
            "SELECT id, balance_cents FROM users WHERE address = ?", (address,)
        ).fetchone()
        return None if row is None else Account(row[0], row[1])

    def balance(self, address: str) -> int:
        account = self.account(address)
        return 0 if account is None else account.balance

    def bet(self, bet_key: bytes) -> tuple[BetRecord, str] | None:
        """A bet by its 16-byte id, with its owner's address."""
        row = self.conn.execute(f"{_BET_SELECT} WHERE b.bet_id = ?", (bet_key,)).fetchone()
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
        rows = self.conn.execute(sql, (*params, limit)).fetchall()
        return [bet_row_to_record(row) for row in rows]

    def ledger(self, user_id: int, *, before_id: int | None, limit: int) -> list[EntryRecord]:
        rows = self.conn.execute(
            "SELECT l.id, l.kind, l.amount_cents, l.balance_after_cents, l.ref, b.bet_id, l.created_ms,"
            " l.meta FROM ledger l LEFT JOIN bets b ON b.id = l.bet_ref"
            " WHERE l.user_id = ? AND l.id < ? ORDER BY l.id DESC LIMIT ?",
            (user_id, before_id if before_id is not None else 2**62, limit),
        ).fetchall()
        return [_entry(*row) for row in rows]

    def loss_since(self, user_id: int, since_ms: int) -> int:
        """Net loss from betting since `since_ms` (stakes minus payouts and refunds), never negative."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger"
            " WHERE user_id = ? AND kind IN ('BET', 'PAYOUT', 'REFUND') AND created_ms >= ?",
            (user_id, since_ms),
        ).fetchone()
        return max(0, -int(row[0]))

    def column(self, column: int) -> tuple[object, ...] | None:
        row = self.conn.execute(
            "SELECT status, open_cents, high_cents, low_cents, close_cents, ticks FROM columns"
            " WHERE column_index = ?",
            (column,),
        ).fetchone()
        return None if row is None else tuple(row)


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
