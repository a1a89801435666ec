"""Schemathesis at full depth against a real `taptrade run` while traders bet: every operation of the
served OpenAPI document, signed in (a real session token) and not, through its example, coverage,
fuzzing and stateful phases, with the checks that the answers keep the contract — never a 5xx other than
API.md's 503/504, every status and body the document declares, an invalid request refused. Then the
invariants: whatever the fuzzer sent, no money moved that should not have.

`make test` runs a quick pass against a quiet gateway (tests/integration/test_gateway_reads.py); this is
the deep one.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taptrade.ledger import db
from tests.faults.conftest import Scale
from tests.faults.harness import Load, System, funded_traders
from tests.support import SCHEMA_CHECKS

pytestmark = [pytest.mark.fault, pytest.mark.long_fault, pytest.mark.slow, pytest.mark.timeout(3600)]


def test_schemathesis_at_full_depth_finds_no_breach_of_the_contract(
    system: System, scale: Scale, tmp_path: Path
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None
    [trader] = asyncio.run(funded_traders(system, 1, 1_000_000))
    load = Load(system, scale.rate, 60 if not scale.full else 300, users=scale.rate)
    load.wait_started()
    argv = [cli, "run", f"{system.url}/api/openapi.json", "--checks", ",".join(SCHEMA_CHECKS),
            "--max-examples", "300" if scale.full else "50", "--seed", "1", "--no-color",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--header", f"Authorization: Bearer {trader.token}",
            "--exclude-path", "/api/auth/logout",  # it would end the session every other call runs in
            "--report", "junit", "--report-dir", str(tmp_path)]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=3000, check=False, cwd=tmp_path)
    finally:
        record = load.finish()
    system.took(record)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    system.deposited_cents += faucet_credits(system, trader.address)
    verdict = system.verdict()
    assert verdict.ok, verdict


def faucet_credits(system: System, address: str) -> int:
    """What the demo faucet paid `address` while the fuzzer called it: money in that the invariant check
    must count as deposited."""
    conn = db.open_reader(system.data_dir / "live.db")
    try:
        (paid,) = conn.execute(
            "SELECT COALESCE(SUM(l.amount_cents), 0) FROM ledger l JOIN users u ON u.id = l.user_id"
            " WHERE u.address = ? AND l.kind = 'DEPOSIT' AND l.ref LIKE 'faucet:%'",
            (address,),
        ).fetchone()
    finally:
        conn.close()
    return int(paid)
