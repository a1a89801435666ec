"""Columns resolve in the real ledger loop from the bars the feed streams: payouts, refunds, events,
integrity, `resolve --verify`, and no second payout when a column is resolved again."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import msgspec
import pytest
import redis
from prometheus_client import REGISTRY

from taptrade import bus
from taptrade.clock import ManualClock
from taptrade.commands import Envelope, PlaceBet, decode_events, encode
from taptrade.config import Settings
from taptrade.grid import GridSpec
from taptrade.ledger import db
from taptrade.ledger import service as ledger_service
from taptrade.ledger.app import rules_from
from taptrade.ledger.integrity import check_integrity
from taptrade.ledger.resolution import ColumnOutcome, column_outcome
from taptrade.ledger.resolver import Resolver
from taptrade.ledger.service import LedgerService
from taptrade.ledger.store import LedgerRules, LedgerStore
from taptrade.market import Bar
from tests.support import LedgerThread, address, deposit, wait_for

T0 = 1_763_700_000_000
COLUMN = T0 // 5000 + 3
START_S = COLUMN * 5
ROW = 9712
LOWER, UPPER = ROW * 1000, ROW * 1000 + 1000


def void_outcome(column: int, grid: GridSpec) -> ColumnOutcome:
    return column_outcome(column, grid, {})  # no bars: void


def queue(client: redis.Redis, *commands: object) -> None:
    for command in commands:
        envelope = Envelope(request_id=str(uuid.uuid4()), reply_to=None, command=command)  # type: ignore[arg-type]
        client.xadd(bus.INTAKE_STREAM, {"m": encode(envelope)})


def send_bars(client: redis.Redis, bars: list[Bar]) -> None:
    for bar in bars:
        client.xadd(bus.BARS_STREAM, {"m": msgspec.json.encode(bar)})


def bet(owner: str, row: int, amount: int = 1000, multiplier_e4: int = 25_000) -> PlaceBet:
    return PlaceBet(str(uuid.uuid4()), owner, COLUMN, row, amount, multiplier_e4, 7, T0)


def flat(second: int, price: int, count: int = 1) -> Bar:
    return Bar(second, price, price, price, price, count)


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    return db.open_reader(settings.live_db_path).execute(sql).fetchall()


def store_at_t0(settings: Settings) -> tuple[LedgerStore, LedgerRules, sqlite3.Connection, ManualClock]:
    """The ledger's store on the test's live.db, its clock at T0."""
    clock = ManualClock(T0)
    conn = db.open_writer(settings.live_db_path)
    rules = rules_from(settings)
    return LedgerStore(conn, rules, clock), rules, conn, clock


def resolved_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("bets_resolved_total", {"outcome": outcome}) or 0.0


def test_a_column_resolves_pays_winners_and_tells_everyone(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    won_before, lost_before = resolved_count("won"), resolved_count("lost")
    clock = ManualClock(T0)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    events = client.pubsub()
    events.subscribe(bus.EVENTS_CHANNEL, bus.COLUMNS_CHANNEL)
    winner, loser = address(1), address(2)
    queue(client, deposit(winner, 10_000), deposit(loser, 10_000))
    queue(client, bet(winner, ROW, 2500, 33_333), bet(loser, ROW + 5))
    with LedgerThread(settings, clock) as ledger:
        wait_for(lambda: ledger.service.commands_handled == 4, what="bets placed")
        # The price enters the band in the column's third second.
        send_bars(
            client,
            [flat(START_S - 1, LOWER - 300)] + [flat(START_S + s, LOWER - 300 + 200 * s) for s in range(5)],
        )
        clock.set((COLUMN + 1) * 5000 + 2000)
        resolved = f"SELECT COUNT(*) FROM columns WHERE column_index = {COLUMN}"
        wait_for(lambda: rows(settings, resolved) == [(1,)], what="column resolved")

    assert rows(settings, "SELECT status, payout_cents FROM bets ORDER BY row_index") == [
        ("won", 8333),
        ("lost", 0),
    ]
    balances = dict(rows(settings, "SELECT address, balance_cents FROM users"))  # type: ignore[arg-type]
    assert balances == {winner: 10_000 - 2500 + 8333, loser: 9000}
    assert rows(settings, "SELECT kind, amount_cents FROM ledger WHERE kind = 'PAYOUT'") == [("PAYOUT", 8333)]
    column = rows(
        settings,
        f"SELECT status, open_cents, high_cents, low_cents, ticks FROM columns WHERE column_index = {COLUMN}",
    )
    assert column == [("resolved", LOWER - 300, LOWER + 500, LOWER - 300, 5)]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok
    assert (resolved_count("won") - won_before, resolved_count("lost") - lost_before) == (1, 1)
    # A dispute is settled from the log: each bet with its band, stake, multiplier and the column's range.
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if '"bets_settled"' in line]
    [settled] = [line for line in lines if line["column"] == COLUMN]
    assert (settled["column_high"], settled["column_low"]) == (LOWER + 500, LOWER - 300)
    mine = {bet[1]: dict(zip(settled["fields"], bet, strict=True)) for bet in settled["bets"]}
    assert (mine[winner]["status"], mine[winner]["payout"], mine[winner]["multiplier_e4"]) == (
        "won",
        8333,
        33_333,
    )
    assert (mine[loser]["cell"], mine[loser]["status"], mine[loser]["payout"]) == (
        f"{COLUMN}:{ROW + 5}",
        "lost",
        0,
    )

    seen: list[object] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = events.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message and message["channel"] == bus.COLUMNS_CHANNEL.encode():
            seen.append(msgspec.json.decode(message["data"]))
        elif message:
            seen.extend(
                (e.address, e.type, e.bet.status if e.bet else e.balance)
                for e in decode_events(message["data"])
            )
    assert (winner, "bet", "won") in seen
    assert (winner, "balance", 10_000 - 2500 + 8333) in seen
    assert (loser, "bet", "lost") in seen
    assert any(isinstance(m, dict) and m["column"] == COLUMN and m["status"] == "resolved" for m in seen)

    verify = [
        sys.executable,
        "-m",
        "taptrade",
        "resolve",
        "--verify",
        "--all",
        "--data-dir",
        str(settings.data_dir),
    ]
    assert subprocess.run(verify, capture_output=True, text=True, check=False).returncode == 0
    tamper = __import__("sqlite3").connect(settings.live_db_path)
    tamper.execute("UPDATE bets SET status = 'won', payout_cents = 2500 WHERE status = 'lost'")
    tamper.commit()
    result = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "recomputed ('lost', 0)" in result.stdout


def test_a_deaf_column_is_void_and_refunded(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    owner = address(3)
    queue(client, deposit(owner, 5000), bet(owner, ROW))
    with LedgerThread(settings, clock) as ledger:
        wait_for(lambda: ledger.service.commands_handled == 2, what="bet placed")
        send_bars(
            client, [flat(START_S - 1, LOWER), flat(START_S, LOWER), flat(START_S + 6, LOWER)]
        )  # 4 s deaf
        clock.set((COLUMN + 1) * 5000 + 2000)
        wait_for(lambda: rows(settings, "SELECT status FROM bets") == [("void",)], what="column voided")
    assert rows(settings, "SELECT balance_cents FROM users") == [(5000,)]
    assert rows(settings, "SELECT kind, amount_cents FROM ledger ORDER BY id DESC LIMIT 1") == [
        ("REFUND", 1000)
    ]
    reason = rows(settings, f"SELECT status, void_reason FROM columns WHERE column_index = {COLUMN}")
    assert reason == [("void", "the feed was deaf for 4 s")]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok


def test_a_column_whose_bars_never_come_is_voided_after_the_wait(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    owner = address(4)
    queue(client, deposit(owner, 5000), bet(owner, ROW))
    with LedgerThread(settings, clock) as ledger:
        wait_for(lambda: ledger.service.commands_handled == 2, what="bet placed")
        clock.set((COLUMN + 1) * 5000 + 10_000)
        time.sleep(0.5)
        assert rows(settings, "SELECT status FROM bets") == [("confirmed",)]  # still waiting for the feed
        clock.set((COLUMN + 1) * 5000 + 31_000)
        wait_for(
            lambda: rows(settings, "SELECT status FROM bets") == [("void",)], what="voided after the wait"
        )
    assert rows(settings, "SELECT balance_cents FROM users") == [(5000,)]


def test_resolving_a_column_again_pays_nothing_twice(settings: Settings) -> None:
    clock = ManualClock(T0)
    conn = db.open_writer(settings.live_db_path)
    store = LedgerStore(conn, rules_from(settings), clock)
    owner = address(5)
    store.apply_batch([deposit(owner, 5000), bet(owner, ROW)])
    bars = {b.second: b for b in [flat(START_S + s, LOWER) for s in range(-1, 5)]}
    outcome = column_outcome(COLUMN, rules_from(settings).grid, bars)
    clock.set((COLUMN + 1) * 5000 + 2000)
    first = store.apply_resolution(outcome, COLUMN + 1)
    again = store.apply_resolution(
        outcome, COLUMN + 1
    )  # as after a crash between commit and the pointer's use
    assert first[0] is True
    assert again == (False, [])
    assert rows(settings, "SELECT COUNT(*) FROM ledger WHERE kind = 'PAYOUT'") == [(1,)]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok


@pytest.mark.parametrize("status", ["resolved", "void"])
def test_a_busy_column_settles_in_steps_with_bets_between_and_after_a_crash(
    settings: Settings, status: str
) -> None:
    """Steps of at most `step_bets`, each its own transaction; a crash between steps (a new store on the same
    file) finishes by the outcome as recorded, even if the bars said otherwise later; nothing twice."""
    store, rules, _, clock = store_at_t0(settings)
    owners = [address(10 + n) for n in range(7)]
    store.apply_batch([deposit(o, 50_000) for o in owners])
    store.apply_batch([bet(o, ROW + r) for o in owners for r in (0, 1)])  # 14 bets, 7 win if resolved
    bars = {b.second: b for b in [flat(START_S + s, LOWER) for s in range(-1, 5)]}
    outcome = (
        column_outcome(COLUMN, rules.grid, bars) if status == "resolved" else void_outcome(COLUMN, rules.grid)
    )
    clock.set((COLUMN + 1) * 5000 + 2000)

    first = store.resolution_step(outcome, COLUMN + 1, max_bets=5)
    assert (first.new, first.finished, first.settled) == (True, False, 5)
    assert rows(settings, "SELECT value FROM counters WHERE name = 'next_column'") == []  # not moved on
    late_owner = address(99)
    store.apply_batch([deposit(late_owner, 1000)])  # a batch between steps commits on its own

    # A crash: a new store and resolver on the same file; the bars would now say the other thing.
    store_conn = db.open_writer(settings.live_db_path)
    store = LedgerStore(store_conn, rules, clock)
    resolver = Resolver(store_conn, store, rules.grid, clock, step_bets=5)
    other = (
        void_outcome(COLUMN, rules.grid) if status == "resolved" else column_outcome(COLUMN, rules.grid, bars)
    )
    second = store.resolution_step(other, COLUMN + 1, max_bets=5)
    assert (second.new, second.finished, second.settled) == (False, False, 5)
    third = store.resolution_step(other, COLUMN + 1, max_bets=5)
    assert (third.new, third.finished, third.settled) == (False, True, 4)
    assert resolver.resolve_due() == []  # moved on: nothing left for this column

    statuses = dict(rows(settings, "SELECT status, COUNT(*) FROM bets GROUP BY status"))
    assert statuses == ({"won": 7, "lost": 7} if status == "resolved" else {"void": 14})
    credits = "SELECT COUNT(*) FROM ledger WHERE kind IN ('PAYOUT', 'REFUND')"
    assert rows(settings, credits) == [(7 if status == "resolved" else 14,)]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok


def six_bets_due(settings: Settings, step_bets: int) -> tuple[LedgerStore, Resolver]:
    """Six traders' bets in COLUMN, the clock past its end and grace, a resolver settling `step_bets` a
    step."""
    store, rules, conn, clock = store_at_t0(settings)
    owners = [address(30 + n) for n in range(6)]
    store.apply_batch([deposit(o, 50_000) for o in owners])
    store.apply_batch([bet(o, ROW) for o in owners])
    resolver = Resolver(conn, store, rules.grid, clock, step_bets=step_bets, give_up_ms=0)
    clock.set((COLUMN + 1) * 5000 + 2000)
    return store, resolver


def test_the_resolver_steps_through_a_busy_column_one_step_per_call(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    _, resolver = six_bets_due(settings, step_bets=4)

    first = resolver.resolve_due()
    assert [(r.outcome.column, r.finished, len(r.events)) for r in first] == [(COLUMN, False, 8)]
    assert resolver.settling
    second = resolver.resolve_due()
    assert [(r.outcome.column, r.finished, len(r.events)) for r in second] == [(COLUMN, True, 4)]
    assert not resolver.settling
    assert rows(settings, "SELECT COUNT(*) FROM bets WHERE status = 'confirmed'") == [(0,)]
    # The log says how the column's settlement went: its bets, its steps and their time.
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if '"column_resolved"' in line]
    [resolved] = [line for line in lines if line["column"] == COLUMN]
    assert (resolved["bets"], resolved["steps"]) == (6, 2)
    assert resolved["settle_ms"] > 0


class SteppedClock:
    """Stands in for the service's `time` module: a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return time.perf_counter()


