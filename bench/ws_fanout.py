"""WebSocket fan-out benchmark for `/ws`: N clients connected at once, every `price` message timed from its
tick.

    bench/ws_fanout.sh PORT CLIENTS...      (starts `taptrade run` in a scratch data dir, stops it after)
    .venv/bin/python -m bench.ws_fanout --url ws://127.0.0.1:8000/ws --clients 2000 --duration 30

The clients are spread over `--procs` loader processes, none of them the server's, and open their
connections at most `--connect-concurrency` at a time (all loaders together). Each client is a bare
Protocol (bench/ws_client.py) that stamps a message with the time its bytes were read: the loaders share
the machine with the server, and a heavier client's own queueing would be counted as the server's delay.
(The server does not negotiate permessage-deflate, docs/gateway.md, so offering it as browsers do changes
nothing.) Once all are connected and a short settling pause has passed, the loaders record every message
for `--duration` seconds while this process samples the server's processes (bench/processes.py) and the
loaders their own CPU.

What the delay measures. A `price` message's `ts_ms` is the feed's tick time: the source's event time
(feed/events.py), which the feed copies into the tick it writes to Redis. With the simulated source that
`taptrade run` uses by default, that is the feed process's wall clock when it makes the trade, just before it
publishes it; on one host (one clock) *receive time minus `ts_ms`* is then the tick's whole way to a
client: feed -> Redis pub/sub -> the gateway worker's market view -> the worker's price pacer -> the client's
sender -> the socket -> the loader's event loop. `ts_ms` is truncated to the millisecond, which adds 0-1 ms.
With an exchange source `ts_ms` is the exchange's trade time on its own clock, so the figure would also hold
the exchange-to-feed path and the clock skew; with a replay it is a recorded time shifted by whole columns.
The benchmark prints the source (`feed_source`) so a run on another source is not mistaken for this one.

The gateway paces prices on purpose: at most 10 a second per client, never two within 75 ms, the newest
tick winning (`ws.PriceSchedule`). With the default simulated market, whose trades arrive at random
(Poisson, ~10 a second), a tick that comes soon after another waits for the pacer, up to 100 ms by design,
and one that is overtaken is never sent: the delays then hold that wait, and ~7-8 price messages a second
per client is the design's rate, not a loss. With `simulated:steady` (a trade every 100 ms: the 10 Hz
price, `bench/ws_fanout.sh --steady`) nearly every tick goes out as it arrives and the delay is the
delivery's. The `max` messages a client got is the reference the other clients should match.

To separate the pacing from the cost of fanning out, each client is mapped to the gateway worker serving it
(`ss`), and per worker and tick the first client to receive it marks when the pacer sent it:
`delay_first_ms` (first receipt minus `ts_ms`: feed, Redis, the pacer's wait and one send) and
`fanout_spread_ms` (each receipt minus that first receipt: how long the worker takes to get the message
to all its clients, plus the loaders' own lag). The spread is the part that grows with the clients.
Quote tables are timed the same way (`quotes_delay_ms`: receipt minus the table's `ts_ms`, the feed's
time when it made it), so that what is done for the prices' sake is seen to cost the tables. Given the
server's `--data-dir`, this process also subscribes to the feed's price channel in Redis:
`delay_at_redis_ms` (arrival there minus `ts_ms`) is the part of every delay spent before the gateway.

The loaders share the machine with the server: their CPU is reported so that a loader near a full core,
whose own lag then inflates the delays, is not taken for the server's.

Reports: clients connected and the time it took, clients the server closed (by close code; 1013 is a
client too slow for it, 1006 a connection lost without a close frame), price messages and quote tables
per client per second, the delays, the loaders' CPU, the server's CPU by role during the window, the whole
machine's CPU (and what other processes took: on a shared machine, figures taken while something else ran
are not the server's), and the gateway workers' open files against their limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import threading
import time
import urllib.request
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlparse

import msgspec
import redis

from bench import processes
from bench.ws_client import Listener, open_listener
from taptrade import bus
from taptrade.config import load_settings
from taptrade.market import price_decoder
from taptrade.obs.heap import freeze_startup_heap

SETTLE_S = 2.0  # after the last connection: the hello/quotes burst and the connect work are over
OPEN_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
PERCENTILES = (0.5, 0.95, 0.99)


class Message(msgspec.Struct):
    """The fields the benchmark reads; everything else in a message is skipped."""

    type: str = ""
    ts_ms: int | None = None


_decoder = msgspec.json.Decoder(Message)


@dataclass
class Window:
    """The measurement window in Unix ms; infinite until the parent sends it."""

    start_ms: float = float("inf")
    end_ms: float = float("inf")
    closing: bool = False  # the loader is closing its clients itself: those closes are not the server's


@dataclass
class Client:
    """What one connection records; its `Listener` calls `on_message` and, once closed, `on_closed`."""

    window: Window
    result: LoaderResult
    port: int = 0  # the client's local port, once connected: how `ss` names it on the server's side
    prices: int = 0  # price messages received in the window
    quotes: int = 0  # quote tables received in the window

    def on_message(self, text: bytes, received_ms: float) -> None:
        window = self.window
        if not window.start_ms <= received_ms < window.end_ms:
            return  # outside the window: read (so the server is never held up), not timed
        message = _decoder.decode(text)
        if message.type == "price" and message.ts_ms is not None:
            self.prices += 1
            result = self.result
            result.ports.append(self.port)
            result.ts_ms.append(message.ts_ms)
            result.received_ms.append(received_ms)
        elif message.type == "quotes" and message.ts_ms is not None:
            self.quotes += 1
            self.result.quote_delays_ms.append(received_ms - message.ts_ms)

    def on_closed(self, closed: asyncio.Future[int]) -> None:
        if not self.window.closing:
            self.result.closes.append((time.time() * 1000, closed.result()))


@dataclass
class ConnectReport:
    connected: int
    failures: Counter[str]
    started_s: float
    done_s: float


@dataclass
class LoaderResult:
    """One loader's record of the window: one entry per price message, and per client."""

    ports: array[int] = field(default_factory=lambda: array("L"))
    ts_ms: array[int] = field(default_factory=lambda: array("q"))
    received_ms: array[float] = field(default_factory=lambda: array("d"))
    prices_per_client: list[int] = field(default_factory=list)
    quote_delays_ms: array[float] = field(default_factory=lambda: array("d"))
    quotes_per_client: list[int] = field(default_factory=list)
    closes: list[tuple[float, int]] = field(default_factory=list)  # (Unix ms, close code) by the server
    cpu_s: float = 0.0
    wall_s: float = 0.0


