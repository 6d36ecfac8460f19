# Coedit: `make run` sets up and serves on SQLite; `make test` sets up and runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= data/coedit.db
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) package.json package-lock.json $(wildcard tsconfig.json) $(wildcard web/build.mjs)

.PHONY: run test setup lint typecheck unit e2e bench fuzz-soak clean

run: $(VENV)/.installed web/dist/.built
	$(PY) -m server serve --host $(HOST) --port $(PORT) --db $(DB)

# Two runs: Playwright's sync API keeps an event loop in the main thread for the whole session,
# which pytest-asyncio's tests must not share.
# COEDIT_SERVICES_REQUIRED: a missing PostgreSQL, Redis or nginx fails the run, never skips.
test: setup lint typecheck
	COEDIT_SERVICES_REQUIRED=1 $(PY) -m pytest -q tests
	COEDIT_SERVICES_REQUIRED=1 $(PY) -m pytest -q e2e

setup: $(VENV)/.installed web/dist/.built
	@bash scripts/ensure-chromium
	@bash scripts/ensure-services

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check server tests e2e bench
	$(VENV)/bin/ruff format --check server tests e2e bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests

e2e: setup
	$(PY) -m pytest -q e2e

# Installs its Node packages (bench/package.json: the load generator and the Node peers) and the
# Python peer (bench/peers): every scenario against Coedit, Hocuspocus, the y-websocket server and
# pycrdt-websocket, medians of 3 runs; prints every table, the comparison goes into bench/RESULTS.md.
BENCH_JSON ?= bench/out/latest.json
bench: $(VENV)/.installed
	$(PY) -m bench --targets all --json $(BENCH_JSON)
	$(PY) -m bench.report $(BENCH_JSON) --update bench/RESULTS.md

# The fuzzer for longer than CI runs it (tests/test_fuzz.py): new failures are minimized into
# tests/fuzz/corpus/, which CI replays. FUZZ_SECONDS=3600 FUZZ_SEED=42 make fuzz-soak
FUZZ_SECONDS ?= 600
FUZZ_SEED ?= $(shell date +%s)
fuzz-soak: $(VENV)/.installed
	COEDIT_FUZZ_WRITE_CORPUS=1 $(PY) -m bench.fuzz --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

web/dist/.built: node_modules/.installed $(WEB_SOURCES)
	npm run build
	touch $@

clean:
	rm -rf $(VENV) node_modules web/dist
