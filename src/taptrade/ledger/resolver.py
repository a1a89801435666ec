"""Inside the ledger loop: persist the feed's 1 s bars (idempotent by second, 7 days kept) and resolve
each closed column in turn, once `now >= end + grace` and its bars are in (or, if they never come, after
`give_up_ms`: then the rule voids it). Every column is recorded, with or without bets, in order; the next
one to resolve is kept in `counters`, in the same transaction as the column, so a crash can neither skip
nor repeat one."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass

import msgspec

from taptrade.clock import Clock
from taptrade.commands import UserEvent
from taptrade.grid import GridSpec
from taptrade.ledger.metrics import BETS_RESOLVED_TOTAL
from taptrade.ledger.resolution import ColumnOutcome, column_outcome
from taptrade.ledger.store import BatchFailed, LedgerStore
from taptrade.market import Bar
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

BAR_RETENTION_S = 7 * 86_400
COLUMNS_PER_ROUND_MAX = 50  # catching up after downtime never holds bets back for long
# Bets settled per transaction. A busy column (thousands of bets) is settled in steps of this many with bet
# batches between them: as one transaction it held every bet back for 100-250 ms at each column's end.
SETTLE_STEP_BETS = 500
# Settled bets per `bets_settled` log line: about 30 KB, under journald's line limit (48 KB).
SETTLED_PER_LINE = 250
SETTLED_FIELDS = ("bet_id", "address", "cell", "amount", "multiplier_e4", "status", "payout")


@dataclass(frozen=True, slots=True)
class Resolved:
    outcome: ColumnOutcome
    start_ms: int
    end_ms: int
    events: list[UserEvent]
    finished: bool = True  # every bet of the column is settled: the column message goes out

    def column_message(self) -> dict[str, object]:
        o = self.outcome
        return {"column": o.column, "start_ms": self.start_ms, "end_ms": self.end_ms, "status": o.status,
                "open": o.open, "high": o.high, "low": o.low, "close": o.close, "ticks": o.ticks}  # fmt: skip


class Resolver:
    def __init__(
        self,
        conn: sqlite3.Connection,
        store: LedgerStore,
        grid: GridSpec,
        clock: Clock,
        *,
        grace_ms: int = 2_000,
        give_up_ms: int = 30_000,
        step_bets: int = SETTLE_STEP_BETS,
    ) -> None:
        self._conn = conn
        self._store = store
        self._grid = grid
        self._clock = clock
        self._grace_ms = grace_ms
        self._give_up_ms = give_up_ms
        self._step_bets = step_bets
        # The column part-way through its settlement, as recorded by its first step, and its bets so far.
        self._settling: ColumnOutcome | None = None
        self._settled = 0
        self._settle_s = 0.0  # the column's settlement steps so far, in wall time
        self._steps = 0

    def persist_bars(self, bars: list[Bar]) -> None:
        """Store bars (a bar already stored for its second is kept) and drop those past the retention."""
        now_s = self._clock.now_ms() // 1000
        rows = [astuple_bar(b) for b in bars]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO price_bars (second, open_cents, high_cents, low_cents, close_cents, trade_count,"
                " first_trade_id, last_trade_id, health) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (second) DO NOTHING",
                rows,
            )
            self._conn.execute("DELETE FROM price_bars WHERE second < ?", (now_s - BAR_RETENTION_S,))
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise BatchFailed.of(exc) from exc

    @property
    def settling(self) -> bool:
        """A column is part-way through its settlement: call `resolve_due` again soon."""
        return self._settling is not None

    def behind(self) -> bool:
        """The column after the one part-way through its settlement is already due: no time to space the
        steps out."""
        if self._settling is None:
            return False
        next_end_ms = self._grid.column_end_ms(self._settling.column + 1)
        return self._clock.now_ms() >= next_end_ms + self._grace_ms

    def resolve_due(self) -> list[Resolved]:
        """Resolve the closed columns in order; a busy one takes one settlement step per call, so the
        result may hold a column that is not finished (its events so far, no column message yet)."""
        done: list[Resolved] = []
        for _ in range(COLUMNS_PER_ROUND_MAX):
            now_ms = self._clock.now_ms()
            column = self._next_column(now_ms)
            end_ms = self._grid.column_end_ms(column)
            if now_ms < end_ms + self._grace_ms:
                break
            if not self._bars_in(end_ms) and now_ms < end_ms + self._give_up_ms:
                break
            if self._settling is not None and self._settling.column == column:
                outcome = self._settling  # fixed by the first step: no need to read the bars again
            else:
                outcome = column_outcome(column, self._grid, load_bars(self._conn, self._grid, column))
                # Before the transaction, so a dispute (or a crash) shows what the ledger was about to apply.
                log.info("column_resolving", column=column, status=outcome.status, open=outcome.open,
                         high=outcome.high, low=outcome.low, close=outcome.close, ticks=outcome.ticks,
                         first_trade_id=outcome.first_trade_id, last_trade_id=outcome.last_trade_id,
                         void_reason=outcome.void_reason)  # fmt: skip
                self._settled, self._settle_s, self._steps = 0, 0.0, 0
            started = time.perf_counter()
            step = self._store.resolution_step(outcome, column + 1, max_bets=self._step_bets)
            outcome = step.outcome  # after a crash between steps, the recorded outcome, not the bars'
            self._settled += step.settled
            _record_settlements(outcome, step.events)
            self._settle_s += time.perf_counter() - started
            self._steps += 1
            if step.events or step.finished:
                start_ms = self._grid.column_start_ms(column)
                done.append(Resolved(outcome, start_ms, end_ms, step.events, step.finished))
            if not step.finished:
                self._settling = outcome
                break  # the rest after the next batch of bets
            self._settling = None
            log.info("column_resolved", column=column, status=outcome.status, high=outcome.high,
                     low=outcome.low, ticks=outcome.ticks, void_reason=outcome.void_reason,
                     bets=self._settled, steps=self._steps,
                     settle_ms=round(self._settle_s * 1000, 1))  # fmt: skip
        return done

    def _next_column(self, now_ms: int) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = 'next_column'").fetchone()
        if row is not None:
            return int(row[0])
        # First start: from the oldest open bet, or from the column now ending.
        oldest = self._conn.execute(
            "SELECT MIN(column_index) FROM bets WHERE status = 'confirmed'"
        ).fetchone()[0]
        current = self._grid.column_at(now_ms) - 1
        return current if oldest is None else min(int(oldest), current)

    def _bars_in(self, end_ms: int) -> bool:
        """Whether the feed has delivered bars up to the column's last second (or past it)."""
        latest = self._conn.execute("SELECT MAX(second) FROM price_bars").fetchone()[0]
        return latest is not None and latest >= end_ms // 1000 - 1