@pytest.fixture
def stepped_service(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LedgerService, Resolver, SteppedClock]]:
    """The ledger service over `six_bets_due` (two bets a step), its time the test's `SteppedClock`."""
    store, resolver = six_bets_due(settings, step_bets=2)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    service = LedgerService(client, store, batch_max=100, block_ms=10, resolver=resolver)
    service.ensure_group()
    steady = SteppedClock()
    monkeypatch.setattr(ledger_service, "time", steady)
    yield service, resolver, steady
    client.close()


OPEN_BETS = "SELECT COUNT(*) FROM bets WHERE status = 'confirmed'"


def test_the_steps_of_a_busy_column_are_spaced_so_bets_keep_the_cpu(
    settings: Settings, stepped_service: tuple[LedgerService, Resolver, SteppedClock]
) -> None:
    service, resolver, steady = stepped_service
    service._housekeep(resolver)  # housekeeping: the column's first step
    assert rows(settings, OPEN_BETS) == [(4,)]
    for _ in range(5):  # the loop comes round again at once, after each batch of bets: no step yet
        service._housekeep(resolver)
    assert rows(settings, OPEN_BETS) == [(4,)]
    steady.now += ledger_service.SETTLE_STEP_EVERY_S
    service._housekeep(resolver)
    service._housekeep(resolver)
    assert rows(settings, OPEN_BETS) == [(2,)]  # one step, then the wait again
    steady.now += ledger_service.SETTLE_STEP_EVERY_S
    service._housekeep(resolver)
    assert rows(settings, OPEN_BETS) == [(0,)]
    steady.now += ledger_service.SETTLE_STEP_EVERY_S
    service._housekeep(resolver)  # a full last step needs one more to see that none is left
    assert not resolver.settling