# --- one loader process ------------------------------------------------------------------------------------


async def open_client(
    url: str, gate: asyncio.Semaphore, window: Window, result: LoaderResult
) -> tuple[Client, Listener] | str:
    """A connected client and its connection, or the name of what went wrong."""
    parsed = urlparse(url)
    client = Client(window, result)
    async with gate:
        try:
            listener = await open_listener(
                parsed.hostname or "127.0.0.1",
                parsed.port or 80,
                parsed.path or "/",
                client.on_message,
                OPEN_TIMEOUT_S,
            )
        except Exception as exc:  # any failure is a result to count, not a reason to stop
            return type(exc).__name__
    client.port = listener.local_port  # before the window opens: nothing is recorded until then
    listener.closed.add_done_callback(client.on_closed)
    return client, listener


async def sleep_until(at_s: float) -> None:
    await asyncio.sleep(max(0.0, at_s - time.time()))


async def run_loader(pipe: Connection, url: str, count: int, concurrency: int) -> None:
    window, result = Window(), LoaderResult()
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    listeners: list[Listener] = []
    failures: Counter[str] = Counter()

    async def open_and_listen() -> None:
        opened = await open_client(url, gate, window, result)
        if isinstance(opened, str):
            failures[opened] += 1
            return
        clients.append(opened[0])
        listeners.append(opened[1])

    started_s = time.time()
    await asyncio.gather(*(open_and_listen() for _ in range(count)))
    pipe.send(ConnectReport(len(clients), failures, started_s, time.time()))

    start_s, end_s = await asyncio.to_thread(pipe.recv)
    window.start_ms, window.end_ms = start_s * 1000, end_s * 1000
    await sleep_until(start_s)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    await sleep_until(end_s)
    result.cpu_s, result.wall_s = time.process_time() - cpu_start, time.monotonic() - wall_start

    window.closing = True
    result.prices_per_client = [c.prices for c in clients]
    result.quotes_per_client = [c.quotes for c in clients]
    for listener in listeners:
        listener.close()
    if listeners:
        await asyncio.wait([listener.closed for listener in listeners], timeout=CLOSE_TIMEOUT_S)
    for listener in listeners:
        listener.abort()
    pipe.send(result)


