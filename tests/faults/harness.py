"""The fault campaigns' harness: a real `taptrade run` in a scratch data dir, load from the load generator
(`bench.loadgen`, its own processes), faults delivered as real signals to real processes, and the invariant
check every campaign ends with.

A campaign's figures (acknowledged bets, lost, double debits, money drift, recovery time) are appended to a
JSON-lines file; `scripts/fault_matrix.py` turns the full run's file into docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from bench import loadgen, processes

from taptrade.bus import IntakeClient, connect_async
from taptrade.config import Settings, load_settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.gateway_support import Trader, funded_trader
from tests.support import REPO, free_port, wait_for

if TYPE_CHECKING:
    from tests.faults.conftest import Scale

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Fault:
    """One fault a campaign delivered (epoch seconds): when it struck, and when it was over — the same
    moment for a kill, the end of the outage for a process stopped or a disk filled. Its recovery runs
    from `over` and ends at the latest when the next fault strikes."""

    struck_s: float
    over_s: float


# Delivers a campaign's faults while the load runs; returns them in order.
Inject = Callable[["System", random.Random], list[Fault]]


@dataclass
class System:
    """One `taptrade run` with its defaults, its private Redis included, on a free port."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # settings for the system (TAPTRADE_*)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    # Everything the load generators paid in and were told was placed, over all campaigns on this system.
    deposited_cents: int = 0
    acknowledged: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-run.log"

    def start(self) -> System:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = child_env()
        env |= {"TAPTRADE_LEDGER_METRICS_PORT": "0", "TAPTRADE_FEED_METRICS_PORT": "0"}
        # Restarted within a second however often a campaign kills a process (30 s is the default cap
        # for a process that keeps crashing): the campaigns measure recovery, not the backoff policy.
        env["TAPTRADE_RESTART_BACKOFF_MAX_S"] = "1"
        env |= self.env
        argv = [sys.executable, "-m", "taptrade", "run", "--data-dir", str(self.data_dir)]
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [*argv, "--port", str(self.port)], env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "is running" not in line:
            raise RuntimeError(f"taptrade run did not start: {line!r}; see {self.log_path}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def pids(self, role: str) -> list[int]:
        """The running processes of one role (`ledger`, `feed`, `redis`, `gateway-worker`, ...)."""
        assert self.proc is not None
        found = []
        for pid in processes.tree_of(self.proc.pid):
            try:
                if processes.role_of(pid) == role:
                    found.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended while we looked
        return found

    def kill(self, role: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Signal one process of `role` (the first of several); its pid."""
        pids = self.pids(role)
        if not pids:
            raise RuntimeError(f"no {role} process is running")
        os.kill(pids[0], sig)
        return pids[0]

    def wait_replaced(self, role: str, old_pid: int, count: int = 1, timeout_s: float = 60.0) -> None:
        """Until `count` processes of `role` run again, none of them `old_pid`."""

        def replaced() -> bool:
            pids = self.pids(role)
            return len(pids) >= count and old_pid not in pids

        wait_for(replaced, timeout_s, f"a new {role} process")

    def log_size(self) -> int:
        """Where the system's log ends now: an offset for `log_text` and `logged`."""
        return self.log_path.stat().st_size

    def log_text(self, since: int = 0) -> str:
        """The system's log from byte `since` on (the whole of a module's run can be tens of MB: a poll
        reads only what came after the moment it waits from)."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def logged(self, event: str, since: int = 0) -> bool:
        """Some process has logged `event` (`ledger_started`, ...) after byte `since` of the log."""
        return f'"event":"{event}"' in self.log_text(since)

    def took(self, record: LoadRecord) -> None:
        """Count a finished load's deposits and acknowledged bets into the system's totals."""
        self.deposited_cents += record.funded_cents
        self.acknowledged.extend(record.confirmed)

    def columns(self, first: int, last: int) -> int:
        """How many of the columns first..last the ledger has resolved or voided."""
        return len(self.column_statuses(first, last))

    def column_statuses(self, first: int, last: int) -> list[str]:
        conn = db.open_reader(self.data_dir / "live.db")
        try:
            rows = conn.execute(
                "SELECT status FROM columns WHERE column_index BETWEEN ? AND ?", (first, last)
            ).fetchall()
        finally:
            conn.close()
        return [row[0] for row in rows]

    def unrefunded_bets(self, first: int, last: int) -> int:
        """Bets in columns first..last that are not void with exactly one REFUND of their stake."""
        conn = db.open_reader(self.data_dir / "live.db")
        try:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM bets b WHERE b.column_index BETWEEN ? AND ? AND (b.status <> 'void'"
                " OR (SELECT COUNT(*) FROM ledger l WHERE l.bet_ref = b.id AND l.kind = 'REFUND'"
                " AND l.amount_cents = b.amount_cents) <> 1)",
                (first, last),
            ).fetchone()
        finally:
            conn.close()
        return int(count)

    def verdict(self) -> Verdict:
        return check_invariants(self.data_dir, self.acknowledged, self.deposited_cents)


def child_env() -> dict[str, str]:
    """The environment for the system and the loader: none of the test's settings, and no coverage
    measurement (it would triple the CPU each request costs and turn load into overload)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TAPTRADE_", "COVERAGE_", "COV_CORE_"))}


@dataclass
class LoadRecord:
    """What the load generator saw: the money it deposited, every bet it had confirmed, and each bet's
    (intended send time, answer time, status) — status 0 for a timeout or a closed connection."""

    funded_cents: int
    confirmed: list[str]
    bets: list[tuple[float, float, int]]
    answers: dict[str, int]

    def recovery_s(self, fault_s: float, until_s: float = float("inf"), slow_s: float = 1.0) -> float | None:
        """From the fault until the disturbance it caused was over: the answer time of the last bet, of
        those sent from the fault until `until_s` (the next fault), that was refused for the outage (503,
        504, a closed connection) or waited more than `slow_s`; 0 when none was, None when none of them
        was confirmed at all (never recovered). A bet neither answered nor yet `slow_s` late when the next
        fault struck is that fault's to account for: one sent just before a Redis stall waits out its
        timeout in the stall."""
        window = [(due, done, status) for due, done, status in self.bets if fault_s <= due < until_s]
        if not any(status in (200, 201) for _, _, status in window):
            return None
        disturbed = [
            done
            for due, done, status in window
            if min(done, due + slow_s) < until_s and (status in (0, 503, 504) or done - due > slow_s)
        ]
        return 0.0 if not disturbed else max(0.0, max(disturbed) - fault_s)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for _, _, status in self.bets:
            counts[status] = counts.get(status, 0) + 1
        return counts


class Load:
    """`bench.loadgen` in its own processes: bets signed as they are sent, at `rate` for `duration_s`."""

    def __init__(
        self, system: System, rate: int, duration_s: float, users: int = 0, connections: int = 64
    ) -> None:
        self.system = system
        self.record_path = system.data_dir.parent / f"{system.data_dir.name}-load.json"
        self.out_path = system.data_dir.parent / f"{system.data_dir.name}-load.out"
        argv = [sys.executable, "-W", "ignore", "-m", "bench.loadgen", "--url", system.url]
        argv += ["--data-dir", str(system.data_dir), "--scenario", "bets", "--sign-as-sent"]
        argv += ["--rate", str(rate), "--duration", str(duration_s), "--warmup", "0"]
        argv += ["--record", str(self.record_path), "--connections", str(connections)]
        if users:
            argv += ["--users", str(users)]
        self._out = self.out_path.open("w")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=child_env(), stdout=self._out, stderr=subprocess.STDOUT, text=True
        )

    def wait_started(self, timeout_s: float = 120.0) -> float:
        """Until the loader has signed in and funded its traders and sends; the epoch second it began."""

        def sending() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the load generator ended early:\n{self.output()}")
            return "sending_from=" in self.output()

        wait_for(sending, timeout_s, "the load generator to start sending")
        line = next(x for x in self.output().splitlines() if x.startswith("sending_from="))
        started = float(line.split("=", 1)[1])
        time.sleep(max(0.0, started - time.time()))
        return started

    def finish(self, timeout_s: float = 300.0) -> LoadRecord:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        if self.proc.returncode != 0 or not self.record_path.exists():
            raise RuntimeError(f"the load generator failed ({self.proc.returncode}):\n{self.output()}")
        raw: dict[str, Any] = json.loads(self.record_path.read_text())
        return LoadRecord(
            funded_cents=raw["funded_cents"],
            confirmed=raw["confirmed"],
            bets=[(float(b[0]), float(b[1]), int(b[2])) for b in raw["bets"]],
            answers=raw["answers"],
        )

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""


@dataclass
class Verdict:
    """The invariants after a campaign (Jepsen's bank test, on our ledger)."""

    acknowledged: int  # bets the clients were told are placed (200/201)
    lost: int  # acknowledged but not in live.db
    stored_twice: int  # bet ids stored more than once
    double_debits: int  # bets with more than one BET row (a stake taken twice)
    drift_cents: int  # balances - (deposits - withdrawals - house result)
    integrity_ok: bool
    file_ok: bool = True  # SQLite's own check of the file (pages, indexes): nothing corrupt
    integrity: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.lost, self.stored_twice, self.double_debits, self.drift_cents) == (0, 0, 0, 0) and (
            self.integrity_ok and self.file_ok
        )


