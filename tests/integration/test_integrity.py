"""`taptrade integrity` finds tampering: a changed balance, a broken balance_after chain, a double debit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taptrade.clock import ManualClock
from taptrade.commands import Deposit, PlaceBet, Withdraw
from taptrade.grid import GridSpec
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from taptrade.ledger.store import LedgerRules, LedgerStore
from tests.support import address

START_MS = 1_763_700_000_000
ALICE, BOB = address(1), address(2)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A live.db with two users, deposits, a withdrawal and two bets."""
    directory = tmp_path / "data"
    rules = LedgerRules(GridSpec(), frozenset({100, 1000}), 11_000, 1_000_000)
    store = LedgerStore(db.open_writer(directory / "live.db"), rules, ManualClock(START_MS))
    column = START_MS // 5000 + 3
    outcomes = store.apply_batch(
        [
            Deposit("d1", ALICE, 5000),
            Deposit("d2", BOB, 3000),
            Withdraw("w1", ALICE, 1000),
            PlaceBet("6f1c0a56-9a53-4d0e-8f3e-1d2b3c4d5e6f", ALICE, column, 9700, 1000, 20_000, 1, START_MS),
            PlaceBet("7f1c0a56-9a53-4d0e-8f3e-1d2b3c4d5e6f", BOB, column, 9700, 100, 20_000, 1, START_MS),
        ]
    )
    assert all(o.ok for o in outcomes)
    return directory


def tamper(data_dir: Path, sql: str) -> None:
    conn = sqlite3.connect(data_dir / "live.db")
    conn.execute(sql)
    conn.commit()
    conn.close()


def report(data_dir: Path) -> dict[str, list[str]]:
    result = check_integrity(db.open_reader(data_dir / "live.db"))
    rules: dict[str, list[str]] = {}
    for violation in result.violations:
        rules.setdefault(violation.rule, []).append(violation.address or "")
    return rules


def test_untouched_ledger_is_clean(data_dir: Path) -> None:
    assert report(data_dir) == {}


def test_tampered_balance_is_caught(data_dir: Path) -> None:
    tamper(data_dir, f"UPDATE users SET balance_cents = balance_cents + 100 WHERE address = '{BOB}'")
    assert report(data_dir) == {"balance_mismatch": [BOB]}


def test_a_days_loss_not_matching_its_rows_is_caught(data_dir: Path) -> None:
    # A lowered running loss would let its owner bet past their daily limit.
    tamper(data_dir, f"UPDATE users SET loss_today_cents = 0 WHERE address = '{ALICE}'")
    assert report(data_dir) == {"day_loss_mismatch": [ALICE]}


def test_broken_balance_after_chain_is_caught(data_dir: Path) -> None:
    # Shift one middle row's amount and balance_after together: the sum still matches, the chain does not.
    tamper(
        data_dir,
        "UPDATE ledger SET amount_cents = -900, balance_after_cents = 4100 WHERE kind = 'WITHDRAWAL'",
    )
    rules = report(data_dir)
    assert rules["chain_broken"] == [ALICE]
    assert rules["balance_mismatch"] == [ALICE]


def test_a_second_debit_for_one_bet_is_caught(data_dir: Path) -> None:
    tamper(
        data_dir,
        "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, bet_ref, created_ms) "
        "SELECT user_id, 1000, 'BET', amount_cents, balance_after_cents + amount_cents, bet_ref, created_ms "
        f"FROM ledger WHERE kind = 'BET' AND user_id = (SELECT id FROM users WHERE address = '{BOB}')",
    )
    rules = report(data_dir)
    assert rules["bet_rows"] == [BOB]
    assert BOB in rules["balance_mismatch"]


def test_a_payout_on_an_open_bet_is_caught(data_dir: Path) -> None:
    tamper(
        data_dir,
        "INSERT INTO ledger (user_id, id, kind, amount_cents, balance_after_cents, bet_ref, created_ms) "
        "SELECT user_id, 1000, 'PAYOUT', 2000, balance_after_cents + 2000, bet_ref, created_ms "
        f"FROM ledger WHERE kind = 'BET' AND user_id = (SELECT id FROM users WHERE address = '{ALICE}')",
    )
    assert report(data_dir)["bet_rows"] == [ALICE]


def test_cli_exits_1_with_a_report_on_violation_and_0_when_clean(data_dir: Path) -> None:
    argv = [sys.executable, "-m", "taptrade", "integrity", "--data-dir", str(data_dir)]
    clean = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stderr
    assert '"ok": true' in clean.stdout
    metrics = data_dir / "metrics" / "integrity.prom"
    assert "integrity_drift_users 0.0" in metrics.read_text()

    tamper(data_dir, f"UPDATE users SET balance_cents = 1 WHERE address = '{ALICE}'")
    dirty = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert dirty.returncode == 1
    assert "balance_mismatch" in dirty.stdout
    assert "1 violation" in dirty.stderr
    assert "integrity_drift_users 1.0" in metrics.read_text()  # the alert's input


def test_cli_reports_a_missing_database_clearly(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "taptrade", "integrity", "--data-dir", str(tmp_path / "nothing")]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no database at" in result.stderr
    assert "Traceback" not in result.stderr
