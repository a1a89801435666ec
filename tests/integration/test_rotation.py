"""Weekly rotation on real SQLite files with an injectable clock: what moves at the week's end, what waits
(a bet that straddles Monday 00:00 and everything its owner did after it), checkpoints, integrity across
week files before and after, a torn earlier attempt, and tampering caught on either side."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import redis

from taptrade import bus
from taptrade.clock import ManualClock
from taptrade.commands import Envelope, encode
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_everything
from taptrade.ledger.rotation import Rotator
from taptrade.weeks import next_week, week_end_ms, week_file_path, week_of
from tests.support import LedgerThread, deposit, wait_for
from tests.week_world import ALICE, BOB, CAROL, GRID, MISS, MONDAY_MS, SUNDAY_EVENING_MS, WEEK, WIN, World


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_week_moves_its_settled_history_and_leaves_what_straddles_midnight(world: World) -> None:
    world.at(SUNDAY_EVENING_MS)
    for owner in (ALICE, BOB, CAROL):
        world.deposit(owner, 10_000)
    sunday = GRID.column_at(SUNDAY_EVENING_MS) + 3
    world.bet(ALICE, sunday, 2500, 33_333)
    world.resolve(sunday, WIN)  # Alice wins 8,333
    lost_column = sunday + 10
    world.at(GRID.column_start_ms(lost_column) - 20_000)
    world.bet(BOB, lost_column)
    world.bet(CAROL, lost_column)
    world.resolve(lost_column, MISS)  # both lose
    # Carol, 10 s before midnight, bets on a column that ends after it; it is resolved on Monday.
    straddling = GRID.column_at(MONDAY_MS) + 1
    world.at(MONDAY_MS - 10_000).bet(CAROL, straddling)
    world.at(MONDAY_MS + 1000).deposit(ALICE, 500)
    world.resolve(straddling, WIN)
    world.at(MONDAY_MS + 30_000).deposit(CAROL, 100)
    before = world.balances()
    world.integrity()

    world.at(MONDAY_MS - 1)
    assert world.rotator.next_due() is None, "a week rotates only once it has ended"
    world.at(MONDAY_MS + 60_000)
    assert world.rotator.next_due() == WEEK
    rotated = world.rotate_due()
    assert rotated is not None
    assert (rotated.week, rotated.users, rotated.bets, rotated.ledger_rows) == (WEEK, 3, 3, 7)

    assert world.balances() == before
    kinds = "SELECT u.address, l.kind, l.amount_cents FROM ledger l JOIN users u ON u.id = l.user_id"
    order = " ORDER BY u.address, l.id"
    assert world.week(WEEK, kinds + order) == [
        (ALICE, "DEPOSIT", 10_000), (ALICE, "BET", -2500), (ALICE, "PAYOUT", 8333),
        (BOB, "DEPOSIT", 10_000), (BOB, "BET", -1000),
        (CAROL, "DEPOSIT", 10_000), (CAROL, "BET", -1000),
    ]  # fmt: skip
    assert world.live(kinds + order) == [
        (ALICE, "DEPOSIT", 500),
        (CAROL, "BET", -1000), (CAROL, "PAYOUT", 2500), (CAROL, "DEPOSIT", 100),
    ]  # fmt: skip
    assert world.live("SELECT column_index, status FROM bets") == [(straddling, "won")]
    assert world.week(WEEK, "SELECT COUNT(*), SUM(status = 'won') FROM bets") == [(3, 1)]
    checkpoints = world.live(
        "SELECT u.address, c.week, c.balance_cents, c.ledger_rows, c.bets, c.min_column, c.max_column"
        " FROM checkpoints c JOIN users u ON u.id = c.user_id ORDER BY u.address"
    )
    assert checkpoints == [
        (ALICE, WEEK, 10_000 - 2500 + 8333, 3, 1, sunday, sunday),
        (BOB, WEEK, 9000, 2, 1, lost_column, lost_column),
        (CAROL, WEEK, 9000, 2, 1, lost_column, lost_column),
    ]
    report = world.integrity()
    assert list(report["weeks"]) == [WEEK]  # type: ignore[call-overload]
    assert world.rotator.next_due() is None

    # A week later the rest goes, and Carol's file opens where her first week closed.
    following = next_week(WEEK)
    world.at(week_end_ms(following) + 1)
    assert world.rotate_due() is not None
    assert world.live("SELECT COUNT(*) FROM ledger") == [(0,)]
    assert world.live("SELECT COUNT(*) FROM bets") == [(0,)]
    assert world.week(following, "SELECT user_id, week, balance_cents FROM checkpoints ORDER BY user_id") == [
        (1, WEEK, 15_833),
        (3, WEEK, 9000),
    ]
    assert world.balances() == before
    assert set(world.integrity()["weeks"]) == {WEEK, following}  # type: ignore[call-overload]


def test_weeks_without_activity_are_recorded_without_a_file_and_rotation_catches_up(world: World) -> None:
    world.at(SUNDAY_EVENING_MS).deposit(ALICE, 1000)
    world.at(week_end_ms(next_week(next_week(WEEK))) + 5)  # the ledger was away for two more weeks
    rotated = [world.rotate_due() for _ in range(3)]
    # The week with a file, then the empty ones in one call, then nothing.
    assert [(r.week, r.file is not None) if r else None for r in rotated] == [
        (WEEK, True),
        (next_week(next_week(WEEK)), False),
        None,
    ]
    assert world.live("SELECT week, users, ledger_rows FROM weeks ORDER BY week") == [
        (WEEK, 1, 1),
        (next_week(WEEK), 0, 0),
        (next_week(next_week(WEEK)), 0, 0),
    ]
    world.integrity()


def test_a_rotation_interrupted_at_any_step_finishes_with_the_same_result(world: World) -> None:
    world.at(SUNDAY_EVENING_MS)
    for n, owner in enumerate((ALICE, BOB, CAROL)):
        world.deposit(owner, 1000 + n)
    world.at(MONDAY_MS + 5).deposit(ALICE, 7)
    world.weeks_dir.mkdir()
    (world.weeks_dir / f"{WEEK}.db.tmp").write_bytes(b"a week file cut short by a crash")
    world.at(MONDAY_MS + 3 * 86_400_000)  # rotated days late: the same rows move
    # Removal one user per transaction; the "ledger" restarts (a new rotator) after the first user.
    world.rotator = Rotator(world.conn, world.clock, world.weeks_dir, chunk_rows=1)
    while not week_file_path(world.weeks_dir, WEEK).is_file() or world.rotator.busy:
        assert world.rotator.rotate_due() is None
        if world.live("SELECT COUNT(*) FROM checkpoints") == [(1,)]:
            break
        time.sleep(0.01)
    assert world.live("SELECT COUNT(*) FROM checkpoints") == [(1,)]
    assert world.live("SELECT COUNT(*) FROM weeks") == [(0,)]
    world.integrity()  # holds between any two steps
    world.rotator = Rotator(world.conn, world.clock, world.weeks_dir, chunk_rows=1)
    rotated = [world.rotator.rotate_due() for _ in range(2)]
    assert rotated[0] is None
    assert rotated[1] is not None
    assert (rotated[1].users, rotated[1].ledger_rows) == (3, 3)
    assert world.week(WEEK, "SELECT amount_cents FROM ledger ORDER BY id") == [(1000,), (1001,), (1002,)]
    assert world.live("SELECT amount_cents FROM ledger") == [(7,)]
    assert not (world.weeks_dir / f"{WEEK}.db.tmp").exists()
    world.integrity()


def test_integrity_catches_a_tampered_week_file_and_a_tampered_checkpoint(world: World) -> None:
    world.at(SUNDAY_EVENING_MS).deposit(ALICE, 1000)
    world.deposit(BOB, 2000)
    world.at(MONDAY_MS + 5)
    world.rotate_due()
    world.integrity()

    week_conn = sqlite3.connect(week_file_path(world.weeks_dir, WEEK))
    week_conn.execute("UPDATE ledger SET amount_cents = 1500, balance_after_cents = 1500 WHERE id = 1")
    week_conn.execute("UPDATE users SET balance_cents = 1500 WHERE id = 1")
    week_conn.commit()
    report = check_everything(db.open_reader(world.live_path), world.weeks_dir)
    assert not report.ok
    assert [v.rule for v in report.weeks[WEEK].violations] == ["checkpoint_mismatch"]

    live_conn = sqlite3.connect(world.live_path)
    live_conn.execute("UPDATE checkpoints SET balance_cents = 2100 WHERE user_id = 2")
    live_conn.commit()
    report = check_everything(db.open_reader(world.live_path), world.weeks_dir)
    assert {v.rule for v in report.live.violations} == {"balance_mismatch"}
    assert {(v.rule, v.address) for v in report.weeks[WEEK].violations} == {
        ("checkpoint_mismatch", ALICE),
        ("checkpoint_mismatch", BOB),
    }


def test_week_of_a_moment_just_before_and_at_monday_midnight() -> None:
    assert week_of(MONDAY_MS - 1) == WEEK
    assert week_of(MONDAY_MS) == next_week(WEEK) == "2026-W48"


def test_the_ledger_loop_rotates_a_week_once_its_clock_passes_monday(settings: Settings) -> None:
    clock = ManualClock(SUNDAY_EVENING_MS)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    envelope = Envelope(request_id="r1", reply_to=None, command=deposit(ALICE, 1234))
    client.xadd(bus.INTAKE_STREAM, {"m": encode(envelope)})
    week_file = week_file_path(settings.weeks_dir, WEEK)
    with LedgerThread(settings, clock) as ledger:
        wait_for(lambda: ledger.service.commands_handled == 1, what="deposit applied")
        time.sleep(0.5)  # several housekeeping rounds before midnight: nothing moves
        assert not week_file.exists()
        clock.set(MONDAY_MS + 1)
        wait_for(week_file.exists, what="week file written")
        live = db.open_reader(settings.live_db_path)
        wait_for(lambda: live.execute("SELECT COUNT(*) FROM weeks").fetchone() == (1,), what="week recorded")
    assert live.execute("SELECT COUNT(*) FROM ledger").fetchone() == (0,)
    assert check_everything(live, settings.weeks_dir).ok
