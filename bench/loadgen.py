"""Open-loop load generator for the gateway: bets, bets with reads, a spike, a soak, and the stack's ceiling.

Requests leave at their scheduled times whatever the server does, and each latency is measured from the
request's *intended* send time, so a stalled server shows up as latency (no coordinated omission).

    .venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 --data-dir ./data --scenario bets \
        --rate 3000

Scenarios (`--scenario`):
- `bets`: `POST /api/bets` at `--rate` for `--duration` s, after `--warmup` s at the same rate that is sent
  and checked but not in the figures;
- `mixed`: the same with every other request a read (`/api/price`, `/api/bets`, `/api/me`), `--rate` in all;
- `spike`: from 0 to `--rate` in 10 s, held 10 s, then 1,000/s for 20 s to show the recovery, bets signed
  as they are sent (like the soak's);
- `soak`: `--rate` for `--duration` s with bets signed as they are sent (a 30-minute run would not fit in
  memory pre-signed, and the price wanders off the rows it started at), sampling the server's processes
  every 30 s: memory, file descriptors, threads and the gateway's asyncio tasks, first and last value and
  the slope per hour over the run's second half (pools fill up in the first minutes by design);
- `ceiling`: closed loop (each connection sends again as soon as it is answered) on `GET /api/version` for
  `--duration` s, then on bets: the bet path's throughput as a fraction of the same server's empty endpoint.

Setup, not timed: wallets sign in with real SIWE messages and P-256 session keys, are funded through the
ledger's intake, and (except in the soak and the spike) every bet is signed in advance, by the loader
process that will send it, once for each of three blocks of rows (`bench.traffic.BLOCK_SHIFTS`): the one
sent is the block nearest the price at its send time, as a trader taps near the price it sees. With
`--publish-market` the loader publishes a static quote table itself (for a system without a price feed);
otherwise it waits until the live feed has opened betting and bets on the rows around the price. The run
is spread over `--procs` loader processes, none of them the server's, each with `--connections / --procs`
keep-alive connections speaking raw HTTP/1.1 to stay cheap.

Reports: per phase and kind, achieved rate and latency percentiles; the loader's own lateness (whether each
process was ready before its first request was due, and how late requests were handed to the connections),
part of every latency, so it is read before the server is blamed; answers by status and error code (503s
noted with their Retry-After); the server's CPU per request by role; then checks that every confirmed bet
is in the database exactly once and that integrity holds. The last line is `check=ok` or `check=FAILED`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis as SyncRedis
from tests.gateway_support import QUOTE_ROWS, Trader, publish_market

from bench import processes
from bench.connections import Links, parse_head
from bench.schedule import Arrival, Phase, arrivals, constant, spike
from bench.traffic import BLOCK_SHIFTS, NEAR_ROWS, Traffic, users_for_rate
from taptrade.bus import IntakeClient, connect_async
from taptrade.commands import Deposit
from taptrade.config import load_settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from taptrade.obs.heap import freeze_startup_heap

FUND_CENTS = 100_000_000
RESPONSE_TIMEOUT_S = 10.0
SIGN_S_PER_BET = 80e-6  # to sign and encode one bet, for the setup's schedule
SOAK_SAMPLE_S = 30.0
CEILING_BETS_PER_S = 8000  # bets signed a second of the closed loop: more than the path takes (4,000 ran out)
CEILING_EMPTY_PER_S = 25000  # above what the empty endpoint answers, or the loop runs out of requests


@dataclass
class Job:
    """One request of one loader process: when it is due (epoch seconds), which phase and kind, whose."""

    due_s: float
    phase: str
    kind: str  # "bet", "read" or "version"
    user: int
    # Built in advance (a bet: one per block of rows, see Traffic.pick), or empty: built when it is due.
    requests: tuple[bytes, ...] = ()


@dataclass
class Results:
    latencies_ms: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    by_second: dict[int, list[float]] = field(default_factory=dict)  # latencies by due second (epoch)
    answers: Counter[str] = field(default_factory=Counter)
    confirmed: list[str] = field(default_factory=list)
    last_done_s: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0
    bets: list[tuple[float, float, int]] = field(default_factory=list)  # with --record: due, done, status
    # The loader's own lateness, which its latencies include: how long before the first request was due
    # this process was ready to send (negative: it started late), and per phase how late each request
    # was handed to the connections (its event loop or its CPU share behind the schedule).
    ready_s: float = 0.0
    send_lag_ms: dict[str, list[float]] = field(default_factory=dict)


# With --record: each bet's (due, done, status) is kept; set before the loader processes fork.
KEEP_BET_RECORDS = False


def kinds_for(scenario: str, count: int) -> list[str]:
    if scenario == "mixed":
        return ["bet" if n % 2 == 0 else "read" for n in range(count)]
    return ["bet"] * count


def phases_for(args: argparse.Namespace) -> list[Phase]:
    if args.scenario == "spike":
        return spike(args.rate, ramp_s=10, hold_s=10, after_rate=1000, after_s=20)
    phases = [constant("measure", args.duration, args.rate)]
    if args.warmup > 0 and args.scenario in ("bets", "mixed"):
        phases.insert(0, constant("warmup", args.warmup, args.rate))
    return phases


# --- setup -----------------------------------------------------------------------------------------


def keep_market_fresh(redis_url: str, stop: threading.Event) -> None:
    """A static, always fresh market around PRICE_CENTS, as the feed would publish it."""
    while not stop.wait(0.5):
        publish_market(redis_url)


async def sign_in_all(url: str, settings: Any, count: int) -> list[Trader]:
    traders = [Trader() for _ in range(count)]
    sem = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(trader: Trader) -> None:
            async with sem:
                nonce = (await http.get("/api/auth/nonce")).json()["nonce"]
                message = trader.siwe_message(settings, nonce)
                answer = await http.post(
                    "/api/auth/login", json={"message": message, "signature": trader.sign_text(message)}
                )
                answer.raise_for_status()
                trader.token = answer.json()["token"]

        await asyncio.gather(*(one(t) for t in traders))
    return traders


async def fund_all(redis_url: str, traders: list[Trader]) -> None:
    client = connect_async(redis_url, timeout_s=30)  # thousands of deposits at once: let them queue
    intake = IntakeClient(client, intake_max_len=1_000_000, reply_timeout_ms=30_000)
    await intake.start()
    try:
        replies = await asyncio.gather(
            *(intake.submit(Deposit(str(uuid.uuid4()), t.address, FUND_CENTS)) for t in traders)
        )
        assert all(r.ok for r in replies), {r.code for r in replies}
    finally:
        await intake.close()
        await client.aclose()


def wait_for_betting(url: str, timeout_s: float = 60.0) -> int:
    """Wait until the market is open (a new feed keeps betting suspended for 30 s); the current price."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        health = httpx.get(f"{url}/api/healthz", timeout=5).json()
        if health["checks"]["circuit_breaker"]["state"] == "closed":
            price: int = httpx.get(f"{url}/api/price", timeout=5).json()["price"]
            return price
        time.sleep(1)
    raise SystemExit("betting did not open: is the feed running?")


