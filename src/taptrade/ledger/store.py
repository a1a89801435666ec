"""The money core: applies a batch of intake commands to live.db in one transaction (group commit).

Each command runs under its own SAVEPOINT, so a rejected or failing command is rolled back alone and
never poisons the batch. Every balance change is a conditional UPDATE ... RETURNING plus exactly one
ledger row carrying `balance_after`. Before COMMIT the batch's ledger rows are summed and checked
against what the commands meant to move; a mismatch rolls everything back and stops the process.

Errors of the database itself (disk full, I/O) fail the whole batch with `BatchFailed`: nothing of it is
committed, and the caller retries later from the intake stream.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from taptrade.clock import Clock, utc_day
from taptrade.commands import (
    Adjust,
    BetRecord,
    Code,
    Command,
    Deposit,
    EntryRecord,
    LimitsRecord,
    MoneyCommand,
    PlaceBet,
    SetLimits,
    UserEvent,
    Withdraw,
)
from taptrade.grid import GridSpec
from taptrade.ledger.resolution import ColumnOutcome
from taptrade.limits import LimitsError, LimitState
from taptrade.money import MAX_AMOUNT_CENTS
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

ADDRESS_RE = re.compile(r"0x[0-9a-f]{40}")
# Bet ids are stored as 16 bytes; the canonical text form (lowercase, hyphenated) is the only one accepted.
BET_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COMMAND_ID_MAX_LEN = 64
REASON_MAX_LEN = 500

_BET_COLUMNS = (
    "b.bet_id, u.address, b.column_index, b.row_index, b.lower_cents, b.upper_cents, b.amount_cents, "
    "b.multiplier_e4, b.quote_id, b.status, b.payout_cents, b.placed_ms, b.resolved_ms"
)
_ENTRY_COLUMNS = "id, kind, amount_cents, balance_after_cents, ref, created_ms, meta"
# What a settlement step reads back of each bet it settles: its row id and owner, then a BetRecord's fields
# but the address (`_settled_record`).
_SETTLED_COLUMNS = (
    "id, user_id, bet_id, column_index, row_index, lower_cents, upper_cents, amount_cents, multiplier_e4,"
    " quote_id, status, payout_cents, placed_ms, resolved_ms"
)


class Rejection(Exception):
    """A command the rules refuse; nothing it did is kept."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BatchFailed(Exception):
    """The database failed under the batch; nothing of it was committed.

    `storage` says the failure was the storage refusing writes (the disk is full, or an I/O error): it
    lasts until an operator acts, so retrying the batch would only hold its callers; a lock or a busy
    database passes, and is worth retrying."""

    def __init__(self, message: str, *, storage: bool = False) -> None:
        super().__init__(message)
        self.storage = storage

    @classmethod
    def of(cls, exc: sqlite3.Error, what: str = "") -> BatchFailed:
        # An extended code (SQLITE_IOERR_WRITE, ...) carries its primary code in the low byte.
        primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        message = f"{what}: {exc}" if what else str(exc)
        return cls(message, storage=primary in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR))


class InvariantViolation(Exception):
    """The batch's ledger rows do not add up: a bug that must stop the writer."""


@dataclass(frozen=True, slots=True)
class LedgerRules:
    grid: GridSpec
    stake_presets_cents: frozenset[int]
    multiplier_min_e4: int
    multiplier_max_e4: int
    # How far ahead of the ledger's clock a gateway's placement time may be (clock skew between processes).
    placed_ahead_tolerance_ms: int = 1000


