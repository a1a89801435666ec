#!/usr/bin/env bash
# WebSocket fan-out benchmark: `taptrade run` (defaults: 2 gateway workers, ledger, simulated feed, private
# Redis) in a scratch data dir, then CLIENTS clients on /ws measured for 30 s, for each count given; after
# each run, the warnings and errors the server logged during it. With --steady the simulated market trades
# every 100 ms (`simulated:steady`: a 10 Hz price) instead of at random about 10 times a second.
# Usage: bench/ws_fanout.sh [--steady] PORT CLIENTS...
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --steady ]]; then
    export TAPTRADE_FEED=simulated:steady
    shift
fi
port=$1; shift
# shellcheck source=bench/server.sh
source bench/server.sh
start_server "$port"
problem='"level": ?"(warning|error|critical)"|^(WARNING|ERROR|CRITICAL):|Traceback'
for clients in "$@"; do
    echo "=== /ws fan-out to $clients clients"
    seen=$(wc -l <"$data/run.log")
    .venv/bin/python -W ignore -m bench.ws_fanout --url "ws://127.0.0.1:$port/ws" --clients "$clients" \
        --data-dir "$data" --duration 30
    sleep 2  # what the workers log as the clients leave comes a moment after the benchmark ends
    problems=$(tail -n +"$((seen + 1))" "$data/run.log" | grep -E "$problem" || true)
    echo "server_log_problems=$(printf '%s' "$problems" | grep -c . || true)"
    printf '%s\n' "$problems" | grep . | head -n 5 || true
done
