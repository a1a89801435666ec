"""The money core on a real SQLite file, without Redis: rules, batch isolation, durability failures,
the batch sum check, and a property test over random command sequences."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taptrade.clock import ManualClock
from taptrade.commands import Adjust, Command, Deposit, PlaceBet, Withdraw
from taptrade.grid import GridSpec
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from taptrade.ledger.store import BatchFailed, InvariantViolation, LedgerRules, LedgerStore
from tests.support import address

START_MS = 1_763_700_000_000
PRESETS = (100, 500, 1000, 2500, 5000, 10000)
RULES = LedgerRules(GridSpec(), frozenset(PRESETS), 11_000, 1_000_000)


def new_store(path: Path) -> tuple[LedgerStore, ManualClock]:
    clock = ManualClock(START_MS)
    return LedgerStore(db.open_writer(path), RULES, clock), clock


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "live.db"


@pytest.fixture
def store(store_path: Path) -> LedgerStore:
    return new_store(store_path)[0]


def place(
    owner: str, column: int, row: int = 9700, amount: int = 1000, bet_id: str | None = None
) -> PlaceBet:
    return PlaceBet(bet_id=bet_id or str(uuid.uuid4()), address=owner, column=column, row=row,
                    amount=amount, multiplier_e4=25_000, quote_id=7, placed_ms=START_MS)  # fmt: skip


FIRST_PLACEABLE = START_MS // 5000 + 2


def balances(path: Path) -> dict[str, int]:
    conn = db.open_reader(path)
    return dict(conn.execute("SELECT address, balance_cents FROM users").fetchall())


def test_bet_stores_server_derived_bounds_and_debits_with_one_ledger_row(
    store: LedgerStore, store_path: Path
) -> None:
    owner = address(1)
    store.apply_batch([Deposit("d1", owner, 5000)])

    [outcome] = store.apply_batch([place(owner, FIRST_PLACEABLE, row=9712, amount=2500)])

    assert outcome.ok
    assert outcome.bet is not None
    assert (outcome.bet.lower, outcome.bet.upper) == (9_712_000, 9_713_000)
    conn = db.open_reader(store_path)
    rows = conn.execute("SELECT kind, amount_cents, balance_after_cents FROM ledger ORDER BY id").fetchall()
    assert rows == [("DEPOSIT", 5000, 5000), ("BET", -2500, 2500)]


def test_current_and_next_columns_are_refused_and_the_first_placeable_accepted(store: LedgerStore) -> None:
    owner = address(2)
    store.apply_batch([Deposit("d2", owner, 10_000)])
    current = START_MS // 5000

    outcomes = store.apply_batch(
        [place(owner, current), place(owner, current + 1), place(owner, current + 2)]
    )

    assert [o.code.value for o in outcomes] == ["cell_not_placeable", "cell_not_placeable", "ok"]


def test_a_bet_reaching_the_ledger_after_its_column_started_is_refused(store_path: Path) -> None:
    store, clock = new_store(store_path)
    owner = address(3)
    store.apply_batch([Deposit("d3", owner, 10_000)])
    late = place(owner, FIRST_PLACEABLE)
    clock.set((FIRST_PLACEABLE) * 5000)  # the gateway accepted it in time; the ledger sees it too late

    [outcome] = store.apply_batch([late])

    assert outcome.code.value == "cell_not_placeable"
    assert balances(store_path) == {owner: 10_000}


def test_a_rejected_command_leaves_its_batch_neighbours_intact(store: LedgerStore, store_path: Path) -> None:
    alice, bob = address(4), address(5)
    outcomes = store.apply_batch(
        [
            Deposit("a", alice, 1000),
            Withdraw("w", bob, 100),  # no such user
            Deposit("b", bob, 2000),
            Withdraw("w2", alice, 5000),  # more than she has
            Adjust("adj", bob, -500, "correction"),
            Adjust("adj2", alice, 0, "nothing"),
        ]
    )
    codes = [o.code.value for o in outcomes]
    assert codes == ["ok", "insufficient_funds", "ok", "insufficient_funds", "ok", "bad_command"]
    assert balances(store_path) == {alice: 1000, bob: 1500}
    assert check_integrity(db.open_reader(store_path)).ok


def test_a_user_created_by_a_rejected_command_does_not_survive(store: LedgerStore, store_path: Path) -> None:
    owner = address(6)
    store.apply_batch([Deposit("same-id", address(7), 100)])

    [outcome] = store.apply_batch([Deposit("same-id", owner, 100)])  # creates the user, then conflicts

    assert outcome.code.value == "command_id_conflict"
    assert owner not in balances(store_path)
    [later] = store.apply_batch([Deposit("fresh", owner, 300)])
    assert later.ok
    assert balances(store_path)[owner] == 300


def test_repeated_command_id_returns_the_first_result(store: LedgerStore, store_path: Path) -> None:
    owner = address(8)
    first = store.apply_batch([Deposit("dep-1", owner, 1000)])[0]
    again = store.apply_batch([Deposit("dep-1", owner, 1000)])[0]
    assert again.ok
    assert again.duplicate
    assert again.entry == first.entry
    assert balances(store_path) == {owner: 1000}


def test_a_database_failure_fails_the_whole_batch_and_commits_nothing(store_path: Path) -> None:
    store, _ = new_store(store_path)
    owner = address(9)
    store.apply_batch([Deposit("first", owner, 1000)])
    blocker = sqlite3.connect(store_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the ledger cannot write
    store._conn.execute("PRAGMA busy_timeout = 50")

    with pytest.raises(BatchFailed):
        store.apply_batch([Deposit("second", owner, 500), Withdraw("third", owner, 100)])

    blocker.execute("ROLLBACK")
    assert balances(store_path) == {owner: 1000}
    outcomes = store.apply_batch([Deposit("second", owner, 500), Withdraw("third", owner, 100)])
    assert [o.code.value for o in outcomes] == ["ok", "ok"]
    assert balances(store_path) == {owner: 1400}


def test_batch_sums_that_do_not_add_up_roll_back_and_raise(store_path: Path) -> None:
    store, _ = new_store(store_path)
    owner = address(10)
    store.apply_batch([Deposit("ok", owner, 1000)])
    saboteur = sqlite3.connect(store_path)
    saboteur.execute(
        "CREATE TRIGGER skim AFTER INSERT ON ledger BEGIN "
        "UPDATE ledger SET amount_cents = amount_cents + 1 WHERE id = NEW.id; END"
    )
    saboteur.commit()

    with pytest.raises(InvariantViolation):
        store.apply_batch([Deposit("skimmed", owner, 500)])

    assert balances(store_path) == {owner: 1000}


# --- property test -------------------------------------------------------------------------------

USERS = [address(100 + n) for n in range(4)]
ROWS = range(9700, 9704)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    owner = draw(st.sampled_from(USERS))
    kind = draw(st.sampled_from(["deposit", "withdraw", "adjust", "bet", "bet"]))
    command_id = str(uuid.uuid4())
    if kind == "deposit":
        return Deposit(command_id, owner, draw(st.integers(1, 20_000)))
    if kind == "withdraw":
        return Withdraw(command_id, owner, draw(st.integers(1, 20_000)))
    if kind == "adjust":
        return Adjust(command_id, owner, draw(st.integers(-20_000, 20_000).filter(bool)), "test")
    column = FIRST_PLACEABLE + draw(st.integers(0, 3))
    return place(owner, column, draw(st.sampled_from(ROWS)), draw(st.sampled_from(PRESETS)))


@st.composite
def batches(draw: st.DrawFn) -> list[list[Command]]:
    flat = draw(st.lists(commands(), min_size=1, max_size=60))
    # Repeat some commands verbatim: retries must change nothing.
    repeats = draw(st.lists(st.sampled_from(flat), max_size=10))
    flat = flat + repeats
    cuts = sorted(draw(st.lists(st.integers(0, len(flat)), max_size=5)))
    out, start = [], 0
    for cut in [*cuts, len(flat)]:
        out.append(flat[start:cut])
        start = cut
    return [b for b in out if b]


class Model:
    """What the ledger should do, written independently of it."""

    def __init__(self) -> None:
        self.balance: dict[str, int] = {}
        self.cells: set[tuple[str, int, int]] = set()
        self.seen: dict[str, Command] = {}

    def apply(self, command: Command) -> str:
        key = command.bet_id if isinstance(command, PlaceBet) else command.command_id
        if key in self.seen:
            return "ok"  # a repeat of an applied command: its stored result
        balance = self.balance.get(command.address)
        if isinstance(command, PlaceBet):
            if balance is None:
                return "insufficient_funds"
            if (command.address, command.column, command.row) in self.cells:
                return "cell_taken"
            delta = -command.amount
        elif isinstance(command, Deposit):
            delta = command.amount
        elif isinstance(command, Withdraw):
            delta = -command.amount
        else:
            delta = command.amount
        if balance is None and delta < 0:
            return "insufficient_funds"
        if (balance or 0) + delta < 0:
            return "insufficient_funds"
        self.balance[command.address] = (balance or 0) + delta
        if isinstance(command, PlaceBet):
            self.cells.add((command.address, command.column, command.row))
        self.seen[key] = command
        return "ok"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_random_command_sequences_keep_every_invariant(batch_list: list[list[Command]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "live.db"
        store, _ = new_store(path)
        model = Model()
        for batch in batch_list:
            outcomes = store.apply_batch(batch)
            assert [o.code.value for o in outcomes] == [model.apply(c) for c in batch]
            assert balances(path) == model.balance
            report = check_integrity(db.open_reader(path))
            assert report.ok, report.violations
            assert all(b >= 0 for b in balances(path).values())
