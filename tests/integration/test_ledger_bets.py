"""Bets through the real intake (Redis stream) and the real ledger loop (SQLite), checked through an
independent read-only connection."""

from __future__ import annotations

import asyncio
import sqlite3

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.support import LedgerThread, address, bet, deposit, placeable_column


def reader(settings: Settings) -> sqlite3.Connection:
    return db.open_reader(settings.live_db_path)


def balance_of(settings: Settings, owner: str) -> int:
    row = reader(settings).execute("SELECT balance_cents FROM users WHERE address = ?", (owner,)).fetchone()
    return int(row[0])


async def test_hundred_concurrent_bets_on_fifty_dollars_exactly_five_win(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    owner = address(1)
    assert (await intake.submit(deposit(owner, 5000))).ok
    column = placeable_column()
    bets = [bet(owner, column=column, row=9000 + i, amount=1000) for i in range(100)]

    replies = await asyncio.gather(*(intake.submit(b) for b in bets))

    accepted = [r for r in replies if r.ok]
    assert len(accepted) == 5
    assert {r.code for r in replies if not r.ok} == {"insufficient_funds"}
    assert sorted(r.balance for r in accepted) == [0, 1000, 2000, 3000, 4000]
    conn = reader(settings)
    assert balance_of(settings, owner) == 0
    assert conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0] == 5
    assert conn.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'BET'").fetchone()[0] == 5
    assert check_integrity(conn).ok


async def test_same_bet_id_concurrently_is_one_bet_and_one_debit(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    owner = address(2)
    await intake.submit(deposit(owner, 10_000))
    once = bet(owner)

    replies = await asyncio.gather(*(intake.submit(once) for _ in range(20)))

    assert all(r.ok for r in replies)
    assert sum(not r.duplicate for r in replies) == 1
    assert {r.bet.bet_id for r in replies if r.bet} == {once.bet_id}
    assert {r.balance for r in replies} == {9000}
    conn = reader(settings)
    assert conn.execute("SELECT COUNT(*) FROM bets").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'BET'").fetchone()[0] == 1
    assert balance_of(settings, owner) == 9000


async def test_same_bet_id_in_sequence_returns_the_stored_bet(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    owner = address(3)
    await intake.submit(deposit(owner, 10_000))
    first_bet = bet(owner)

    first = await intake.submit(first_bet)
    second = await intake.submit(first_bet)

    assert first.ok
    assert not first.duplicate
    assert second.ok
    assert second.duplicate
    assert second.bet == first.bet
    assert second.balance == first.balance == 9000


async def test_same_bet_id_other_content_is_a_conflict(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    owner = address(4)
    await intake.submit(deposit(owner, 10_000))
    original = bet(owner, row=9000)
    assert (await intake.submit(original)).ok

    other_cell = bet(owner, row=9001, bet_id=original.bet_id, column=original.column)
    other_amount = bet(owner, row=9000, bet_id=original.bet_id, column=original.column, amount=500)
    replies = [await intake.submit(other_cell), await intake.submit(other_amount)]

    assert [r.code for r in replies] == ["bet_id_conflict", "bet_id_conflict"]
    assert balance_of(settings, owner) == 9000


async def test_one_user_one_cell_two_bets_second_is_cell_taken(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    owner = address(5)
    await intake.submit(deposit(owner, 10_000))
    column = placeable_column()

    first = await intake.submit(bet(owner, column=column, row=9100))
    second = await intake.submit(bet(owner, column=column, row=9100))

    assert first.ok
    assert second.code == "cell_taken"
    assert balance_of(settings, owner) == 9000


async def test_two_users_same_cell_both_accepted(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    alice, bob = address(6), address(7)
    await intake.submit(deposit(alice, 1000))
    await intake.submit(deposit(bob, 1000))
    column = placeable_column()

    replies = await asyncio.gather(
        intake.submit(bet(alice, column=column, row=9100)),
        intake.submit(bet(bob, column=column, row=9100)),
    )

    assert [r.code for r in replies] == ["ok", "ok"]
    assert balance_of(settings, alice) == balance_of(settings, bob) == 0


async def test_a_user_without_balance_cannot_bet(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    reply = await intake.submit(bet(address(8)))
    assert reply.code == "insufficient_funds"
    assert reader(settings).execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