def check_invariants(data_dir: Path, acknowledged: list[str], deposited_cents: int) -> Verdict:
    """Every acknowledged bet stored exactly once, no stake taken twice, integrity clean, and the money
    conserved: what users hold is what was deposited, less withdrawals, less what the house won.

    The house result is computed from the bets (stakes, less payouts of the won, less refunds of the void)
    and the deposits are what the load generator paid in, so neither side of the sum is read from the
    ledger rows the balances were built from."""
    conn = db.open_reader(data_dir / "live.db")
    try:
        stored: dict[str, int] = {}
        for (bet_id,) in conn.execute("SELECT lower(hex(bet_id)) FROM bets"):
            stored[bet_id] = stored.get(bet_id, 0) + 1
        wanted = [b.replace("-", "").lower() for b in acknowledged]
        lost = sum(1 for b in wanted if b not in stored)
        twice = sum(1 for n in stored.values() if n > 1)
        (double_debits,) = conn.execute(
            "SELECT COUNT(*) FROM (SELECT bet_ref FROM ledger WHERE kind = 'BET' "
            "GROUP BY bet_ref HAVING COUNT(*) > 1)"
        ).fetchone()
        (held,) = conn.execute("SELECT COALESCE(SUM(balance_cents), 0) FROM users").fetchone()
        (withdrawn,) = conn.execute(
            "SELECT COALESCE(-SUM(amount_cents), 0) FROM ledger WHERE kind = 'WITHDRAWAL'"
        ).fetchone()
        (house,) = conn.execute(
            "SELECT COALESCE(SUM(amount_cents), 0)"
            " - COALESCE(SUM(CASE WHEN status = 'won' THEN payout_cents END), 0)"
            " - COALESCE(SUM(CASE WHEN status = 'void' THEN amount_cents END), 0) FROM bets"
        ).fetchone()
        report = check_integrity(conn)
        file_check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return Verdict(
        acknowledged=len(acknowledged),
        lost=lost,
        stored_twice=twice,
        double_debits=int(double_debits),
        drift_cents=int(held) - (deposited_cents - int(withdrawn) - int(house)),
        integrity_ok=report.ok,
        file_ok=file_check == ["ok"],
        integrity=asdict(report),
    )