def loader_process(pipe: Connection, url: str, count: int, concurrency: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    freeze_startup_heap()  # the loader's own collections would show up as delay
    asyncio.run(run_loader(pipe, url, count, concurrency))
    pipe.close()


# --- the server's side -------------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """Soft open-file limit up to the hard one (forked loaders inherit it); the limit now in force."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def feed_source(http_url: str, timeout_s: float = 15.0) -> str:
    """The source of the current tick (`GET /api/price`), once the feed has published one."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # Only ever the benchmarked server's own http://127.0.0.1 URL.
            with urllib.request.urlopen(f"{http_url}/api/price", timeout=5) as answer:  # nosec B310
                source: str = json.load(answer)["source"]
                return source
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("no price from the server: is the feed running?") from None
            time.sleep(0.5)


def client_workers(port: int) -> dict[int, int]:
    """Client port -> pid of the gateway worker holding the server side of that connection (`ss`)."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    workers: dict[int, int] = {}
    for line in out.splitlines():
        fields = line.split()
        if "pid=" in line and len(fields) >= 4:
            peer_port = int(fields[3].rsplit(":", 1)[1])
            workers[peer_port] = int(line.split("pid=", 1)[1].split(",", 1)[0])
    return workers


def watch_redis(redis_url: str, start_s: float, end_s: float, delays_ms: list[float]) -> None:
    """Each tick's arrival at a Redis subscriber of the price channel minus its `ts_ms`, in the window."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(bus.PRICE_CHANNEL)
    try:
        while time.time() < end_s:
            message = pubsub.get_message(timeout=0.2)
            received_ms = time.time() * 1000
            if message is not None and start_s * 1000 <= received_ms < end_s * 1000:
                delays_ms.append(received_ms - price_decoder.decode(message["data"]).ts_ms)
    finally:
        pubsub.close()
        client.close()


def start_redis_watch(
    data_dir: Path | None, port: int, start_s: float, end_s: float
) -> tuple[threading.Thread, list[float]] | None:
    """Given the server's data dir (`taptrade run` records its Redis URL there): a thread timing ticks."""
    if data_dir is None:
        return None
    redis_url = load_settings(data_dir=data_dir, port=port).resolved_redis_url()
    delays_ms: list[float] = []
    thread = threading.Thread(target=watch_redis, args=(redis_url, start_s, end_s, delays_ms), daemon=True)
    thread.start()
    return thread, delays_ms


@dataclass(frozen=True)
class MachineSample:
    server: processes.Sample
    busy_s: float  # CPU seconds the whole machine has been busy, all cores


def sample_machine(server_pids: list[int]) -> MachineSample:
    # /proc/stat's first line: user nice system idle iowait irq softirq steal (guest is within user).
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return MachineSample(processes.sample(server_pids), busy / processes.CLOCK_TICKS)


def fd_limit(pid: int) -> str:
    """A process's open-file limit as `soft/hard`, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return f"{soft}/{hard}"
    return "?"


def cpu_pct_by_role(before: processes.Sample, after: processes.Sample) -> dict[str, float]:
    elapsed_s = after.at_s - before.at_s
    spent: Counter[str] = Counter()
    for pid, proc in after.procs.items():
        start = before.procs.get(pid)
        if start is not None:
            spent[proc.role] += proc.cpu_s - start.cpu_s
    return {role: seconds * 100 / elapsed_s for role, seconds in sorted(spent.items())}


def worker_cpu_pct(before: processes.Sample, after: processes.Sample) -> list[float]:
    elapsed_s = after.at_s - before.at_s
    return [
        (proc.cpu_s - before.procs[pid].cpu_s) * 100 / elapsed_s
        for pid, proc in sorted(after.procs.items())
        if proc.role == "gateway-worker" and pid in before.procs
    ]


# --- report ------------------------------------------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def per_client_rate_line(name: str, per_client: list[int], duration_s: float) -> str:
    """Messages a second, per client: the mean, the least and the most."""
    rates = [n / duration_s for n in per_client]
    return f"{name} mean={sum(rates) / len(rates):.2f} min={min(rates):.2f} max={max(rates):.2f}"


def spread_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name} n=0"
    ordered = sorted(values)
    cuts = " ".join(f"p{round(p * 100)}={percentile(ordered, p):.1f}" for p in PERCENTILES)
    return f"{name} {cuts} max={ordered[-1]:.1f} mean={sum(ordered) / len(ordered):.1f} n={len(ordered)}"


def fanout_split(results: list[LoaderResult], workers: dict[int, int]) -> tuple[list[float], list[float]]:
    """(first receipt minus ts_ms per worker and tick, each receipt minus its worker's first receipt)."""
    first: dict[tuple[int, int], float] = {}
    keyed: list[tuple[tuple[int, int], float]] = []
    for r in results:
        for port, ts_ms, received_ms in zip(r.ports, r.ts_ms, r.received_ms, strict=True):
            worker = workers.get(port)
            if worker is None:
                continue  # closed before the mapping was taken
            key = (worker, ts_ms)
            keyed.append((key, received_ms))
            if received_ms < first.get(key, float("inf")):
                first[key] = received_ms
    firsts = [received_ms - ts_ms for (_, ts_ms), received_ms in first.items()]
    return firsts, [received_ms - first[key] for key, received_ms in keyed]


def close_report(results: list[LoaderResult], start_ms: float) -> str:
    closes = [close for r in results for close in r.closes]
    codes = Counter(code for _, code in closes)
    in_window = sum(1 for at_ms, _ in closes if at_ms >= start_ms)
    listed = ",".join(f"{code}:{n}" for code, n in sorted(codes.items())) or "none"
    return f"closed_by_server={len(closes)} closed_in_window={in_window} close_codes={listed}"


def report(
    results: list[LoaderResult],
    workers: dict[int, int],
    start_s: float,
    duration_s: float,
    machine: tuple[MachineSample, MachineSample],
    at_redis_ms: list[float] | None,
) -> None:
    print(close_report(results, start_s * 1000))
    prices = [n for r in results for n in r.prices_per_client]
    if prices:
        print(per_client_rate_line("price_msgs_per_client_per_s", prices, duration_s))
    delays = [received - ts for r in results for ts, received in zip(r.ts_ms, r.received_ms, strict=True)]
    print(spread_line("delay_ms", delays))
    if at_redis_ms is not None:
        print(spread_line("delay_at_redis_ms", at_redis_ms))
    quotes = [n for r in results for n in r.quotes_per_client]
    if quotes:
        print(per_client_rate_line("quotes_msgs_per_client_per_s", quotes, duration_s))
    print(spread_line("quotes_delay_ms", [d for r in results for d in r.quote_delays_ms]))
    firsts, spreads = fanout_split(results, workers)
    print(spread_line("delay_first_ms", firsts))
    print(spread_line("fanout_spread_ms", spreads))
    loader_pct = [r.cpu_s * 100 / r.wall_s for r in results if r.wall_s > 0]
    print(f"loader_cpu_pct={[round(p, 1) for p in loader_pct]} total={sum(loader_pct):.1f}")
    before, after = machine[0].server, machine[1].server
    by_role = cpu_pct_by_role(before, after)
    print("server_cpu_pct " + " ".join(f"{role}={pct:.1f}" for role, pct in by_role.items()))
    # Whatever else ran on the machine meanwhile (another benchmark) makes the figures above unreliable.
    busy_pct = (machine[1].busy_s - machine[0].busy_s) * 100 / (after.at_s - before.at_s)
    others = busy_pct - sum(by_role.values()) - sum(loader_pct)
    capacity = (os.cpu_count() or 1) * 100
    print(f"machine_cpu_pct={busy_pct:.1f} of {capacity} other_processes_cpu_pct={others:.1f}")
    print(f"gateway_worker_cpu_pct={[round(p, 1) for p in worker_cpu_pct(before, after)]}")
    gateway = sorted(pid for pid, proc in after.procs.items() if proc.role == "gateway-worker")
    print(
        f"gateway_worker_fds={[after.procs[pid].fds for pid in gateway]} "
        f"gateway_worker_fd_limit={[fd_limit(pid) for pid in gateway]}"
    )


# --- the run -----------------------------------------------------------------------------------------------


Loaders = tuple[list[Connection], list[multiprocessing.process.BaseProcess]]


def start_loaders(args: argparse.Namespace) -> Loaders:
    context = multiprocessing.get_context("fork")
    pipes, procs = [], []
    per_loader_gate = max(1, args.connect_concurrency // args.procs)
    for n in range(args.procs):
        count = args.clients // args.procs + (1 if n < args.clients % args.procs else 0)
        mine, theirs = context.Pipe()
        proc = context.Process(target=loader_process, args=(theirs, args.url, count, per_loader_gate))
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    return pipes, procs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=2, help="loader processes")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--connect-concurrency", type=int, default=200, help="handshakes at once, in total")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="the server's; to time ticks at Redis too (optional)"
    )
    args = parser.parse_args()

    parsed = urlparse(args.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    http_scheme = "https" if parsed.scheme == "wss" else "http"
    fd_limit_now = raise_fd_limit()
    source = feed_source(f"{http_scheme}://{host}:{port}")
    server_pids = processes.server_tree(port)
    print(
        f"feed_source={source} clients={args.clients} loader_procs={args.procs} "
        f"duration={args.duration:.0f}s loader_fd_limit={fd_limit_now}"
    )

    pipes, procs = start_loaders(args)
    connects: list[ConnectReport] = [pipe.recv() for pipe in pipes]
    failures: Counter[str] = sum((c.failures for c in connects), Counter())
    connect_s = max(c.done_s for c in connects) - min(c.started_s for c in connects)
    listed = ",".join(f"{name}:{n}" for name, n in sorted(failures.items())) or "none"
    print(
        f"connected={sum(c.connected for c in connects)}/{args.clients} connect_s={connect_s:.1f} "
        f"connect_failures={listed}"
    )
    workers = client_workers(port)
    print(f"clients_per_worker={sorted(Counter(workers.values()).values())}")

    start_s = time.time() + SETTLE_S
    for pipe in pipes:
        pipe.send((start_s, start_s + args.duration))
    redis_watch = start_redis_watch(args.data_dir, port, start_s, start_s + args.duration)
    time.sleep(max(0.0, start_s - time.time()))
    before = sample_machine(server_pids)
    time.sleep(max(0.0, start_s + args.duration - time.time()))
    after = sample_machine(server_pids)
    results: list[LoaderResult] = [pipe.recv() for pipe in pipes]
    for proc in procs:
        proc.join()
    at_redis_ms = None
    if redis_watch is not None:
        redis_watch[0].join()
        at_redis_ms = redis_watch[1]
    report(results, workers, start_s, args.duration, (before, after), at_redis_ms)


if __name__ == "__main__":
    main()