@dataclass(slots=True)
class Outcome:
    """What one command produced: the answer to its sender and the events for its owner."""

    code: Code
    message: str = ""
    balance: int | None = None
    bet: BetRecord | None = None
    entry: EntryRecord | None = None
    limits: LimitsRecord | None = None
    duplicate: bool = False
    events: list[UserEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


def bet_row_to_record(row: Sequence[object]) -> BetRecord:
    (bid, address, column, row_index, lower, upper, amount, mult, quote_id, status, payout, placed,
     resolved) = row  # fmt: skip
    assert isinstance(bid, bytes)
    return msgspec.convert(
        {
            "bet_id": str(uuid.UUID(bytes=bid)),
            "address": address,
            "column": column,
            "row": row_index,
            "lower": lower,
            "upper": upper,
            "amount": amount,
            "multiplier_e4": mult,
            "quote_id": quote_id,
            "status": status,
            "payout": payout,
            "placed_ms": placed,
            "resolved_ms": resolved,
        },
        BetRecord,
    )


def entry_row_to_record(row: Sequence[object]) -> EntryRecord:
    entry_id, kind, amount, balance_after, ref, created, meta = row
    return msgspec.convert(
        {
            "id": entry_id,
            "kind": kind,
            "amount": amount,
            "balance_after": balance_after,
            "ref": ref,
            "created_ms": created,
            "meta": meta,
        },
        EntryRecord,
    )


@dataclass(frozen=True, slots=True)
class ResolutionStep:
    new: bool  # the column was recorded by this step
    events: list[UserEvent]  # its owners' events (bet settled, balance)
    finished: bool  # no open bet is left in the column: the resolver moves on
    settled: int
    outcome: ColumnOutcome  # what the bets were settled by: the column as recorded


class LedgerStore:
    """Applies commands to live.db through the single writer connection."""

    def __init__(self, conn: sqlite3.Connection, rules: LedgerRules, clock: Clock) -> None:
        self._conn = conn
        # One cursor for the hot path: a fresh one per statement costs more than the statement's Python side.
        self._sql = conn.cursor()
        self._rules = rules
        self._clock = clock
        # address -> users.id for committed users; ids are never reused while the cache is trusted.
        self._user_ids: dict[str, int] = {}
        self._created_in_command: list[str] = []
        self._now_ms = 0
        self._moved_cents = 0
        self._rows_written = 0
        self._touched_users: set[int] = set()
        self._last_ledger_id = self._read_ledger_counter()

    def _read_ledger_counter(self) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = 'ledger_id'").fetchone()
        return int(row[0])

    # --- resolution ----------------------------------------------------------------------------

    def apply_resolution(self, outcome: ColumnOutcome, next_column: int) -> tuple[bool, list[UserEvent]]:
        """Record a column's outcome and settle all its bets in one transaction (see `resolution_step`).
        Returns whether the column was new, and the owners' events."""
        step = self.resolution_step(outcome, next_column, max_bets=None)
        return step.new, step.events

    def resolution_step(
        self, outcome: ColumnOutcome, next_column: int, *, max_bets: int | None
    ) -> ResolutionStep:
        """One transaction of a column's resolution: record the outcome (if not yet), settle up to
        `max_bets` of its open bets — won bets paid (PAYOUT), lost bets closed, or refunded (REFUND) when
        the column is void — and, once none is left open, move `next_column` on so the resolver goes on.

        A busy column is settled in several steps with bet batches between them, so bets never wait for
        a whole column's settlement. The steps settle by the outcome *as recorded*, and only bets still
        open: a step after a crash finishes the column exactly as the first began it, and nothing is
        paid twice."""
        with self._transaction():
            new = self._record_column(outcome)
            if not new:
                outcome = self._recorded_outcome(outcome)
            events, settled = self._settle_bets(outcome, max_bets)
            finished = max_bets is None or settled < max_bets
            if finished:
                self._conn.execute(
                    "INSERT INTO counters (name, value) VALUES ('next_column', ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (next_column,),
                )
        return ResolutionStep(new, events, finished, settled, outcome)

    def _recorded_outcome(self, outcome: ColumnOutcome) -> ColumnOutcome:
        status, high, low = self._conn.execute(
            "SELECT status, high_cents, low_cents FROM columns WHERE column_index = ?", (outcome.column,)
        ).fetchone()
        return replace(outcome, status=status, high=high, low=low)

    def _record_column(self, outcome: ColumnOutcome) -> bool:
        grid = self._rules.grid
        cursor = self._conn.execute(
            "INSERT INTO columns (column_index, start_ms, end_ms, status, open_cents, high_cents, low_cents,"
            " close_cents, ticks, first_trade_id, last_trade_id, void_reason, resolved_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (column_index) DO NOTHING",
            (outcome.column, grid.column_start_ms(outcome.column), grid.column_end_ms(outcome.column),
             outcome.status, outcome.open, outcome.high, outcome.low, outcome.close, outcome.ticks,
             outcome.first_trade_id, outcome.last_trade_id, outcome.void_reason, self._now_ms),
        )  # fmt: skip
        return cursor.rowcount == 1

    def _settle_bets(self, outcome: ColumnOutcome, max_bets: int | None) -> tuple[list[UserEvent], int]:
        """Settle up to `max_bets` of the column's open bets in three statements whatever their number: the
        bets (decided and returned), their owners (credits and event numbers, one row each), and the ledger
        rows of the credits. Row by row this took 2-3 statements a bet and held the single writer for most
        of a second per busy column (docs/resolution.md)."""
        # The column's open bets, oldest first, at most max_bets of them (LIMIT -1: all of them).
        chosen = (
            "id IN (SELECT id FROM bets WHERE column_index = ? AND status = 'confirmed' ORDER BY id LIMIT ?)"
        )
        limit = -1 if max_bets is None else max_bets
        if outcome.status == "void":
            settled = self._conn.execute(
                "UPDATE bets SET status = 'void', payout_cents = amount_cents, resolved_ms = ?"
                f" WHERE {chosen} RETURNING {_SETTLED_COLUMNS}",
                (self._now_ms, outcome.column, limit),
            ).fetchall()
        else:
            # Set-based: one statement decides the chosen bets by DESIGN §6's touch rule.
            won = "lower_cents <= ? AND upper_cents >= ?"
            settled = self._conn.execute(
                f"UPDATE bets SET status = CASE WHEN {won} THEN 'won' ELSE 'lost' END,"
                f" payout_cents = CASE WHEN {won} THEN amount_cents * multiplier_e4 / 10000 ELSE 0 END,"
                f" resolved_ms = ? WHERE {chosen} RETURNING {_SETTLED_COLUMNS}",
                (outcome.high, outcome.low, outcome.high, outcome.low, self._now_ms, outcome.column, limit),
            ).fetchall()
        if not settled:
            return [], 0
        settled.sort()  # by bets.id: owners' events and ledger rows in the order the bets were placed
        credits = [_credit(status, payout) for *_, status, payout, _placed, _resolved in settled]
        # Per owner: [credit, events]. A credit (payout, refund) is a bet event and a balance event.
        owed: dict[int, list[int]] = {}
        for (_bet, user_id, *_), credit in zip(settled, credits, strict=True):
            totals = owed.setdefault(user_id, [0, 0])
            totals[0] += credit
            totals[1] += 2 if credit > 0 else 1
        owners = {
            user_id: (address, balance, seq)
            for user_id, address, balance, seq in self._conn.execute(
                _SETTLE_OWNERS,
                (msgspec.json.encode([[u, c, e] for u, (c, e) in owed.items()]), utc_day(self._now_ms)),
            ).fetchall()
        }
        if len(owners) != len(owed):
            raise InvariantViolation(f"settled bets name {len(owed)} owners; {len(owners)} were updated")
        # Walk each owner's bets in order from where their balance and event number stood before.
        running = {
            user_id: [owners[user_id][1] - credit, owners[user_id][2] - events]
            for user_id, (credit, events) in owed.items()
        }
        events: list[UserEvent] = []
        entries: list[tuple[int, str, int, int, int]] = []
        for (bet_rowid, user_id, *bet_fields), credit in zip(settled, credits, strict=True):
            address = owners[user_id][0]
            bet = _settled_record(address, bet_fields)
            state = running[user_id]
            if credit > 0:
                state[0] += credit
                state[1] += 2
                entries.append(
                    (user_id, "PAYOUT" if bet.status == "won" else "REFUND", credit, state[0], bet_rowid)
                )
                events.append(UserEvent(address=address, seq=state[1] - 1, type="bet", bet=bet))
                events.append(UserEvent(address=address, seq=state[1], type="balance", balance=state[0]))
            else:
                state[1] += 1
                events.append(UserEvent(address=address, seq=state[1], type="bet", bet=bet))
        self._write_credit_entries(entries)
        return events, len(settled)

    def _write_credit_entries(self, entries: list[tuple[int, str, int, int, int]]) -> None:
        """Ledger rows (user, kind, amount, balance after, bet) numbered on from the ledger counter, as
        `_write_entry` numbers one."""
        first = self._last_ledger_id + 1
        self._sql.executemany(
            "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, bet_ref, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(user_id, first + n, kind, amount, balance, bet_ref, self._now_ms)
             for n, (user_id, kind, amount, balance, bet_ref) in enumerate(entries)],
        )  # fmt: skip
        self._last_ledger_id += len(entries)
        self._moved_cents += sum(entry[2] for entry in entries)
        self._rows_written += len(entries)
        self._touched_users.update(entry[0] for entry in entries)

    # --- batch ---------------------------------------------------------------------------------

    def apply_batch(self, commands: Sequence[Command]) -> list[Outcome]:
        """One transaction for the whole batch; one outcome per command, in order."""
        with self._transaction():
            return [self._apply_one(command) for command in commands]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: its ledger rows are read back and checked before COMMIT, with the id
        counter; a failure of the database itself rolls it all back as `BatchFailed`."""
        self._now_ms = self._clock.now_ms()
        self._moved_cents = 0
        self._rows_written = 0
        self._touched_users.clear()
        last_id_before = self._last_ledger_id
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            yield
            self._check_batch_sums(last_id_before)
            self._conn.execute(
                "UPDATE counters SET value = ? WHERE name = 'ledger_id'", (self._last_ledger_id,)
            )
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._abandon()
            raise BatchFailed.of(exc) from exc
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        # Users created in the abandoned transaction no longer exist; nor do the rows it numbered.
        self._user_ids.clear()
        self._last_ledger_id = self._read_ledger_counter()

    def _check_batch_sums(self, last_id_before: int) -> None:
        """Read back what the batch wrote, through the table, and compare with what it meant to move."""
        total, count = self._conn.execute(
            "SELECT COALESCE(SUM(amount_cents), 0), COUNT(*) FROM ledger"
            " WHERE user_id IN (SELECT value FROM json_each(?)) AND id > ?",
            (msgspec.json.encode(sorted(self._touched_users)), last_id_before),
        ).fetchone()
        if total != self._moved_cents or count != self._rows_written:
            raise InvariantViolation(
                f"batch ledger rows sum to {total} in {count} rows; "
                f"commands moved {self._moved_cents} in {self._rows_written}"
            )

    def _apply_one(self, command: Command) -> Outcome:
        sql = self._sql
        self._created_in_command = []
        sql.execute("SAVEPOINT cmd")
        moved_before, rows_before = self._moved_cents, self._rows_written
        try:
            if isinstance(command, PlaceBet):
                outcome = self._place_bet(command)
            elif isinstance(command, SetLimits):
                outcome = self._set_limits(command)
            else:
                outcome = self._move_money(command)
        except Rejection as rejection:
            self._undo_command(moved_before, rows_before)
            return Outcome(rejection.code, rejection.message)
        except sqlite3.OperationalError:
            raise  # the database itself failed: the whole batch goes
        except Exception:
            log.exception("command_failed", kind=type(command).__name__)
            self._undo_command(moved_before, rows_before)
            return Outcome(Code.INTERNAL_ERROR, "the ledger could not apply this command")
        sql.execute("RELEASE cmd")
        return outcome

    def _undo_command(self, moved_before: int, rows_before: int) -> None:
        self._conn.execute("ROLLBACK TO cmd")
        self._conn.execute("RELEASE cmd")
        self._moved_cents, self._rows_written = moved_before, rows_before
        for address in self._created_in_command:
            self._user_ids.pop(address, None)

    # --- users ---------------------------------------------------------------------------------

    def _user_id(self, address: str, create: bool) -> int | None:
        user_id = self._user_ids.get(address)
        if user_id is not None:
            return user_id
        row = self._conn.execute("SELECT id FROM users WHERE address = ?", (address,)).fetchone()
        if row is None:
            if not create:
                return None
            row = self._conn.execute(
                "INSERT INTO users (address, created_ms) VALUES (?, ?) RETURNING id",
                (address, self._now_ms),
            ).fetchone()
            self._created_in_command.append(address)
        user_id = int(row[0])
        self._user_ids[address] = user_id
        return user_id

    def _balance(self, user_id: int) -> int:
        row = self._conn.execute("SELECT balance_cents FROM users WHERE id = ?", (user_id,)).fetchone()
        return int(row[0])

    def _change_balance(
        self, user_id: int, delta: int, events: int, betting: bool = False
    ) -> tuple[int, int] | None:
        """Add `delta` if the balance stays >= 0; returns (new balance, new event seq), else None.
        Betting money (payouts, refunds) also lowers the day's net loss."""
        row = self._sql.execute(
            "UPDATE users SET balance_cents = balance_cents + ?1, event_seq = event_seq + ?2,"
            " loss_today_cents = (CASE WHEN loss_day = ?4 THEN loss_today_cents ELSE 0 END) - ?5,"
            " loss_day = ?4"
            " WHERE id = ?3 AND balance_cents + ?1 >= 0 RETURNING balance_cents, event_seq",
            (delta, events, user_id, utc_day(self._now_ms), delta if betting else 0),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _debit_stake(self, user_id: int, amount: int) -> tuple[int, int]:
        """Take a stake in one conditional UPDATE that also enforces the user's pause and daily loss
        limit (taptrade.limits) and adds it to the day's loss; returns (new balance, new event seq)."""
        row = self._sql.execute(
            _DEBIT_STAKE, (amount, utc_day(self._now_ms), user_id, self._now_ms)
        ).fetchone()
        if row is not None:
            return row[0], row[1]
        refusal = self._limit_state(user_id).refusal(self._now_ms, amount)
        if refusal == "cooling_down":
            raise Rejection(Code.COOLING_DOWN, "you paused betting; the pause has not ended")
        if refusal == "loss_limit":
            raise Rejection(Code.LOSS_LIMIT, "this stake would take today's losses above your daily limit")
        raise Rejection(Code.INSUFFICIENT_FUNDS, "balance below stake")

    def _limit_state(self, user_id: int) -> LimitState:
        row = self._conn.execute(f"SELECT {LIMIT_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return limit_state(row)

    def _write_entry(
        self,
        user_id: int,
        kind: str,
        amount: int,
        balance_after: int,
        bet_ref: int | None = None,
        ref: str | None = None,
        meta: str | None = None,
    ) -> int:
        entry_id = self._last_ledger_id + 1
        self._sql.execute(
            "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, bet_ref, ref, meta,"
            " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (user_id, entry_id, kind, amount, balance_after, bet_ref, ref, meta, self._now_ms),
        )
        self._last_ledger_id = entry_id
        self._moved_cents += amount
        self._rows_written += 1
        self._touched_users.add(user_id)
        return entry_id

    # --- bets ----------------------------------------------------------------------------------

    def _place_bet(self, cmd: PlaceBet) -> Outcome:
        bet_key = self._check_bet(cmd)
        user_id = self._user_id(cmd.address, create=False)
        if user_id is None:
            raise Rejection(Code.INSUFFICIENT_FUNDS, "no balance")
        grid = self._rules.grid
        lower, upper = grid.row_lower_cents(cmd.row), grid.row_upper_cents(cmd.row)
        try:
            cursor = self._sql.execute(
                "INSERT INTO bets (bet_id, user_id, column_index, row_index, lower_cents, upper_cents,"
                " amount_cents, multiplier_e4, quote_id, placed_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (bet_key, user_id, cmd.column, cmd.row, lower, upper, cmd.amount,
                 cmd.multiplier_e4, cmd.quote_id, cmd.placed_ms),
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
                raise
            return self._repeated_bet(cmd, bet_key, user_id)
        bet_rowid = cursor.lastrowid
        balance, seq = self._debit_stake(user_id, cmd.amount)
        self._write_entry(user_id, "BET", -cmd.amount, balance, bet_ref=bet_rowid)
        bet = BetRecord(
            bet_id=cmd.bet_id,
            address=cmd.address,
            column=cmd.column,
            row=cmd.row,
            lower=lower,
            upper=upper,
            amount=cmd.amount,
            multiplier_e4=cmd.multiplier_e4,
            quote_id=cmd.quote_id,
            status="confirmed",
            payout=None,
            placed_ms=cmd.placed_ms,
            resolved_ms=None,
        )
        events = [
            UserEvent(address=cmd.address, seq=seq - 1, type="bet", bet=bet),
            UserEvent(address=cmd.address, seq=seq, type="balance", balance=balance),
        ]
        return Outcome(Code.OK, balance=balance, bet=bet, events=events)

    def _check_bet(self, cmd: PlaceBet) -> bytes:
        """Every rule the ledger itself enforces on a bet; returns the bet id's 16 bytes."""
        rules = self._rules
        _check_address(cmd.address)
        if not BET_ID_RE.fullmatch(cmd.bet_id):
            raise Rejection(Code.BAD_COMMAND, "bet_id must be a lowercase hyphenated UUID")
        if cmd.amount not in rules.stake_presets_cents:
            raise Rejection(Code.BAD_STAKE, f"stake {cmd.amount} is not a preset")
        if not rules.multiplier_min_e4 <= cmd.multiplier_e4 <= rules.multiplier_max_e4:
            raise Rejection(Code.BAD_COMMAND, "multiplier out of range")
        if cmd.column < 0 or cmd.row < 0 or cmd.quote_id < 0:
            raise Rejection(Code.BAD_COMMAND, "column, row and quote_id must not be negative")
        grid = rules.grid
        if cmd.placed_ms > self._now_ms + rules.placed_ahead_tolerance_ms:
            raise Rejection(Code.BAD_COMMAND, "placed_ms is in the future")
        if not grid.is_placeable(cmd.column, cmd.placed_ms):
            raise Rejection(Code.CELL_NOT_PLACEABLE, "column not placeable at placement time")
        if self._now_ms >= grid.column_start_ms(cmd.column):
            raise Rejection(Code.CELL_NOT_PLACEABLE, "too late: the column has started")
        return bytes.fromhex(cmd.bet_id.replace("-", ""))

    def _repeated_bet(self, cmd: PlaceBet, bet_key: bytes, user_id: int) -> Outcome:
        """The insert hit a unique index: the same bet again, another bet under its id, or a taken cell."""
        row = self._conn.execute(
            f"SELECT {_BET_COLUMNS}, b.user_id FROM bets b JOIN users u ON u.id = b.user_id "
            "WHERE b.bet_id = ?",
            (bet_key,),
        ).fetchone()
        if row is None:
            raise Rejection(Code.CELL_TAKEN, "you already have a bet on this cell")
        stored = bet_row_to_record(row[:-1])
        same = (row[-1], stored.column, stored.row, stored.amount) == (
            user_id,
            cmd.column,
            cmd.row,
            cmd.amount,
        )
        if not same:
            raise Rejection(Code.BET_ID_CONFLICT, "this bet_id names another bet")
        return Outcome(Code.OK, balance=self._balance(user_id), bet=stored, duplicate=True)

    # --- responsible play -----------------------------------------------------------------------

    def _set_limits(self, cmd: SetLimits) -> Outcome:
        _check_address(cmd.address)
        user_id = self._user_id(cmd.address, create=True)
        assert user_id is not None
        try:
            state = self._limit_state(user_id).with_change(
                self._now_ms, set_limit=cmd.set_limit, limit=cmd.daily_loss_limit,
                pause_minutes=cmd.pause_minutes,
            )  # fmt: skip
        except LimitsError as exc:
            raise Rejection(Code.BAD_COMMAND, str(exc)) from None
        self._conn.execute(
            "UPDATE users SET loss_limit_cents = ?, loss_limit_next_cents = ?, loss_limit_next_ms = ?,"
            " paused_until_ms = ? WHERE id = ?",
            (state.limit, state.next_limit, state.next_from_ms, state.paused_until_ms, user_id),
        )
        log.info("limits_set", address=cmd.address, daily_loss_limit=state.limit,
                 next_limit=state.next_limit, next_from_ms=state.next_from_ms,
                 paused_until_ms=state.paused_until_ms)  # fmt: skip
        return Outcome(Code.OK, limits=state.record(self._now_ms))

    # --- deposits, withdrawals, adjustments ----------------------------------------------------

    def _move_money(self, cmd: MoneyCommand) -> Outcome:
        _check_address(cmd.address)
        if not 0 < len(cmd.command_id) <= COMMAND_ID_MAX_LEN:
            raise Rejection(Code.BAD_COMMAND, f"command_id must be 1-{COMMAND_ID_MAX_LEN} characters")
        if cmd.reason is not None and len(cmd.reason) > REASON_MAX_LEN:
            raise Rejection(Code.BAD_COMMAND, f"reason longer than {REASON_MAX_LEN} characters")
        if isinstance(cmd, Adjust):
            kind, delta = "ADJUSTMENT", cmd.amount
            if cmd.amount == 0 or abs(cmd.amount) > MAX_AMOUNT_CENTS:
                raise Rejection(Code.BAD_COMMAND, "adjustment must be non-zero and within limits")
            if not cmd.reason.strip():
                raise Rejection(Code.BAD_COMMAND, "an adjustment needs a reason")
        else:
            if not 0 < cmd.amount <= MAX_AMOUNT_CENTS:
                raise Rejection(Code.BAD_COMMAND, f"amount must be 1..{MAX_AMOUNT_CENTS} cents")
            kind, delta = ("DEPOSIT", cmd.amount) if isinstance(cmd, Deposit) else ("WITHDRAWAL", -cmd.amount)
        user_id = self._user_id(cmd.address, create=delta > 0)
        if user_id is None:
            raise Rejection(Code.INSUFFICIENT_FUNDS, "no balance")
        repeated = self._repeated_command(cmd, kind, delta, user_id)
        if repeated is not None:
            return repeated
        changed = self._change_balance(user_id, delta, events=1)
        if changed is None:
            raise Rejection(Code.INSUFFICIENT_FUNDS, "balance below amount")
        balance, seq = changed
        meta = msgspec.json.encode({"reason": cmd.reason}).decode() if cmd.reason else None
        entry_id = self._write_entry(user_id, kind, delta, balance, ref=cmd.command_id, meta=meta)
        entry = EntryRecord(
            id=entry_id,
            kind=kind,
            amount=delta,
            balance_after=balance,
            ref=cmd.command_id,
            created_ms=self._now_ms,
            meta=meta,
        )
        event = UserEvent(address=cmd.address, seq=seq, type="balance", balance=balance)
        return Outcome(Code.OK, balance=balance, entry=entry, events=[event])

    def _repeated_command(
        self, cmd: Deposit | Withdraw | Adjust, kind: str, delta: int, user_id: int
    ) -> Outcome | None:
        row = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS}, user_id FROM ledger WHERE ref = ?", (cmd.command_id,)
        ).fetchone()
        if row is None:
            return None
        entry = entry_row_to_record(row[:-1])
        if (entry.kind, entry.amount, row[-1]) != (kind, delta, user_id):
            raise Rejection(Code.COMMAND_ID_CONFLICT, "this command_id names another command")
        return Outcome(Code.OK, balance=self._balance(user_id), entry=entry, duplicate=True)


