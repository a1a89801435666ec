# Tap Trading. Quick start: `make run` (the product on http://127.0.0.1:$TAPTRADE_PORT) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TAPTRADE_DATA_DIR ?= ./data
TAPTRADE_PORT ?= 8000

.PHONY: run test lint typecheck system-deps bench-ledger bench-gateway clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required (found $$($(PYTHON) --version)); set PYTHON=python3.x" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/taptrade run --data-dir "$(TAPTRADE_DATA_DIR)" --port "$(TAPTRADE_PORT)"

system-deps:
	@scripts/install-system-deps.sh

test: $(STAMP) system-deps lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger_bench.py

# Starts `taptrade run` in a scratch data dir, loads POST /api/bets at BENCH_RATES, stops it.
BENCH_RATES ?= 1000 2000 3000
BENCH_PORT ?= 8199
bench-gateway: $(STAMP)
	bench/gateway.sh $(BENCH_PORT) $(BENCH_RATES)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