@dataclass
class MatrixRow:
    """One line of docs/reliability.md's matrix."""

    fault: str
    method: str
    runs: int
    acknowledged: int
    lost: int
    double_debits: int
    drift_cents: int
    recovery_s: list[float]
    notes: str = ""


def record_row(
    verdict: Verdict,
    *,
    fault: str,
    method: str,
    runs: int,
    acknowledged: int,
    recovery_s: list[float] | None = None,
    notes: str = "",
) -> None:
    """A campaign's line of the matrix, with the verdict's figures, appended to the file named by
    TAPTRADE_FAULT_RESULTS (the full run's), if set."""
    row = MatrixRow(
        fault=fault,
        method=method,
        runs=runs,
        acknowledged=acknowledged,
        lost=verdict.lost,
        double_debits=verdict.double_debits + verdict.stored_twice,
        drift_cents=verdict.drift_cents,
        recovery_s=recovery_s or [],
        notes=notes,
    )
    target = os.environ.get("TAPTRADE_FAULT_RESULTS")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps(asdict(row)) + "\n")


def campaign(
    system: System,
    scale: Scale,
    fault: str,
    method: str,
    runs: int,
    duration_s: float,
    inject: Inject,
    connections: int = 64,
) -> tuple[LoadRecord, list[Fault]]:
    """Load for `duration_s`, the faults `inject` delivers meanwhile (it returns them), the
    invariant check, and a row for the matrix. `connections`: the loader's, enough for every bet a fault
    holds at once, or bets wait in the loader rather than the server."""
    seed = random.randrange(2**32)
    print(f"{fault}: seed={seed}")
    load = Load(system, scale.rate, duration_s, users=scale.rate, connections=connections)
    load.wait_started()
    faults = inject(system, random.Random(seed))
    record = load.finish()
    system.took(record)
    verdict = system.verdict()
    ends = [*(f.struck_s for f in faults[1:]), float("inf")]
    recoveries = [record.recovery_s(f.over_s, until) for f, until in zip(faults, ends, strict=True)]
    answers = ", ".join(
        f"{k.removeprefix('measure bet ')[:80]}: {v}" for k, v in sorted(record.answers.items())
    )
    record_row(
        verdict,
        fault=fault,
        method=method,
        runs=runs,
        acknowledged=len(record.confirmed),
        recovery_s=[round(r, 2) if r is not None else -1.0 for r in recoveries],
        notes=answers,
    )
    assert verdict.ok, verdict
    assert all(r is not None for r in recoveries), (recoveries, answers)
    server_errors = {
        k: v for k, v in record.answers.items() if " 5" in k and " 503 " not in k and " 504 " not in k
    }
    assert not server_errors, server_errors  # never a 500 (and 503 and 504 only as the contract has them)
    without_retry_after = {k: v for k, v in record.answers.items() if " 503 " in k and "retry-after" not in k}
    assert not without_retry_after, without_retry_after
    return record, faults


