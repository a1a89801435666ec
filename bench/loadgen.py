"""Open-loop load generator for `POST /api/bets`.

Requests leave at a constant arrival rate whatever the server does, and each latency is measured from the
request's *intended* send time, so a stalled server shows up as latency (no coordinated omission).

    .venv/bin/python -m bench.loadgen --url http://127.0.0.1:8000 --data-dir ./data --rate 1000 --duration 30

Setup, not timed: `--users` wallets sign in with real SIWE messages and P-256 session keys, are funded
through the ledger's intake, and every bet of the run is signed in advance (session-key path). With
`--publish-market` the loader publishes a static quote table and a healthy feed status itself (for a
system without a price feed); otherwise it waits until the live feed has opened betting and signs its
bets on the rows around the current price. The run is spread over `--procs` loader processes, none of
them the server's; each keeps `--connections / --procs` keep-alive connections and speaks raw HTTP/1.1
to stay cheap.

Reports: achieved rate, latency percentiles, answers by status and error code, how the gateway workers
shared the connections, then checks that every confirmed bet is in the database exactly once and that
integrity holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from tests.gateway_support import QUOTE_ROWS, Trader, bet_body, publish_market

from taptrade.bus import IntakeClient, connect_async
from taptrade.commands import Deposit
from taptrade.config import load_settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity

STAKE_CENTS = 100
FUND_CENTS = 100_000_000
AHEAD_COLUMNS = (3, 4, 5, 6, 7, 8)
RESPONSE_TIMEOUT_S = 10.0
NEAR_ROWS = 7  # the price's row and three either side


@dataclass
class Plan:
    """One loader process's share: when each request is due and its bytes."""

    start_s: float
    due_s: list[float] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    confirmed: list[str] = field(default_factory=list)
    last_done_s: float = 0.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
    client = connect_async(redis_url)
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


def users_for_rate(rate: float) -> int:
    """Each user bets on distinct cells near the price: NEAR_ROWS new cells a column, i.e. at most
    NEAR_ROWS / column_seconds bets a second each (1.4 with the defaults); keep below that."""
    return max(600, int(rate / 1.2) + 1)


def plan_requests(
    traders: list[Trader],
    settings: Any,
    host: str,
    rate: float,
    duration_s: float,
    start_s: float,
    procs: int,
    price_cents: int,
    rows: int,
) -> list[Plan]:
    """Every bet of the run, signed now for its due time: a placeable cell that user has not used yet,
    in the rows around the price (which the feed keeps quoting while the price wanders a few rows)."""
    plans = [Plan(start_s) for _ in range(procs)]
    used: set[tuple[int, int, int]] = set()
    column_ms = settings.column_seconds * 1000
    base_row = price_cents // settings.row_cents - rows // 2
    total = int(rate * duration_s)
    for n in range(total):
        due = start_s + n / rate
        user = n % len(traders)
        trader = traders[user]
        current = int(due * 1000) // column_ms
        cell = next(
            (current + a, base_row + r)
            for r in range(rows)
            for a in AHEAD_COLUMNS
            if (user, current + a, base_row + r) not in used
        )
        used.add((user, *cell))
        body = bet_body(trader, settings, column=cell[0], row=cell[1], amount=STAKE_CENTS, timestamp=int(due))
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST /api/bets HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {trader.token}\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        plan = plans[user % procs]
        plan.due_s.append(due)
        plan.requests.append(head + payload)
    return plans


# --- the run (one loader process) --------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _run(plan: Plan, host: str, port: int, connections: int) -> Results:
    results = Results()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                due, request = await queue.get()
                writer.write(request)
                try:
                    status, body = await asyncio.wait_for(_read_response(reader), RESPONSE_TIMEOUT_S)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    results.answers["timeout_or_closed"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                done = time.time()
                results.latencies_ms.append((done - due) * 1000)
                results.last_done_s = done
                if status in (200, 201):
                    results.answers[str(status)] += 1
                    results.confirmed.append(json.loads(body)["bet"]["bet_id"])
                else:
                    code = json.loads(body)["error"]["code"] if body.startswith(b"{") else "?"
                    results.answers[f"{status} {code}"] += 1
                queue.task_done()
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    await asyncio.sleep(max(0.0, plan.start_s - time.time()))
    for due, request in zip(plan.due_s, plan.requests, strict=True):
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))  # open loop: it leaves on time even if every connection is busy
    await queue.join()
    for worker in workers:
        worker.cancel()
    return results


