"""What a trader's first bet on a worker costs before its signature can be checked: reading the session from
Redis and parsing its key, for sessions the worker has not cached yet, many at once.

    .venv/bin/python -m bench.session_reads [--sessions 1300]

Starts a private redis-server as `taptrade run` does, creates the sessions, then looks each one up once,
all concurrently, in a fresh `Sessions` (an empty cache) on one uvloop event loop, as a worker does when
traders arrive together. Prints, for a fresh connection and again for one already made, the wall time,
the CPU per lookup and the lookups' latency percentiles; last, `parse_us` (the key's parsing alone).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

import uvloop
from tests.gateway_support import Trader

from taptrade.auth.session_keys import load_session_key
from taptrade.bus import connect_async
from taptrade.gateway.sessions import Sessions
from taptrade.launcher import private_redis, redis_answers, wait_until

KEYS = 50  # distinct session keys, shared round-robin: generating one per session would dominate setup


def session_keys() -> list[str]:
    return [Trader().session_key_b64() for _ in range(KEYS)]


async def lookups(url: str, count: int, keys: list[str]) -> None:
    now_ms = int(time.time() * 1000)
    writer = connect_async(url)
    creator = Sessions(writer)
    tokens = [
        await creator.create(f"0x{n:040x}", keys[n % KEYS], now_ms + 3_600_000, now_ms)
        for n in range(2 * count)
    ]
    creator.close()
    await writer.aclose()
    client = connect_async(url)
    sessions = Sessions(client)
    for label, batch in (("fresh_connection", tokens[:count]), ("connection_made", tokens[count:])):
        latencies_ms: list[float] = []

        async def one(token: str, into: list[float]) -> None:
            started = time.perf_counter()
            session = await sessions.lookup(token, now_ms, confirm=False)
            assert session is not None
            into.append((time.perf_counter() - started) * 1000)

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(token, latencies_ms) for token in batch))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        latencies_ms.sort()
        print(
            f"{label}: lookups={count} wall_ms={wall * 1000:.0f} cpu_us_per_lookup={cpu / count * 1e6:.0f} "
            f"p50_ms={latencies_ms[count // 2]:.1f} p99_ms={latencies_ms[int(count * 0.99)]:.1f}"
        )
    sessions.close()
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1300, help="per worker at 2,500 first bets (default)")
    args = parser.parse_args()
    keys = session_keys()
    with tempfile.TemporaryDirectory(prefix="session-reads-") as tmp:
        spec, url = private_redis(Path(tmp))
        redis_proc = subprocess.Popen(spec.argv)
        try:
            wait_until(lambda: redis_answers(url), 10, "redis-server")
            uvloop.run(lookups(url, args.sessions, keys))
        finally:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    started = time.perf_counter()
    for n in range(2000):
        load_session_key(keys[n % KEYS])
    print(f"parse_us={(time.perf_counter() - started) / 2000 * 1e6:.1f}")


if __name__ == "__main__":
    main()
