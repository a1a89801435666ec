"""`taptrade resolve --verify [COLUMN | --all]`: redo the resolution of recorded columns from the stored
bars, with the same rule, and report every difference in the column record or in its bets' outcomes.
Read-only. Columns whose bars are past the 7-day retention are reported as not checkable, not as clean."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from taptrade.grid import GridSpec
from taptrade.ledger.resolution import column_outcome
from taptrade.ledger.resolver import load_bars
from taptrade.money import payout_cents


@dataclass
class VerifyReport:
    checked: int = 0
    unverifiable: list[int] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_columns(conn: sqlite3.Connection, grid: GridSpec, column: int | None = None) -> VerifyReport:
    report = VerifyReport()
    where, params = ("WHERE column_index = ?", (column,)) if column is not None else ("", ())
    records = conn.execute(
        "SELECT column_index, status, open_cents, high_cents, low_cents, close_cents, ticks FROM columns "
        f"{where} ORDER BY column_index",
        params,
    ).fetchall()
    if column is not None and not records:
        report.differences.append(f"column {column}: not resolved")
    oldest_bar = conn.execute("SELECT MIN(second) FROM price_bars").fetchone()[0]
    for col, status, opened, high, low, close, ticks in records:
        start_s = grid.column_start_ms(col) // 1000
        if oldest_bar is None or start_s - 1 < oldest_bar:
            report.unverifiable.append(col)
            continue
        report.checked += 1
        redo = column_outcome(col, grid, load_bars(conn, grid, col))
        stored = (status, opened, high, low, close, ticks)
        expected = (redo.status, redo.open, redo.high, redo.low, redo.close, redo.ticks)
        if stored != expected:
            report.differences.append(f"column {col}: recorded {stored}, recomputed {expected}")
        for bet_id, lower, upper, amount, mult, bet_status, payout in conn.execute(
            "SELECT id, lower_cents, upper_cents, amount_cents, multiplier_e4, status, payout_cents FROM bets"
            " WHERE column_index = ?",
            (col,),
        ):
            if redo.status == "void":
                want = ("void", amount)
            elif redo.wins(lower, upper):
                want = ("won", payout_cents(amount, mult))
            else:
                want = ("lost", 0)
            if (bet_status, payout) != want:
                report.differences.append(
                    f"column {col}, bet {bet_id}: recorded {(bet_status, payout)}, recomputed {want}"
                )
    return report
