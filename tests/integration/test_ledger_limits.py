"""Responsible play in the ledger, on a real SQLite file: the daily loss limit and the pause are enforced in
the bet's own transaction, payouts and refunds give room back, and the day's loss matches the ledger rows."""

from __future__ import annotations

from pathlib import Path

from msgspec.structs import replace

from taptrade.clock import DAY_MS, ManualClock, utc_day
from taptrade.commands import Code, Deposit, SetLimits, Withdraw
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from taptrade.ledger.resolution import ColumnOutcome
from taptrade.ledger.store import LedgerStore
from taptrade.limits import RAISE_DELAY_MS
from tests.integration.test_ledger_store import FIRST_PLACEABLE, START_MS, new_store, place
from tests.support import address

OWNER = address(41)


def limits(limit: int | None = None, pause: int | None = None, set_limit: bool = True) -> SetLimits:
    return SetLimits(address=OWNER, set_limit=set_limit, daily_loss_limit=limit, pause_minutes=pause)


def funded(path: Path, cents: int = 100_000) -> tuple[LedgerStore, ManualClock]:
    store, clock = new_store(path)
    assert store.apply_batch([Deposit("fund", OWNER, cents)])[0].ok
    return store, clock


def balance(path: Path) -> int:
    row = (
        db.open_reader(path).execute("SELECT balance_cents FROM users WHERE address = ?", (OWNER,)).fetchone()
    )
    return int(row[0])


def test_the_limit_is_enforced_within_one_batch_and_a_refused_bet_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, _ = funded(path)
    [set_answer] = store.apply_batch([limits(2500)])
    assert set_answer.ok
    assert set_answer.limits is not None
    assert (set_answer.limits.daily_loss_limit, set_answer.limits.loss_today) == (2500, 0)

    outcomes = store.apply_batch(
        [place(OWNER, FIRST_PLACEABLE, row=1, amount=1000), place(OWNER, FIRST_PLACEABLE, row=2, amount=1000),
         place(OWNER, FIRST_PLACEABLE, row=3, amount=1000), place(OWNER, FIRST_PLACEABLE, row=4, amount=500)]
    )  # fmt: skip

    assert [o.code for o in outcomes] == [Code.OK, Code.OK, Code.LOSS_LIMIT, Code.OK]
    assert balance(path) == 100_000 - 2500
    conn = db.open_reader(path)
    assert conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0] == 3
    assert conn.execute("SELECT loss_today_cents FROM users").fetchone()[0] == 2500
    assert check_integrity(conn).ok


def test_payouts_and_refunds_give_room_back_deposits_do_not(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, _ = funded(path)
    store.apply_batch([limits(1000)])
    column = FIRST_PLACEABLE
    assert store.apply_batch([place(OWNER, column, row=9700, amount=1000)])[0].ok
    assert store.apply_batch([Deposit("more", OWNER, 50_000)])[0].ok
    assert store.apply_batch([place(OWNER, column, row=9701, amount=100)])[0].code is Code.LOSS_LIMIT

    won = ColumnOutcome(column, "resolved", 9_700_500, 9_700_900, 9_700_100, 9_700_500, 5, 1, 5)
    store.apply_resolution(won, column + 1)  # pays 1000 x 2.5

    [answer] = store.apply_batch([limits(1000)])
    assert answer.limits is not None
    assert answer.limits.loss_today == 1000 - 2500
    assert store.apply_batch([place(OWNER, column + 1, row=1, amount=2500)])[0].ok
    assert store.apply_batch([place(OWNER, column + 1, row=2, amount=100)])[0].code is Code.LOSS_LIMIT
    assert check_integrity(db.open_reader(path)).ok


def test_the_days_loss_equals_its_betting_rows_and_resets_at_midnight_utc(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, clock = funded(path)
    store.apply_batch([limits(5000)])
    assert store.apply_batch([place(OWNER, FIRST_PLACEABLE, row=5, amount=5000)])[0].ok
    void = ColumnOutcome(FIRST_PLACEABLE, "void", None, None, None, None, 0, None, None, "no ticks")
    store.apply_resolution(void, FIRST_PLACEABLE + 1)
    assert store.apply_batch([Withdraw("out", OWNER, 1000)])[0].ok
    conn = db.open_reader(path)
    net = conn.execute(
        "SELECT -SUM(amount_cents) FROM ledger WHERE kind IN ('BET', 'PAYOUT', 'REFUND')"
    ).fetchone()[0]
    assert conn.execute("SELECT loss_today_cents FROM users").fetchone()[0] == net == 0

    assert store.apply_batch([place(OWNER, FIRST_PLACEABLE + 1, row=5, amount=5000)])[0].ok
    assert (
        store.apply_batch([place(OWNER, FIRST_PLACEABLE + 1, row=6, amount=100)])[0].code is Code.LOSS_LIMIT
    )
    midnight = (utc_day(START_MS) + 1) * DAY_MS
    clock.set(midnight)
    tomorrow = midnight // 5000 + 2
    bet = place(OWNER, tomorrow, row=6, amount=5000)
    assert store.apply_batch([replace(bet, placed_ms=midnight)])[0].ok


def test_a_pause_refuses_every_bet_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, clock = funded(path)
    [answer] = store.apply_batch([limits(pause=1, set_limit=False)])
    assert answer.limits is not None
    assert answer.limits.paused_until_ms == START_MS + 60_000
    assert answer.limits.daily_loss_limit is None
    assert store.apply_batch([place(OWNER, FIRST_PLACEABLE)])[0].code is Code.COOLING_DOWN
    assert balance(path) == 100_000

    clock.advance(60_000)
    column = clock.now_ms() // 5000 + 2
    bet = place(OWNER, column)
    assert store.apply_batch([replace(bet, placed_ms=clock.now_ms())])[0].ok


def test_a_raise_waits_24_hours_in_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, clock = funded(path)
    store.apply_batch([limits(100)])
    [raised] = store.apply_batch([limits(10_000)])
    assert raised.limits is not None
    assert (raised.limits.daily_loss_limit, raised.limits.next_limit) == (100, 10_000)
    assert raised.limits.next_from_ms == START_MS + RAISE_DELAY_MS
    assert store.apply_batch([place(OWNER, FIRST_PLACEABLE, amount=500)])[0].code is Code.LOSS_LIMIT

    clock.set(START_MS + RAISE_DELAY_MS)
    column = clock.now_ms() // 5000 + 2
    bet = place(OWNER, column, amount=5000)
    assert store.apply_batch([replace(bet, placed_ms=clock.now_ms())])[0].ok


def test_bad_limits_are_refused_and_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store, _ = funded(path)
    store.apply_batch([limits(700)])
    [bad] = store.apply_batch([limits(-5)])
    assert bad.code is Code.BAD_COMMAND
    [also_bad] = store.apply_batch([limits(pause=0, set_limit=False)])
    assert also_bad.code is Code.BAD_COMMAND
    row = db.open_reader(path).execute("SELECT loss_limit_cents, paused_until_ms FROM users").fetchone()
    assert tuple(row) == (700, None)
