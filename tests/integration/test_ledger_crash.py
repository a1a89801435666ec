"""kill -9 of a real ledger process in the middle of a stream of commands, then restart: every
command acknowledged to a client is in the database exactly once, nothing is applied twice, integrity
holds."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest
import redis

from taptrade import bus
from taptrade.bus import BusError, IntakeClient, connect_async
from taptrade.commands import PlaceBet
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.support import address, bet, deposit, ledger_subprocess, placeable_column, wait_for

USERS = [address(500 + n) for n in range(30)]
KILLS = 3
BETS = 3000
BURST = 300
BURST_GAP_S = 0.1


def backlog_drained(settings: Settings) -> bool:
    client = redis.Redis.from_url(settings.resolved_redis_url())
    try:
        pending = client.xpending(bus.INTAKE_STREAM, bus.INTAKE_GROUP)["pending"]
        groups = client.xinfo_groups(bus.INTAKE_STREAM)
        return pending == 0 and groups[0]["lag"] == 0
    finally:
        client.close()


@pytest.mark.slow
async def test_kill_9_mid_stream_loses_nothing_and_applies_nothing_twice(
    settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "ledger.log"
    proc = ledger_subprocess(settings, log_path)
    # Thousands of submits at once from this one loop: give each time to get a connection and be queued
    # (the test is about the ledger's crashes, not about Redis answering slowly).
    client = connect_async(settings.resolved_redis_url(), timeout_s=10)
    intake = IntakeClient(client, intake_max_len=100_000, reply_timeout_ms=1500)
    await intake.start()
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"seed={seed}")
    try:
        for owner in USERS:
            assert (await intake.submit(deposit(owner, 1_000_000), timeout_s=15)).ok
        column = placeable_column(offset=8)
        bets: list[PlaceBet] = [
            bet(USERS[n % len(USERS)], column=column, row=n, amount=100) for n in range(BETS)
        ]
        acknowledged: set[str] = set()
        repeats = 0  # answered from a commit that happened before the kill, once re-read after restart
        answered = 0
        in_flight_at_kill: list[int] = []

        async def send(b: PlaceBet) -> None:
            nonlocal repeats, answered
            try:
                reply = await intake.submit(b)
            except BusError:
                return  # outcome unknown to the client; the database check below settles it
            finally:
                answered += 1
            assert reply.code == "ok", reply
            acknowledged.add(b.bet_id)
            repeats += reply.duplicate

        bursts = [bets[i : i + BURST] for i in range(0, BETS, BURST)]
        kill_after = set(rng.sample(range(1, len(bursts) - 1), KILLS))
        kills_owed = 0  # planned kills not yet landed while commands were in flight
        sending: list[asyncio.Future[list[None]]] = []
        for n, burst in enumerate(bursts):
            kills_owed += n in kill_after
            kill = kills_owed > 0 and n < len(bursts) - 1
            sending.append(asyncio.gather(*(send(b) for b in burst)))
            await asyncio.sleep(rng.uniform(0.002, 0.015) if kill else BURST_GAP_S)
            if kill:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                in_flight = sum(len(b) for b in bursts[: n + 1]) - answered
                in_flight_at_kill.append(in_flight)
                # On a fast machine the ledger can answer a whole burst before the kill: that kill crashed
                # nothing mid-stream, so it is owed again in the next burst.
                kills_owed -= in_flight > 0
                proc = ledger_subprocess(settings, log_path)
        await asyncio.gather(*sending)
        print(f"acknowledged={len(acknowledged)} repeats={repeats} in_flight_at_kill={in_flight_at_kill}")
        landed = sum(n > 0 for n in in_flight_at_kill)
        assert landed == KILLS, f"each of the {KILLS} kills must land while commands are in flight"
        try:
            wait_for(lambda: backlog_drained(settings), 30, "intake backlog drained")
        except AssertionError as stuck:  # seen once in CI, not reproduced: keep what the ledger said
            alive = "running" if proc.poll() is None else f"exited {proc.returncode}"
            raise AssertionError(
                f"{stuck}; the ledger {alive}; its log ends:\n{log_path.read_text()[-4000:]}"
            ) from stuck
    finally:
        await intake.close()
        await client.aclose()
        proc.terminate()
        proc.wait(timeout=10)

    conn = db.open_reader(settings.live_db_path)
    stored = {row[0] for row in conn.execute("SELECT lower(hex(bet_id)) FROM bets").fetchall()}
    submitted = {b.bet_id.replace("-", "") for b in bets}
    acked = {bet_id.replace("-", "") for bet_id in acknowledged}
    assert acked <= stored, "an acknowledged bet is missing"
    assert stored == submitted, "every queued bet is applied once the ledger is back"
    assert conn.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'BET'").fetchone()[0] == BETS
    spent = dict(conn.execute("SELECT address, 1000000 - balance_cents FROM users").fetchall())
    assert spent == {owner: 100 * BETS // len(USERS) for owner in USERS}
    assert check_integrity(conn).ok
