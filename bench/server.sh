# Sourced by the benchmark scripts: `start_server PORT` starts `taptrade run` with its defaults (gateway
# workers, ledger, simulated feed, private Redis) in a scratch data dir ($data, its log $data/run.log),
# waits until it says it is running, and stops it and removes the dir when the script exits (keeping a copy
# of the log at $BENCH_LOG if that is set, for `python -m bench.gateway_tail`).
start_server() {
    local port=$1
    data=$(mktemp -d /tmp/taptrade-bench.XXXXXX)
    TAPTRADE_LEDGER_METRICS_PORT=0 TAPTRADE_FEED_METRICS_PORT=0 .venv/bin/taptrade run --data-dir "$data" \
        --port "$port" >"$data/run.log" 2>&1 &
    runner=$!
    trap 'kill -INT $runner; wait $runner; [ -z "${BENCH_LOG:-}" ] || cp "$data/run.log" "$BENCH_LOG"; rm -rf "$data"' EXIT
    for _ in $(seq 60); do grep -q "is running" "$data/run.log" && break; sleep 0.5; done
}