def plan_jobs(
    schedule: list[Arrival], kinds: list[str], start_s: float, users: int, procs: int
) -> list[list[Job]]:
    """Each loader process's jobs: users are split among processes, so each signs for its own."""
    plans: list[list[Job]] = [[] for _ in range(procs)]
    bets = 0
    for arrival, kind in zip(schedule, kinds, strict=True):
        user = bets % users
        bets += kind == "bet"
        plans[user % procs].append(Job(start_s + arrival.due_s, arrival.phase, kind, user))
    return plans


def build_request(traffic: Traffic, job: Job) -> bytes:
    if job.kind == "bet":
        return traffic.bet(job.user, job.due_s)
    if job.kind == "read":
        return traffic.read(job.user)
    return traffic.version()


def build_in_advance(traffic: Traffic, jobs: list[Job]) -> None:
    for job in jobs:
        if job.kind == "bet":
            job.requests = traffic.bet_variants(job.user, job.due_s)
        else:
            job.requests = (build_request(traffic, job),)


def request_for(traffic: Traffic, job: Job) -> bytes:
    return traffic.pick(job.requests) if job.requests else build_request(traffic, job)


# --- the run (one loader process) --------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether a Retry-After header came with it."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, length, retry_after = parse_head(head[:-4])
    body = await reader.readexactly(length) if length else b""
    return status, body, retry_after


