"""A live.db with its real writer, a manual clock and the weekly rotator: the week-partition tests' world."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from taptrade.clock import ManualClock
from taptrade.commands import Deposit, PlaceBet
from taptrade.grid import GridSpec
from taptrade.ledger import db
from taptrade.ledger.integrity import check_everything
from taptrade.ledger.resolution import ColumnOutcome
from taptrade.ledger.rotation import RotatedWeek, Rotator
from taptrade.ledger.store import LedgerRules, LedgerStore
from taptrade.weeks import week_end_ms, week_file_path

GRID = GridSpec()
RULES = LedgerRules(GRID, frozenset({100, 1000, 2500}), 11_000, 1_000_000)
WEEK = "2026-W47"
MONDAY_MS = week_end_ms(WEEK)  # 2026-11-23 00:00 UTC, the end of WEEK
SUNDAY_EVENING_MS = MONDAY_MS - 3_600_000
ROW = 9712
ALICE, BOB, CAROL = ("0x" + f"{n:040x}" for n in (0xA, 0xB, 0xC))


class World:
    """A live.db with its writer, a manual clock, and a rotator over `weeks/`."""

    def __init__(self, data_dir: Path, start_ms: int = 0) -> None:
        self.clock = ManualClock(start_ms or SUNDAY_EVENING_MS)
        self.live_path = data_dir / "live.db"
        self.weeks_dir = data_dir / "weeks"
        self.conn = conn = db.open_writer(self.live_path)
        self.store = LedgerStore(conn, RULES, self.clock)
        self.rotator = Rotator(conn, self.clock, self.weeks_dir)

    def rotate_due(self) -> RotatedWeek | None:
        """Drive the rotator as the ledger loop does (the file from a child process, then removal in chunks)
        until a week's rotation completes, or nothing is due."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rotated = self.rotator.rotate_due()
            if rotated is not None or not self.rotator.busy:
                return rotated
            time.sleep(0.01)
        raise AssertionError("rotation did not finish")

    def at(self, ms: int) -> World:
        self.clock.set(ms)
        return self

    def deposit(self, owner: str, cents: int) -> None:
        (outcome,) = self.store.apply_batch([Deposit(f"dep:{uuid.uuid4()}", owner, cents, "test")])
        assert outcome.ok, outcome.message

    def bet(self, owner: str, column: int, amount: int = 1000, multiplier_e4: int = 25_000) -> None:
        now = self.clock.now_ms()
        command = PlaceBet(str(uuid.uuid4()), owner, column, ROW, amount, multiplier_e4, 1, now)
        (outcome,) = self.store.apply_batch([command])
        assert outcome.ok, outcome.message

    def resolve(self, column: int, price: int) -> None:
        """Resolve `column` with the price flat at `price` cents, at the column's end plus the grace."""
        self.clock.set(GRID.column_end_ms(column) + 2000)
        outcome = ColumnOutcome(column, "resolved", price, price, price, price, 5, None, None)
        new, _ = self.store.apply_resolution(outcome, column + 1)
        assert new

    def live(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        return db.open_reader(self.live_path).execute(sql, params).fetchall()

    def week(self, week: str, sql: str) -> list[tuple[object, ...]]:
        return db.open_reader(week_file_path(self.weeks_dir, week)).execute(sql).fetchall()

    def balances(self) -> dict[object, object]:
        return dict(self.live("SELECT address, balance_cents FROM users ORDER BY address"))

    def integrity(self) -> dict[str, object]:
        report = check_everything(db.open_reader(self.live_path), self.weeks_dir)
        assert report.ok, report.as_dict()
        return report.as_dict()


WIN = ROW * 1000 + 500  # inside the band of ROW
MISS = ROW * 1000 - 5000
