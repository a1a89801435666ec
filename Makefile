# Tap Trading. Quick start: `make run` (the product on http://127.0.0.1:$TAPTRADE_PORT) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TAPTRADE_DATA_DIR ?= ./data
TAPTRADE_PORT ?= 8000

.PHONY: run test test-faults lint typecheck security system-deps web web-test e2e bench bench-ledger bench-gateway bench-soak bench-ws clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required (found $$($(PYTHON) --version)); set PYTHON=python3.x" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The web app (web/): dependencies from the lockfile, then the static build the gateway serves at /.
WEB_STAMP := web/node_modules/.installed
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/tsconfig.json web/tsconfig.app.json

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 with npm is required for the web app (apt-get install nodejs npm, or https://nodejs.org)" >&2; exit 1; }
	cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

run: $(STAMP) web
	$(BIN)/taptrade run --data-dir "$(TAPTRADE_DATA_DIR)" --port "$(TAPTRADE_PORT)"

system-deps:
	@scripts/install-system-deps.sh

# Coverage is measured in the test process (pyproject.toml); the gate judges the money-critical code.
test: $(STAMP) system-deps lint typecheck security web-test
	rm -f .coverage .coverage.*
	$(BIN)/pytest --cov --cov-report= -m "not long_fault"
	$(BIN)/python scripts/coverage_gate.py
	$(MAKE) e2e

# Vitest unit tests and strict type checks of the web app.
web-test: web
	cd web && npm run lint && npm test

# Playwright with Debian's chromium against a real `taptrade run` (web/e2e/global-setup.ts); screenshots
# and traces stay in web/test-results.
e2e: $(STAMP) web system-deps
	cd web && npm run e2e

# The fault campaigns in full (tests/faults; `make test` runs only the quick ones, short); their figures
# become the matrix in docs/reliability.md.
FAULT_RESULTS := build/fault-results.jsonl
test-faults: $(STAMP) system-deps
	mkdir -p build && rm -f $(FAULT_RESULTS)
	TAPTRADE_FAULTS=full TAPTRADE_FAULT_RESULTS=$(CURDIR)/$(FAULT_RESULTS) $(BIN)/pytest -m fault tests/faults
	$(BIN)/python scripts/fault_matrix.py $(FAULT_RESULTS) docs/reliability.md

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Medium and high findings fail; pyproject.toml says which checks are skipped and why.
security: $(STAMP)
	$(BIN)/bandit -c pyproject.toml -q -r src -ll

# Benchmarks (docs/benchmarks.md): not part of `make test`, which runs a 10-second smoke of the load generator.
bench: bench-ledger bench-gateway bench-ws

bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger_bench.py

# Each starts `taptrade run` in a scratch data dir with its defaults, loads it, checks every confirmed bet
# is stored once and integrity holds, and stops it.
BENCH_RATES ?= 1500 2000 3000
BENCH_PORT ?= 8199
bench-gateway: $(STAMP)
	bench/gateway.sh $(BENCH_PORT) $(foreach rate,$(BENCH_RATES),"--scenario bets --rate $(rate)") \
		"--scenario mixed --rate 2000" "--scenario ceiling --duration 10" "--scenario spike --rate 5000"

bench-soak: $(STAMP)
	bench/gateway.sh $(BENCH_PORT) "--scenario soak --rate 1000 --duration 1800"

# On a 10 Hz price (a simulated trade every 100 ms), then on the default market's random ~10 trades a second.
BENCH_WS_CLIENTS ?= 2000 5000
bench-ws: $(STAMP)
	bench/ws_fanout.sh --steady $(BENCH_PORT) $(BENCH_WS_CLIENTS)
	bench/ws_fanout.sh $(BENCH_PORT) $(BENCH_WS_CLIENTS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage .coverage.*