def _record(results: Results, job: Job, status: int, body: bytes, retry_after: bool, done: float) -> None:
    latency_ms = (done - job.due_s) * 1000
    if KEEP_BET_RECORDS and job.kind == "bet":
        results.bets.append((job.due_s, done, status))
    results.latencies_ms.setdefault((job.phase, job.kind), []).append(latency_ms)
    results.by_second.setdefault(int(job.due_s), []).append(latency_ms)
    results.last_done_s[job.phase] = max(results.last_done_s.get(job.phase, 0.0), done)
    if status in (200, 201):
        results.answers[f"{job.phase} {job.kind} {status}"] += 1
        if job.kind == "bet":
            results.confirmed.append(json.loads(body)["bet"]["bet_id"])
        return
    code = json.loads(body)["error"]["code"] if body.startswith(b"{") else "?"
    note = " retry-after" if retry_after else ""
    results.answers[f"{job.phase} {job.kind} {status} {code}{note}"] += 1


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection, retried while the server refuses (a gateway worker being restarted)."""
    while True:
        try:
            return await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)


async def _follow_price(traffic: Traffic, host: str, port: int, stop: asyncio.Event) -> None:
    """Keep the traffic's price current, so bets signed as they are sent stay on quoted rows."""
    request = f"GET /api/price HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    while not stop.is_set():
        reader, writer = await _open(host, port)
        try:
            while not stop.is_set():
                writer.write(request)
                status, body, _ = await read_response(reader)
                if status == 200:
                    traffic.price_cents = json.loads(body)["price"]
                await asyncio.sleep(1.0)
        except (asyncio.IncompleteReadError, ConnectionError):
            await asyncio.sleep(0.1)  # the server closed it (a fault campaign): open another
        finally:
            writer.close()


