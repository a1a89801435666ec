#!/usr/bin/env bash
# Gateway benchmarks: `taptrade run` with its defaults (gateway workers, ledger, simulated feed, private
# Redis) in a scratch data dir, then one load-generator run per argument, each a string of bench.loadgen
# options. Usage: bench/gateway.sh PORT "--scenario bets --rate 1500" "--scenario mixed --rate 2000" ...
set -euo pipefail
cd "$(dirname "$0")/.."
port=$1; shift
# shellcheck source=bench/server.sh
source bench/server.sh
start_server "$port"
status=0
for run in "$@"; do
    echo "=== bench.loadgen $run"
    # shellcheck disable=SC2086  # each argument is a list of options
    .venv/bin/python -W ignore -m bench.loadgen --url "http://127.0.0.1:$port" --data-dir "$data" $run || status=1
done
if grep -q '"level": *"error"\|Traceback' "$data/run.log"; then
    echo "server log has errors:"; grep -m 20 '"level": *"error"\|Traceback' "$data/run.log" | cut -c1-300; status=1
fi
exit $status
