"""`taptrade admin ...` as an operator runs it: a real process, through the ledger's intake."""

from __future__ import annotations

import json
import subprocess
import sys

from taptrade.config import Settings
from tests.support import LedgerThread, address

OWNER = address(0xABC)


def taptrade(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "taptrade", *args]
    argv += ["--data-dir", str(settings.data_dir), "--redis-url", str(settings.redis_url)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_credit_withdraw_adjust_and_ledger(settings: Settings, ledger: LedgerThread) -> None:
    mixed_case = "0x" + OWNER[2:].upper()
    credit = taptrade(
        settings, "admin", "credit", mixed_case, "5000", "--reason", "welcome", "--command-id", "c-1"
    )
    assert credit.returncode == 0, credit.stderr
    assert json.loads(credit.stdout)["balance"] == 5000
    assert "balance now $50.00" in credit.stderr

    again = taptrade(settings, "admin", "credit", OWNER, "5000", "--command-id", "c-1")
    assert again.returncode == 0
    assert json.loads(again.stdout)["duplicate"] is True

    too_much = taptrade(settings, "admin", "withdraw", OWNER, "9999")
    assert too_much.returncode == 1
    assert "insufficient_funds" in too_much.stderr

    assert taptrade(settings, "admin", "withdraw", OWNER, "1000").returncode == 0
    adjust = taptrade(settings, "admin", "adjust", OWNER, "-500", "--reason", "chargeback")
    assert adjust.returncode == 0, adjust.stderr
    assert json.loads(adjust.stdout)["balance"] == 3500

    history = taptrade(settings, "admin", "ledger", OWNER)
    assert history.returncode == 0, history.stderr
    entries = [json.loads(line) for line in history.stdout.splitlines()]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("ADJUSTMENT", -500, 3500),
        ("WITHDRAWAL", -1000, 4000),
        ("DEPOSIT", 5000, 5000),
    ]
    assert json.loads(entries[0]["meta"]) == {"reason": "chargeback"}


def test_adjust_requires_a_reason_and_addresses_are_checked(settings: Settings) -> None:
    no_reason = taptrade(settings, "admin", "adjust", OWNER, "100")
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
    bad_address = taptrade(settings, "admin", "credit", "0x123", "100")
    assert bad_address.returncode == 2
    assert "not an Ethereum address" in bad_address.stderr
    zero = taptrade(settings, "admin", "credit", OWNER, "0")
    assert zero.returncode == 2


def test_no_ledger_running_is_reported_not_hung(settings: Settings) -> None:
    result = taptrade(settings, "admin", "credit", OWNER, "100", "--timeout-s", "0.5")
    assert result.returncode == 2
    assert "is the ledger running?" in result.stderr
    assert "Traceback" not in result.stderr