class Tally:
    """What one loader process's connections report, into its `Results`; `settled` when every request
    handed out has been answered or has failed."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.outstanding = 0
        self.settled = asyncio.get_running_loop().create_future()

    def sent(self, count: int = 1) -> None:
        self.outstanding += count

    def answered(self, job: Job, status: int, body: bytes, retry_after: bool, at: float) -> None:
        try:
            _record(self.results, job, status, body, retry_after, at)
        except (ValueError, KeyError, TypeError):  # an answer not in the contract's shape
            self.results.answers[f"{job.phase} {job.kind} {status} unparsable"] += 1
        self._one_less()

    def failed(self, job: Job) -> None:
        """Timed out, or its connection closed (a worker killed, the server gone)."""
        self.results.answers[f"{job.phase} {job.kind} timeout_or_closed"] += 1
        if KEEP_BET_RECORDS and job.kind == "bet":
            self.results.bets.append((job.due_s, time.time(), 0))
        self._one_less()

    def release(self) -> None:
        """One of `sent` without a request: a hold on `settled`, let go."""
        self._one_less()

    def _one_less(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and not self.settled.done():
            self.settled.set_result(None)


async def _run(jobs: list[Job], traffic: Traffic, host: str, port: int, connections: int) -> Results:
    results = Results()
    tally = Tally(results)
    tally.sent(len(jobs))
    links: Links[Job] = Links(
        host,
        port,
        connections,
        partial(request_for, traffic),
        tally.answered,
        tally.failed,
        RESPONSE_TIMEOUT_S,
    )
    await links.open()
    stop = asyncio.Event()
    follower = asyncio.create_task(_follow_price(traffic, host, port, stop))
    results.ready_s = (jobs[0].due_s - time.time()) if jobs else 0.0
    lags = results.send_lag_ms
    for job in jobs:
        delay = job.due_s - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
            delay = job.due_s - time.time()
        lags.setdefault(job.phase, []).append(max(0.0, -delay) * 1000)
        links.submit(job)  # open loop: it leaves on time, or waits for a connection and is late
    try:
        # Every request is answered or timed out by then; a connection that cannot be opened again must
        # not hang the run (its requests are counted as unanswered).
        await asyncio.wait_for(asyncio.shield(tally.settled), RESPONSE_TIMEOUT_S + 5)
    except TimeoutError:
        results.answers["unanswered"] += tally.outstanding
    stop.set()
    follower.cancel()
    links.close()
    return results


async def _closed_loop(
    jobs: list[Job], traffic: Traffic, host: str, port: int, connections: int, until_s: float
) -> Results:
    """Send the next job as soon as a connection is free, until `until_s`: throughput, not latency."""
    results = Results()
    tally = Tally(results)
    pending = iter(jobs)

    def send_next() -> None:
        job = next(pending, None)
        if job is not None and time.time() < until_s:
            tally.sent()
            links.submit(job)

    def answered(job: Job, status: int, body: bytes, retry_after: bool, at: float) -> None:
        job.due_s = at  # latency is not measured in a closed loop
        tally.answered(job, status, body, retry_after, at)
        send_next()

    def failed(job: Job) -> None:
        tally.failed(job)
        send_next()

    links: Links[Job] = Links(
        host, port, connections, partial(request_for, traffic), answered, failed, RESPONSE_TIMEOUT_S
    )
    await links.open()
    stop = asyncio.Event()
    follower = asyncio.create_task(_follow_price(traffic, host, port, stop))
    await asyncio.sleep(max(0.0, jobs[0].due_s - time.time()))  # signed early: start with the others
    tally.sent()  # one held while the first requests go out, so that `settled` cannot come before them
    for _ in range(connections):
        send_next()
    tally.release()
    await asyncio.wait_for(asyncio.shield(tally.settled), until_s - time.time() + RESPONSE_TIMEOUT_S + 5)
    stop.set()
    follower.cancel()
    links.close()
    return results


def loader_process(
    jobs: list[Job],
    traffic: Traffic,
    host: str,
    port: int,
    connections: int,
    mode: str,
    in_advance: bool,
    out: Any,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if in_advance:  # each process for its own traders, in parallel, before the first is due
        build_in_advance(traffic, jobs)
    freeze_startup_heap()  # the loader's own collections would show up as the server's latency
    started = processes.own_cpu_s()
    if mode == "closed":
        until = max(job.due_s for job in jobs)
        results = asyncio.run(_closed_loop(jobs, traffic, host, port, connections, until))
    else:
        results = asyncio.run(_run(jobs, traffic, host, port, connections))
    results.cpu_s = processes.own_cpu_s() - started
    out.send(results)
    out.close()


def run_loaders(
    plans: list[list[Job]],
    traffics: list[Traffic],
    host: str,
    port: int,
    connections: int,
    mode: str,
    in_advance: bool,
) -> list[Results]:
    context = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for jobs, traffic in zip(plans, traffics, strict=True):
        receiver, sender = context.Pipe(duplex=False)
        proc = context.Process(
            target=loader_process,
            args=(jobs, traffic, host, port, connections // len(plans), mode, in_advance, sender),
        )
        proc.start()
        pipes.append(receiver)
        procs.append(proc)
    results = [pipe.recv() for pipe in pipes]
    for proc in procs:
        proc.join()
    return results


# --- report --------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latency_lines(results: list[Results], phases: list[Phase], start_s: float) -> list[str]:
    lines = []
    phase_start = start_s
    for phase in phases:
        kinds = sorted({kind for r in results for (p, kind) in r.latencies_ms if p == phase.name})
        ends = [r.last_done_s[phase.name] for r in results if phase.name in r.last_done_s]
        elapsed = max(max(ends, default=phase_start) - phase_start, phase.seconds)
        for kind in kinds:
            values = [x for r in results for x in r.latencies_ms.get((phase.name, kind), [])]
            lines.append(
                f"phase={phase.name} kind={kind} phase_rate={phase.end_rate:.0f}/s "
                f"achieved_rate={len(values) / elapsed:.0f}/s answered={len(values)} latency_ms "
                + " ".join(f"p{int(p * 100)}={percentile(values, p):.1f}" for p in (0.5, 0.95, 0.99))
                + f" max={max(values):.1f} mean={statistics.fmean(values):.1f}"
            )
        phase_start += phase.seconds
    return lines


def lateness_lines(results: list[Results], phases: list[Phase]) -> list[str]:
    """The loader's own lateness, to be read before blaming the server for a latency: whether each process
    was ready before its first request was due, and how late requests were handed to the connections."""
    ready = ", ".join(f"{r.ready_s:.1f}" for r in results)
    lines = [f"loader_ready_s_before_first_due=[{ready}]"]
    if any(r.ready_s < 0 for r in results):
        lines.append("loader_started_late: the first requests left late, and their latencies say so")
    for phase in phases:
        lags = [x for r in results for x in r.send_lag_ms.get(phase.name, [])]
        if lags:
            lines.append(
                f"loader_send_lag_ms phase={phase.name} "
                + " ".join(f"p{int(p * 100)}={percentile(lags, p):.1f}" for p in (0.5, 0.99))
                + f" max={max(lags):.1f}"
            )
    return lines


def cpu_line(before: processes.Sample, after: processes.Sample, requests: int, loader_cpu_s: float) -> str:
    per_role = processes.cpu_ms_per_request(before, after, requests)
    per_role["loader"] = loader_cpu_s * 1000 / max(requests, 1)
    elapsed = after.at_s - before.at_s
    busy = sum(per_role.values()) * requests / 1000 / elapsed
    return (
        "cpu_ms_per_request "
        + " ".join(f"{role}={ms:.3f}" for role, ms in per_role.items() if ms > 0.0005)
        + f" cores_busy={busy:.2f}"
    )


def half_slope(hours: list[float], values: list[float]) -> float:
    """The least-squares slope over the second half of the run: pools and caches fill up in the first
    minutes by design; what still grows after that is a leak."""
    half = len(hours) // 2
    return statistics.linear_regression(hours[half:], values[half:]).slope


def slope_lines(samples: list[processes.Sample]) -> list[str]:
    """Per role, resident memory, file descriptors and threads: first and last, and the slope per hour."""
    if len(samples) < 6:
        return ["slopes: too few samples"]
    lines = []
    roles = sorted({role for s in samples for role in s.by_role()})
    hours = [(s.at_s - samples[0].at_s) / 3600 for s in samples]
    for role in roles:
        series = {
            "rss_mb": [sum(p.rss_bytes for p in s.by_role().get(role, [])) / 2**20 for s in samples],
            "fds": [float(sum(p.fds for p in s.by_role().get(role, []))) for s in samples],
            "threads": [float(sum(p.threads for p in s.by_role().get(role, []))) for s in samples],
        }
        parts = []
        for name, values in series.items():
            slope = half_slope(hours, values)
            parts.append(f"{name}={values[0]:.0f}->{values[-1]:.0f} ({slope:+.1f}/h)")
        lines.append(f"slope role={role} " + " ".join(parts))
    return lines


def verify(data_dir: Path, confirmed: list[str]) -> tuple[bool, str]:
    conn = db.open_reader(data_dir / "live.db")
    stored = Counter(row[0] for row in conn.execute("SELECT lower(hex(bet_id)) FROM bets"))
    missing = [b for b in confirmed if stored[b.replace("-", "")] != 1]
    report = check_integrity(conn)
    ok = not missing and report.ok
    return (
        ok,
        f"confirmed_in_db_once={len(confirmed) - len(missing)}/{len(confirmed)} integrity_ok={report.ok}",
    )


def check(data_dir: Path, confirmed: list[str]) -> None:
    """The run's last lines: the verification, then `check=ok`, or `check=FAILED` and exit status 1."""
    ok, line = verify(data_dir, confirmed)
    print(line)
    print(f"check={'ok' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


class Sampler(threading.Thread):
    """Samples the server's processes at the given moments (epoch seconds), with the gateway's asyncio
    tasks and what Redis says of its memory (its data apart from the allocator's resident pages)."""

    def __init__(self, pids: list[int], moments: list[float], metrics_url: str, redis_url: str) -> None:
        super().__init__(daemon=True)
        self.pids, self.moments, self.metrics_url = pids, moments, metrics_url
        self.redis = SyncRedis.from_url(redis_url)
        self.samples: list[processes.Sample] = []
        self.tasks: list[float] = []  # the gateway's live asyncio tasks, summed over workers
        self.redis_memory: list[dict[str, float]] = []

    def run(self) -> None:
        for moment in self.moments:
            time.sleep(max(0.0, moment - time.time()))
            self.samples.append(processes.sample(self.pids))
            self.tasks.append(gateway_tasks(self.metrics_url))
            self.redis_memory.append(redis_memory(self.redis))


def redis_memory(client: SyncRedis) -> dict[str, float]:
    """Redis's own account: its data (used_memory), the resident pages (used_memory_rss), its keys."""
    info = client.info("memory")
    return {
        "used_mb": info["used_memory"] / 2**20,
        "rss_mb": info["used_memory_rss"] / 2**20,
        "keys": float(client.dbsize()),
    }


def redis_lines(hours: list[float], memory: list[dict[str, float]]) -> list[str]:
    parts = []
    for name in ("used_mb", "rss_mb", "keys"):
        values = [m[name] for m in memory]
        parts.append(f"{name}={values[0]:.0f}->{values[-1]:.0f} ({half_slope(hours, values):+.1f}/h)")
    return ["slope redis " + " ".join(parts)]


def gateway_tasks(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_asyncio_tasks":
                return float(sample.value)
    return float("nan")


# --- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    parser.add_argument("--scenario", choices=("bets", "mixed", "spike", "soak", "ceiling"), default="bets")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second (the spike's peak)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds sent before the measured ones")
    parser.add_argument("--users", type=int, default=0, help="wallets (default: enough for the rate)")
    parser.add_argument("--procs", type=int, default=2, help="loader processes")
    parser.add_argument(
        "--connections", type=int, default=0, help="in total (default: 2,000 in the spike, 128 else)"
    )
    parser.add_argument("--publish-market", action="store_true")
    parser.add_argument("--timeline", action="store_true", help="also print p99 for each second")
    parser.add_argument(
        "--sign-as-sent", action="store_true", help="sign each bet when it is due (as the soak and spike do)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="write JSON: money deposited, confirmed bet ids, each bet's (due, done, status), answers",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # Through nginx every trader has a connection, so a spike brings thousands; a steady load is carried by
    # a pool of keep-alive connections such as a proxy's.
    args.connections = args.connections or (2000 if args.scenario == "spike" else 128)
    parsed = urlparse(args.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    settings = load_settings(data_dir=args.data_dir, port=port)
    redis_url = settings.resolved_redis_url()
    grid = httpx.get(f"{args.url}/api/grid", timeout=10).json()
    settings = load_settings(data_dir=args.data_dir, port=port, chain_id=grid["chain_id"])
    stop_market = threading.Event()
    if args.publish_market:
        publish_market(redis_url)
        threading.Thread(target=keep_market_fresh, args=(redis_url, stop_market), daemon=True).start()
    price_cents = wait_for_betting(args.url)

    setup_started = time.time()
    phases = phases_for(args)
    peak = max(max(p.start_rate, p.end_rate) for p in phases)
    if args.scenario == "ceiling":
        peak = CEILING_BETS_PER_S
    args.users = args.users or users_for_rate(peak, settings.column_seconds)
    traders = asyncio.run(sign_in_all(args.url, settings, args.users))
    asyncio.run(fund_all(redis_url, traders))
    rows = QUOTE_ROWS if args.publish_market else NEAR_ROWS
    # Each loader process signs for its own traders (user % procs); user numbers stay global.
    traffic = Traffic(traders, settings, f"{host}:{port}", rows, price_cents)
    # Signed as sent: the soak (30 minutes would not fit in memory, and the price wanders) and the spike
    # (its last bets are due 40 s after the first; signed in advance, most were on rows the price had
    # left and drew the cheap `422 no_quote` instead of a full bet). Signing costs the loader about
    # 0.08 ms of CPU per bet during the run, reported with its CPU.
    lazy = args.scenario in ("soak", "spike") or args.sign_as_sent

    if args.scenario == "ceiling":
        ceiling(args, traffic, host, port)
    else:
        schedule = arrivals(phases)
        kinds = kinds_for(args.scenario, len(schedule))
        bets = kinds.count("bet")
        # Signed as sent: time to plan the jobs and start the loaders; in advance, the signing's time too.
        sign_s = 10.0 + len(schedule) * 2e-6
        if not lazy:
            sign_s += bets * len(BLOCK_SHIFTS) * SIGN_S_PER_BET / args.procs
        start_s = time.time() + sign_s
        plans = plan_jobs(schedule, kinds, start_s, len(traders), args.procs)
        print(
            f"setup: {args.users} users signed in and funded, {bets} bets, "
            f"{time.time() - setup_started:.1f} s"
        )
        print(f"sending_from={start_s:.3f}", flush=True)
        measured = [p for p in phases if p.name != "warmup"]
        measure_start = start_s + sum(p.seconds for p in phases if p.name == "warmup")
        measure_end = start_s + sum(p.seconds for p in phases)
        moments = [measure_start, measure_end]
        if args.scenario == "soak":
            moments = [
                measure_start + n * SOAK_SAMPLE_S for n in range(int(args.duration // SOAK_SAMPLE_S) + 1)
            ]
        sampler = Sampler(processes.server_tree(port), moments, f"{args.url}/metrics", redis_url)
        sampler.start()
        global KEEP_BET_RECORDS
        KEEP_BET_RECORDS = args.record is not None
        results = run_loaders(plans, [traffic] * args.procs, host, port, args.connections, "open", not lazy)
        sampler.join()
        stop_market.set()
        if args.record is not None:
            write_record(args.record, results, len(traders) * FUND_CENTS)
        report(args, results, phases, start_s, measured, sampler)


def write_record(path: Path, results: list[Results], funded_cents: int) -> None:
    """What a fault campaign checks afterwards (tests/faults)."""
    answers: Counter[str] = sum((r.answers for r in results), Counter())
    record = {
        "funded_cents": funded_cents,
        "confirmed": [b for r in results for b in r.confirmed],
        "bets": sorted(b for r in results for b in r.bets),
        "answers": dict(answers),
    }
    path.write_text(json.dumps(record))


def report(
    args: argparse.Namespace,
    results: list[Results],
    phases: list[Phase],
    start_s: float,
    measured: list[Phase],
    sampler: Sampler,
) -> None:
    samples = sampler.samples
    print(
        f"scenario={args.scenario} rate={args.rate:.0f}/s duration={args.duration:.0f}s "
        f"warmup={args.warmup:.0f}s "
        f"loader_procs={args.procs} connections={args.connections}"
    )
    for line in latency_lines(results, phases, start_s):
        if any(f"phase={p.name} " in line for p in measured):
            print(line)
    for line in lateness_lines(results, measured):
        print(line)
    if args.timeline:
        seconds: dict[int, list[float]] = {}
        for r in results:
            for second, values in r.by_second.items():
                seconds.setdefault(second, []).extend(values)
        first = min(seconds, default=0)
        measured_from = int(start_s + sum(p.seconds for p in phases if p.name == "warmup")) - first
        by_second = " ".join(f"{s - first}:{percentile(v, 0.99):.0f}" for s, v in sorted(seconds.items()))
        print(f"timeline p99_ms by second (0: the first sent; measured from {measured_from}): {by_second}")
    answers: Counter[str] = sum((r.answers for r in results), Counter())
    print("answers " + " | ".join(f"{k}={v}" for k, v in sorted(answers.items())))
    requests = sum(len(v) for r in results for (p, _), v in r.latencies_ms.items() if p != "warmup")
    if len(samples) >= 2:
        print(cpu_line(samples[0], samples[-1], requests, sum(r.cpu_s for r in results)))
    if args.scenario == "soak":
        for line in slope_lines(samples):
            print(line)
        hours = [(s.at_s - samples[0].at_s) / 3600 for s in samples]
        if len(samples) >= 6:
            slope = half_slope(hours, sampler.tasks)
            print("gateway_asyncio_tasks every 30 s: " + " ".join(f"{t:.0f}" for t in sampler.tasks))
            first, last = sampler.tasks[0], sampler.tasks[-1]
            print(f"slope gateway_asyncio_tasks={first:.0f}->{last:.0f} ({slope:+.1f}/h)")
            for line in redis_lines(hours, sampler.redis_memory):
                print(line)
    check(args.data_dir, [b for r in results for b in r.confirmed])


def sample_at(moment_s: float, port: int) -> processes.Sample:
    time.sleep(max(0.0, moment_s - time.time()))
    return processes.sample(processes.server_tree(port))


def ceiling(args: argparse.Namespace, traffic: Traffic, host: str, port: int) -> None:
    """Closed loop on the empty endpoint, then on bets, in the same run: both throughputs and the ratio."""
    throughput = {}
    confirmed: list[str] = []
    for kind in ("version", "bet"):
        count = int(args.duration * (CEILING_EMPTY_PER_S if kind == "version" else CEILING_BETS_PER_S))
        signing_s = count * len(BLOCK_SHIFTS) * SIGN_S_PER_BET / args.procs if kind == "bet" else 0.0
        start_s = time.time() + signing_s + 3
        # Each bet's cell is chosen for when it would be sent at the signing rate, so it is still
        # placeable then; the closed loop itself sends as fast as it is answered.
        jobs = [
            Job(start_s + n * args.duration / count, kind, kind, n % len(traffic.traders))
            for n in range(count)
        ]
        # Each loader process signs for its own traders (and so keeps each one's cells apart).
        plans = [[job for job in jobs if job.user % args.procs == n] for n in range(args.procs)]
        for plan in plans:
            plan[-1].due_s = start_s + args.duration  # each loader's deadline
        # The server's CPU from the moment the loaders, done signing, start sending.
        with ThreadPoolExecutor(1) as sampler:
            sample_before = sampler.submit(sample_at, start_s, port)
            results = run_loaders(plans, [traffic] * args.procs, host, port, args.connections, "closed", True)
            after = processes.sample(processes.server_tree(port))
            before = sample_before.result()
        answered = sum(sum(r.answers.values()) for r in results)
        throughput[kind] = answered / args.duration
        answers: Counter[str] = sum((r.answers for r in results), Counter())
        print(f"ceiling kind={kind} throughput={throughput[kind]:.0f}/s answered={answered} "
              + " ".join(f"{k}={v}" for k, v in sorted(answers.items())))  # fmt: skip
        print(cpu_line(before, after, answered, sum(r.cpu_s for r in results)))
        confirmed += [b for r in results for b in r.confirmed]
    print(f"bet_to_empty_ratio={throughput['bet'] / throughput['version']:.2f}")
    check(args.data_dir, confirmed)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
