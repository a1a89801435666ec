"""The campaigns' invariant check itself: clean on a real ledger's database, and it notices a lost bet,
money that does not add up, and a stake debited twice."""

from __future__ import annotations

import sqlite3

import pytest

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from tests.faults.harness import LoadRecord, check_invariants
from tests.support import LedgerThread, address, bet, deposit, placeable_column

OWNER = address(77)


async def _two_bets(intake: IntakeClient) -> list[str]:
    assert (await intake.submit(deposit(OWNER, 10_000))).ok
    column = placeable_column()
    bets = [bet(OWNER, column=column, row=9_000 + n, amount=1000) for n in range(2)]
    for placed in bets:
        assert (await intake.submit(placed)).ok
    return [b.bet_id for b in bets]


async def test_clean_then_a_lost_bet_and_missing_money_are_seen(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    placed = await _two_bets(intake)
    data_dir = settings.data_dir

    clean = check_invariants(data_dir, placed, deposited_cents=10_000)
    assert clean.ok, clean
    assert (clean.acknowledged, clean.lost, clean.drift_cents) == (2, 0, 0)

    lost = check_invariants(data_dir, [*placed, "00000000-0000-4000-8000-000000000000"], 10_000)
    assert (lost.ok, lost.lost) == (False, 1)

    drift = check_invariants(data_dir, placed, deposited_cents=12_000)  # 20.00 paid in, 18.00 held + staked
    assert (drift.ok, drift.drift_cents) == (False, -2_000)


async def test_a_stake_debited_twice_is_seen(
    settings: Settings, ledger: LedgerThread, intake: IntakeClient
) -> None:
    placed = await _two_bets(intake)
    ledger.__exit__(None, None, None)  # stop the writer before the database is tampered with
    conn = sqlite3.connect(settings.live_db_path)
    with conn:
        conn.execute(
            "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, bet_ref, created_ms)"
            " SELECT user_id, id + 1000, kind, amount_cents, balance_after_cents, bet_ref, created_ms"
            " FROM ledger WHERE kind = 'BET' LIMIT 1"
        )
    conn.close()
    verdict = check_invariants(settings.data_dir, placed, deposited_cents=10_000)
    assert (verdict.ok, verdict.double_debits, verdict.integrity_ok) == (False, 1, False)


def test_recovery_ends_with_the_last_bet_the_fault_refused_or_held() -> None:
    record = LoadRecord(
        funded_cents=0,
        confirmed=[],
        bets=[
            (9.0, 9.1, 201),
            (10.1, 12.0, 504),  # no answer from the ledger in time
            (10.2, 11.6, 201),  # confirmed, but held 1.4 s
            (10.5, 11.2, 201),
            (11.0, 11.1, 201),
            (12.5, 12.55, 201),
            (13.0, 13.5, 503),
        ],
        answers={},
    )
    assert record.recovery_s(10.0, until_s=12.9) == pytest.approx(2.0)  # the 504's answer at 12.0
    assert record.recovery_s(12.2, until_s=12.9) == 0.0  # nothing disturbed
    assert record.recovery_s(12.9) is None  # only a refusal after it: never recovered
    # Sent at 11.4, just before the next fault struck at 11.5, and held by it: that fault's, not this one's
    # (the 504 sent at 10.1 was already late at 11.5, so it stays this one's).
    record.bets.append((11.4, 13.1, 504))
    assert record.recovery_s(10.0, until_s=11.5) == pytest.approx(2.0)