def test_the_steps_come_close_together_once_the_next_column_is_due(
    settings: Settings, stepped_service: tuple[LedgerService, Resolver, SteppedClock]
) -> None:
    service, resolver, steady = stepped_service
    service._housekeep(resolver)  # the first step, with the next column not yet due
    assert not resolver.behind()
    resolver_clock = resolver._clock
    assert isinstance(resolver_clock, ManualClock)
    resolver_clock.set((COLUMN + 2) * 5000 + 2000)  # the next column's end and grace have passed
    assert resolver.behind()
    steady.now += ledger_service.SETTLE_STEP_EVERY_S  # the step due on the normal spacing
    service._housekeep(resolver)
    assert rows(settings, OPEN_BETS) == [(2,)]
    steady.now += ledger_service.SETTLE_STEP_CATCHING_UP_S  # and the next one after the short spacing
    service._housekeep(resolver)
    assert rows(settings, OPEN_BETS) == [(0,)]


def test_a_step_settles_each_owners_bets_in_order_with_numbered_events_and_a_balance_chain(
    settings: Settings,
) -> None:
    """One owner's won, lost, won and lost bets in one step: their events are numbered on from the owner's
    event count without a gap, each credit's balance event and ledger row carry the running balance, and
    the other owner's numbers are their own."""
    store, rules, _, clock = store_at_t0(settings)
    busy, quiet = address(40), address(41)
    store.apply_batch([deposit(busy, 50_000), deposit(quiet, 50_000)])
    # The price touches ROW and ROW + 1: those bets win (2.5x and 3x), the others lose.
    busy_bets = [bet(busy, ROW, 1000), bet(busy, ROW + 3, 1000), bet(busy, ROW + 1, 1000, 30_000)]
    store.apply_batch([busy_bets[0], bet(quiet, ROW + 4), busy_bets[1], busy_bets[2]])
    store.apply_batch([bet(busy, ROW - 3, 500)])
    seq_before = dict(rows(settings, "SELECT address, event_seq FROM users"))
    prices = [LOWER + 10, LOWER + 10, LOWER + 10, LOWER + 10, LOWER + 1010, LOWER + 10]
    bars = {START_S + s: flat(START_S + s, price) for s, price in zip(range(-1, 5), prices, strict=True)}
    clock.set((COLUMN + 1) * 5000 + 2000)

    step = store.resolution_step(column_outcome(COLUMN, rules.grid, bars), COLUMN + 1, max_bets=None)

    mine = [(e.seq, e.type, e.bet.status if e.bet else e.balance) for e in step.events if e.address == busy]
    start = int(seq_before[busy])  # type: ignore[call-overload]
    balance = 50_000 - 1000 - 1000 - 1000 - 500
    assert mine == [
        (start + 1, "bet", "won"),
        (start + 2, "balance", balance + 2500),
        (start + 3, "bet", "lost"),
        (start + 4, "bet", "won"),
        (start + 5, "balance", balance + 2500 + 3000),
        (start + 6, "bet", "lost"),
    ]
    theirs = [(e.seq, e.type) for e in step.events if e.address == quiet]
    assert theirs == [(int(seq_before[quiet]) + 1, "bet")]  # type: ignore[call-overload]
    assert rows(settings, "SELECT address, event_seq, balance_cents FROM users ORDER BY address") == sorted(
        [(busy, start + 6, balance + 5500), (quiet, int(seq_before[quiet]) + 1, 49_000)]  # type: ignore[call-overload]
    )
    payouts = "SELECT amount_cents, balance_after_cents FROM ledger WHERE kind = 'PAYOUT' ORDER BY id"
    assert rows(settings, payouts) == [(2500, balance + 2500), (3000, balance + 5500)]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok


def test_a_steps_statements_do_not_grow_with_its_bets(settings: Settings) -> None:
    """Settling is set-based: a step of 34 bets runs as many SQL statements as a step of 4 (row by row, a
    step ran two or three statements a bet and held the single writer for most of a second per busy
    column). The credits' ledger rows are one insert of many rows; SQLite traces each row."""
    store, rules, conn, clock = store_at_t0(settings)
    owners = [address(50 + n) for n in range(40)]
    store.apply_batch([deposit(o, 50_000) for o in owners])
    store.apply_batch([bet(o, ROW + n % 2) for n, o in enumerate(owners)])  # half of them win
    bars = {b.second: b for b in [flat(START_S + s, LOWER + 10) for s in range(-1, 5)]}
    outcome = column_outcome(COLUMN, rules.grid, bars)
    clock.set((COLUMN + 1) * 5000 + 2000)
    store.resolution_step(outcome, COLUMN + 1, max_bets=2)  # the first step also records the column
    statements: list[str] = []
    conn.set_trace_callback(
        lambda sql: None if sql.startswith("INSERT INTO ledger") else statements.append(sql)
    )

    small = store.resolution_step(outcome, COLUMN + 1, max_bets=4)
    small_count, statements[:] = len(statements), []
    large = store.resolution_step(outcome, COLUMN + 1, max_bets=50)

    assert (small.settled, large.settled, large.finished) == (4, 34, True)
    assert len(statements) == small_count + 1  # the last step also moves the column pointer on
    assert rows(settings, "SELECT COUNT(*) FROM ledger WHERE kind = 'PAYOUT'") == [(20,)]
    assert check_integrity(db.open_reader(settings.live_db_path)).ok