def settings_for(system: System) -> Settings:
    """The settings a client of `system` needs: its port (sign-in domain), chain, Redis URL."""
    chain_id = httpx.get(f"{system.url}/api/grid", timeout=10).json()["chain_id"]
    return load_settings(data_dir=system.data_dir, port=system.port, chain_id=chain_id)


async def funded_traders(system: System, count: int, cents: int) -> list[Trader]:
    """`count` new traders, signed in through the API and each credited `cents` through the ledger (and
    counted into the system's deposits)."""
    settings = settings_for(system)
    redis = connect_async(settings.resolved_redis_url())
    intake = IntakeClient(redis, intake_max_len=100_000, reply_timeout_ms=10_000)
    await intake.start()
    try:
        async with httpx.AsyncClient(base_url=system.url, timeout=30) as client:
            traders = [await funded_trader(client, settings, intake, cents) for _ in range(count)]
    finally:
        await intake.close()
        await redis.aclose()
    system.deposited_cents += count * cents
    return traders


async def send_open_loop(
    port: int, requests: list[bytes], rate: float, connections: int
) -> list[tuple[int, str, bool]]:
    """Send raw HTTP/1.1 requests at `rate` a second whatever the answers, over keep-alive connections;
    each answer's (status, error code or "", whether it carried Retry-After), in sending order."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    answers: list[tuple[int, str, bool]] = [(0, "", False)] * len(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                n = await queue.get()
                writer.write(requests[n])
                status, body, retry_after = await loadgen.read_response(reader)
                code = json.loads(body)["error"]["code"] if status >= 400 else ""
                answers[n] = (status, code, retry_after)
                queue.task_done()
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    started = time.monotonic()
    for n in range(len(requests)):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(n)
    await asyncio.wait_for(queue.join(), 60)
    for worker in workers:
        worker.cancel()
    return answers
