"""The bet path's tail as the gateway measures it, from a server's log: p99 of the dispute lines' `ms` (a
bet's arrival in the worker to its answer, so without the time a request waits for the CPU before a worker
reads it) per quarter second, with the ledger's column settlements marked.

    BENCH_LOG=/tmp/run.log bench/gateway.sh PORT "--scenario bets --rate 3000 --duration 60 --timeline"
    .venv/bin/python -m bench.gateway_tail /tmp/run.log [--last 120]

Each bin prints as `second.fraction:p99`, with `R` where a column's settlement began (`column_resolving`)
and `D` where it ended (`column_resolved`). Last lines: the whole log's p50/p99/p99.9 of `ms`, and each
settled column's `steps` and `settle_ms`.
"""

from __future__ import annotations

import argparse
import datetime
import json
from collections import defaultdict
from pathlib import Path

BINS_PER_S = 4


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("log", type=Path)
    parser.add_argument("--last", type=int, default=120, help="bins to print, from the end (default 120)")
    args = parser.parse_args()

    bins: dict[int, list[float]] = defaultdict(list)
    marks: dict[int, str] = defaultdict(str)
    settled: list[tuple[int, int, float]] = []
    with args.log.open() as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            event = entry.get("event")
            if event == "bet" and "ms" in entry:
                bins[int(_seconds(entry["timestamp"]) * BINS_PER_S)].append(float(entry["ms"]))
            elif event in ("column_resolving", "column_resolved"):
                marks[int(_seconds(entry["timestamp"]) * BINS_PER_S)] += (
                    "R" if event == "column_resolving" else "D"
                )
                if event == "column_resolved" and entry.get("bets"):
                    settled.append((entry["bets"], entry["steps"], entry["settle_ms"]))
    if not bins:
        raise SystemExit("no bet lines in the log")
    shown = []
    for key in sorted(bins)[-args.last :]:
        ordered = sorted(bins[key])
        shown.append(f"{key / BINS_PER_S % 100:.2f}:{_quantile(ordered, 0.99):.0f}{marks.get(key, '')}")
    print(" ".join(shown))
    every = sorted(ms for values in bins.values() for ms in values)
    print(
        f"gateway_ms p50={_quantile(every, 0.5):.1f} p99={_quantile(every, 0.99):.1f}"
        f" p999={_quantile(every, 0.999):.1f} bets={len(every)}"
    )
    print("columns (bets, steps, settle_ms):", " ".join(f"{b}/{s}/{ms}" for b, s, ms in settled[-8:]))


if __name__ == "__main__":
    main()