LIMIT_COLUMNS = (
    "loss_limit_cents, loss_limit_next_cents, loss_limit_next_ms, paused_until_ms, loss_day, loss_today_cents"
)

# The stake's debit with the pause and the daily loss limit (a pending raise counts once due) checked in
# the same statement: ?1 stake, ?2 UTC day, ?3 user id, ?4 now.
_LOSS_TODAY = "(CASE WHEN loss_day = ?2 THEN loss_today_cents ELSE 0 END)"
_LIMIT_NOW = "(CASE WHEN loss_limit_next_ms <= ?4 THEN loss_limit_next_cents ELSE loss_limit_cents END)"
_DEBIT_STAKE = (
    "UPDATE users SET balance_cents = balance_cents - ?1, event_seq = event_seq + 2,"
    f" loss_today_cents = {_LOSS_TODAY} + ?1, loss_day = ?2"
    " WHERE id = ?3 AND balance_cents >= ?1 AND (paused_until_ms IS NULL OR paused_until_ms <= ?4)"
    f" AND ({_LIMIT_NOW} IS NULL OR {_LOSS_TODAY} + ?1 <= {_LIMIT_NOW})"
    " RETURNING balance_cents, event_seq"
)


# A settlement step's owners in one statement: ?1 is JSON [[user id, credit, events], ...], ?2 the UTC day.
# A credit is betting money, so it also lowers the day's net loss (as `_change_balance(betting=True)`).
_SETTLE_OWNERS = (
    "UPDATE users SET balance_cents = balance_cents + s.credit, event_seq = event_seq + s.events,"
    f" loss_today_cents = CASE WHEN s.credit = 0 THEN loss_today_cents ELSE {_LOSS_TODAY} - s.credit END,"
    " loss_day = CASE WHEN s.credit = 0 THEN loss_day ELSE ?2 END"
    " FROM (SELECT value ->> 0 AS user_id, value ->> 1 AS credit, value ->> 2 AS events"
    " FROM json_each(?1)) AS s"
    " WHERE users.id = s.user_id RETURNING users.id, users.address, users.balance_cents, users.event_seq"
)