def load_bars(conn: sqlite3.Connection, grid: GridSpec, column: int) -> dict[int, Bar]:
    """The stored bars a column's resolution reads: its seconds and the one before, by second."""
    start_s = grid.column_start_ms(column) // 1000
    rows = conn.execute(
        "SELECT second, open_cents, high_cents, low_cents, close_cents, trade_count, first_trade_id,"
        " last_trade_id, health FROM price_bars WHERE second BETWEEN ? AND ? ORDER BY second",
        (start_s - 1, grid.column_end_ms(column) // 1000 - 1),
    ).fetchall()
    return {row[0]: msgspec.convert(dict(zip(_BAR_FIELDS, row, strict=True)), Bar) for row in rows}


def astuple_bar(b: Bar) -> tuple[object, ...]:
    return (b.second, b.open, b.high, b.low, b.close, b.count, b.first_trade_id, b.last_trade_id, b.health)


_BAR_FIELDS = ("second", "open", "high", "low", "close", "count", "first_trade_id", "last_trade_id", "health")


def _record_settlements(outcome: ColumnOutcome, events: list[UserEvent]) -> None:
    """Every settled bet in the log with what decided it (a dispute is answered from these and the
    `column_resolving` line), and the outcome counts. Compact lines of SETTLED_PER_LINE bets: a line per
    bet would hold the ledger up for a noticeable time on a busy column (thousands of bets)."""
    outcomes: Counter[str] = Counter()
    settled: list[tuple[str, str, str, int, int, str, int | None]] = []
    for event in events:
        bet = event.bet
        if event.type != "bet" or bet is None:
            continue
        outcomes[bet.status] += 1
        settled.append((bet.bet_id, bet.address, f"{bet.column}:{bet.row}", bet.amount, bet.multiplier_e4,
                        bet.status, bet.payout))  # fmt: skip
    for start in range(0, len(settled), SETTLED_PER_LINE):
        log.info("bets_settled", column=outcome.column, status=outcome.status, column_high=outcome.high,
                 column_low=outcome.low, fields=SETTLED_FIELDS,
                 bets=settled[start : start + SETTLED_PER_LINE])  # fmt: skip
    for status, count in outcomes.items():
        BETS_RESOLVED_TOTAL.labels(outcome=status).inc(count)
