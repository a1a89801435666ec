"""The clock's edges against a real `taptrade run`: bets sent in the last and first milliseconds of a
column's placeability, and a column that ends while the ledger is down.

A column `c` is placeable until column `c - 1` starts (past, current and next columns are not). A bet sent
before that moment may still arrive after it; one sent after it must never be taken, and no stored bet may
carry a placement time at or past it. A column that ends while the ledger is down is settled once when it
returns: each of its bets won or lost exactly once, paid at most once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass

import httpx
import pytest
from bench.loadgen import wait_for_betting

from taptrade.ledger import db
from tests.faults.conftest import Scale
from tests.faults.harness import System, funded_traders, record_row, settings_for
from tests.gateway_support import Trader, asked_until_stored, bet_body, current_column
from tests.support import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.long_fault, pytest.mark.slow, pytest.mark.timeout(900)]

COLUMN_MS = 5000
TRADERS = 40
SPREAD_MS = 200  # bets are sent from this long before the boundary to this long after it
FUNDS = 1_000_000


@dataclass(frozen=True)
class Sent:
    bet_id: str
    column: int
    sent_ms: float
    status: int
    code: str


async def send_at(client: httpx.AsyncClient, trader: Trader, body: dict[str, object], at_ms: float) -> Sent:
    """Send a bet signed beforehand at `at_ms` (epoch ms, this machine's clock, which is the server's)."""
    await asyncio.sleep(max(0.0, at_ms / 1000 - time.time()))
    sent_ms = time.time() * 1000
    response = await client.post("/api/bets", json=body, headers=trader.headers())
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    column = int(str(body["cell"]).split(":")[0])
    return Sent(str(body["bet_id"]), column, sent_ms, response.status_code, code)


def stored_bets(system: System, column: int) -> list[tuple[str, int, str, int | None]]:
    """(bet id, placed_ms, status, payout) of the bets live.db holds in `column`."""
    conn = db.open_reader(system.data_dir / "live.db")
    try:
        rows = conn.execute(
            "SELECT lower(hex(bet_id)), placed_ms, status, payout_cents FROM bets WHERE column_index = ?",
            (column,),
        ).fetchall()
    finally:
        conn.close()
    return [(str(r[0]), int(r[1]), str(r[2]), r[3]) for r in rows]


def test_bets_at_a_column_boundary_are_taken_before_it_and_never_after(system: System, scale: Scale) -> None:
    rounds = 10 if scale.full else 3
    sent = asyncio.run(_boundary_rounds(system, rounds))
    acknowledged = [s for s in sent if s.status in (200, 201)]
    system.acknowledged.extend(s.bet_id for s in acknowledged)

    assert {(s.status, s.code) for s in sent} <= {(201, ""), (422, "cell_not_placeable")}, sent
    late = [s for s in sent if s.sent_ms >= (s.column - 1) * COLUMN_MS]
    assert late
    assert all(s.status == 422 for s in late)  # sent once the column was "next": never taken
    assert acknowledged, "no bet before a boundary was taken: the campaign tested nothing"
    for column in {s.column for s in sent}:
        for _, placed_ms, _, _ in stored_bets(system, column):
            assert placed_ms < (column - 1) * COLUMN_MS  # none placed once its column was no longer open
    last = max(s.column for s in sent)
    wait_for(lambda: system.columns(last, last) == 1, 60, "the last column resolved")
    verdict = system.verdict()
    record_row(
        verdict,
        fault="clock: bets at column boundaries",
        method=f"{TRADERS} bets sent evenly from {SPREAD_MS} ms before to {SPREAD_MS} ms after the"
        " moment their column stops being placeable",
        runs=rounds,
        acknowledged=len(acknowledged),
        notes=f"taken: {len(acknowledged)}, refused cell_not_placeable: {len(sent) - len(acknowledged)},"
        f" of them sent at or after the boundary: {len(late)} (all refused)",
    )
    assert verdict.ok, verdict


async def _boundary_rounds(system: System, rounds: int) -> list[Sent]:
    settings = settings_for(system)
    await asyncio.to_thread(wait_for_betting, system.url)  # a new system's breaker holds betting closed
    traders = await funded_traders(system, TRADERS, FUNDS)
    sent: list[Sent] = []
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        for _ in range(rounds):
            price = (await client.get("/api/price")).json()["price"]
            column = current_column() + 3  # its boundary, the start of column - 1, is 5 to 10 s away
            boundary_ms = (column - 1) * COLUMN_MS
            bodies = [
                bet_body(trader, settings, column=column, row=price // settings.row_cents, amount=100)
                for trader in traders
            ]
            step_ms = 2 * SPREAD_MS / (TRADERS - 1)
            sent += await asyncio.gather(
                *(
                    send_at(client, trader, body, boundary_ms - SPREAD_MS + n * step_ms)
                    for n, (trader, body) in enumerate(zip(traders, bodies, strict=True))
                )
            )
    return sent


def test_a_column_ending_while_the_ledger_is_down_is_settled_once_after(system: System, scale: Scale) -> None:
    assert system.proc is not None
    outcome = asyncio.run(_column_across_a_ledger_outage(system))
    column, taken, in_doubt = outcome
    wait_for(lambda: system.columns(column, column) == 1, 60, "the column resolved after the restart")

    stored = {bet_id: status for bet_id, _, status, _ in stored_bets(system, column)}
    assert {s.bet_id.replace("-", "") for s in taken} <= set(stored)
    assert set(stored.values()) <= {"won", "lost"}  # settled from the recorded bars, not voided
    assert system.column_statuses(column, column) == ["resolved"]
    # A bet left without an answer while the ledger was down was either applied when it returned or not
    # at all; what the trader sees when they ask is what the ledger holds.
    verdict = system.verdict()
    record_row(
        verdict,
        fault="clock: a column ends while the ledger is down",
        method="the ledger killed 1 s before its column ends and kept down (launcher stopped) until"
        " the column's grace has passed, with bets arriving meanwhile",
        runs=1,
        acknowledged=len(taken),
        notes=f"the column's {len(stored)} bets settled once; {in_doubt} bets answered 504 during"
        " the outage, each then found stored or absent as GET /api/bets/{id} said",
    )
    assert verdict.ok, verdict


async def _column_across_a_ledger_outage(system: System) -> tuple[int, list[Sent], int]:
    assert system.proc is not None
    settings = settings_for(system)
    await asyncio.to_thread(wait_for_betting, system.url)
    traders = await funded_traders(system, TRADERS, FUNDS)
    async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
        price = (await client.get("/api/price")).json()["price"]
        row = price // settings.row_cents
        column = current_column() + 3
        # Rows around the price, so that the column has winners and losers to settle.
        bodies = [
            bet_body(trader, settings, column=column, row=row - 2 + n % 5, amount=100)
            for n, trader in enumerate(traders)
        ]
        taken = [
            s
            for s in await asyncio.gather(
                *(send_at(client, t, b, 0) for t, b in zip(traders, bodies, strict=True))
            )
            if s.status == 201
        ]
        assert taken, "no bet was taken on the column"
        system.acknowledged.extend(s.bet_id for s in taken)

        end_ms = (column + 1) * COLUMN_MS
        await asyncio.sleep(max(0.0, (end_ms - 1000) / 1000 - time.time()))
        os.kill(system.proc.pid, signal.SIGSTOP)  # nothing restarts the ledger until we say so
        try:
            system.kill("ledger")
            # Bets keep arriving for a later column while the ledger is down: answered 504 after the
            # reply timeout, they wait in the intake for its return.
            later = column + 3
            pending = [
                bet_body(trader, settings, column=later, row=row, amount=100) for trader in traders[:10]
            ]
            in_doubt = await asyncio.gather(
                *(send_at(client, t, b, 0) for t, b in zip(traders, pending, strict=False))
            )
            grace_ms = settings.resolution_grace_ms
            await asyncio.sleep(max(0.0, (end_ms + grace_ms + 2000) / 1000 - time.time()))
        finally:
            os.kill(system.proc.pid, signal.SIGCONT)
        assert {s.status for s in in_doubt} == {504}, in_doubt
        wait_for(lambda: len(system.pids("ledger")) == 1, 60, "the ledger restarted")

        found = await asyncio.gather(
            *(asked_until_stored(client, t, s.bet_id) for t, s in zip(traders, in_doubt, strict=False))
        )
    stored_later = {bet_id for bet_id, *_ in stored_bets(system, later)}
    for s, answer in zip(in_doubt, found, strict=True):
        status = answer.status_code
        assert (status == 200) == (s.bet_id.replace("-", "") in stored_later), (s, status)
        if status == 200:
            system.acknowledged.append(s.bet_id)
    return column, taken, len(in_doubt)