def limit_state(row: Sequence[object]) -> LimitState:
    """A user's LimitState from the LIMIT_COLUMNS of their row."""
    limit, next_limit, next_from, paused, day, loss = row
    return msgspec.convert(
        {"limit": limit, "next_limit": next_limit, "next_from_ms": next_from, "paused_until_ms": paused,
         "loss_day": day, "loss": loss},
        LimitState,
    )  # fmt: skip


def _check_address(address: str) -> None:
    if not ADDRESS_RE.fullmatch(address):
        raise Rejection(Code.BAD_COMMAND, "address must be 0x and 40 lowercase hex digits")


def _credit(status: str, payout: int | None) -> int:
    """What settling a bet pays back: its payout if won, its stake if void (payout = stake), else 0."""
    return (payout or 0) if status in ("won", "void") else 0


def _settled_record(address: str, fields: Sequence[Any]) -> BetRecord:
    """A BetRecord from `_SETTLED_COLUMNS` after id and user_id, built directly: the row comes from the
    ledger's own UPDATE, and `bet_row_to_record`'s validating conversion cost more than the step's SQL."""
    bid, column, row, lower, upper, amount, mult, quote_id, status, payout, placed, resolved = fields
    assert isinstance(bid, bytes)
    h = bid.hex()
    return BetRecord(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", address, column, row, lower, upper,
                     amount, mult, quote_id, status, payout, placed, resolved)  # fmt: skip
