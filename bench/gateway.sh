#!/usr/bin/env bash
# Gateway benchmark: `taptrade run` (defaults: 2 gateway workers, ledger, simulated feed, private Redis) in
# a scratch data dir, then the open-loop load generator at each rate for 30 s. Usage: bench/gateway.sh PORT RATE...
set -euo pipefail
cd "$(dirname "$0")/.."
port=$1; shift
data=$(mktemp -d /tmp/taptrade-bench.XXXXXX)
TAPTRADE_LEDGER_METRICS_PORT=0 TAPTRADE_FEED_METRICS_PORT=0 .venv/bin/taptrade run --data-dir "$data" --port "$port" >"$data/run.log" 2>&1 &
runner=$!
trap 'kill -INT $runner; wait $runner; rm -rf "$data"' EXIT
for _ in $(seq 60); do grep -q "is running" "$data/run.log" && break; sleep 0.5; done
for rate in "$@"; do
    echo "=== POST /api/bets at $rate/s"
    .venv/bin/python -W ignore -m bench.loadgen --url "http://127.0.0.1:$port" --data-dir "$data" \
        --rate "$rate" --duration 30
done