def loader_process(plan: Plan, host: str, port: int, connections: int, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(_run(plan, host, port, connections))
    out.send(results)
    out.close()


# --- report --------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def worker_connections(port: int) -> dict[int, int]:
    """Established connections per gateway process on `port` (from `ss`): how evenly workers share."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    per_pid: Counter[int] = Counter()
    for line in out.splitlines():
        if "pid=" in line:
            per_pid[int(line.split("pid=", 1)[1].split(",", 1)[0])] += 1
    return dict(per_pid)


def verify(data_dir: Path, confirmed: list[str]) -> str:
    conn = db.open_reader(data_dir / "live.db")
    stored = Counter(row[0] for row in conn.execute("SELECT lower(hex(bet_id)) FROM bets"))
    missing = [b for b in confirmed if stored[b.replace("-", "")] != 1]
    report = check_integrity(conn)
    return f"confirmed_in_db_once={len(confirmed) - len(missing)}/{len(confirmed)} integrity_ok={report.ok}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--users", type=int, default=0, help="wallets (default: enough for the rate, see users_for_rate)"
    )
    parser.add_argument("--procs", type=int, default=2, help="loader processes")
    parser.add_argument("--connections", type=int, default=128, help="in total")
    parser.add_argument("--publish-market", action="store_true")
    args = parser.parse_args()

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
    args.users = args.users or users_for_rate(args.rate)
    traders = asyncio.run(sign_in_all(args.url, settings, args.users))
    asyncio.run(fund_all(redis_url, traders))
    sign_s = args.rate * args.duration * 80e-6 + 3  # ~80 µs to sign and encode a request
    start_s = time.time() + sign_s
    # With a live feed only the rows near the price are surely offered (far cells would pay over 100x).
    rows = QUOTE_ROWS if args.publish_market else NEAR_ROWS
    plans = plan_requests(
        traders, settings, f"{host}:{port}", args.rate, args.duration, start_s, args.procs, price_cents, rows
    )
    signed = sum(len(p.requests) for p in plans)
    setup_s = time.time() - setup_started
    print(f"setup: {args.users} users signed in and funded, {signed} bets signed in {setup_s:.1f} s")

    context = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for plan in plans:
        receiver, sender = context.Pipe(duplex=False)
        proc = context.Process(
            target=loader_process, args=(plan, host, port, args.connections // args.procs, sender)
        )
        proc.start()
        pipes.append(receiver)
        procs.append(proc)
    time.sleep(max(0.0, start_s - time.time()) + min(args.duration / 2, 5.0))
    split = worker_connections(port)
    results = [pipe.recv() for pipe in pipes]
    for proc in procs:
        proc.join()
    stop_market.set()

    latencies = [x for r in results for x in r.latencies_ms]
    answers: Counter[str] = sum((r.answers for r in results), Counter())
    confirmed = [b for r in results for b in r.confirmed]
    elapsed = max(r.last_done_s for r in results) - start_s
    print(f"target_rate={args.rate:.0f}/s duration={args.duration:.0f}s loader_procs={args.procs} "
          f"connections={args.connections}")  # fmt: skip
    print(f"achieved_rate={len(latencies) / elapsed:.0f}/s answered={len(latencies)}")
    print(
        "latency_ms "
        + " ".join(f"p{int(p * 100)}={percentile(latencies, p):.1f}" for p in (0.5, 0.95, 0.99))
        + f" max={max(latencies):.1f} mean={statistics.fmean(latencies):.1f}"
    )
    print("answers " + " ".join(f"{k}={v}" for k, v in sorted(answers.items())))
    print(f"gateway_connections_per_worker={sorted(split.values())}")
    print(verify(args.data_dir, confirmed))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
