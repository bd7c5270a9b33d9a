# leasekit: one entry point for people and CI. `make help` lists the targets.
#
# Every target that needs tools depends on `bootstrap`, which installs what a fresh machine
# lacks and does nothing when everything is already there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
DB ?= ./leasekit.db
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help bootstrap develop serve test test-rust test-python test-js test-e2e wasm lint \
	lint-rust lint-python bench bench-quick

help: ## List the targets.
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

bootstrap: ## Install what a fresh machine lacks (system packages, Rust target, venv, tools).
	@scripts/bootstrap.sh

develop: bootstrap ## Build the Python extension (release) into the venv.
	@scripts/develop.sh

serve: develop wasm ## Run the lease service and its demo page on $(DB) at http://$(HOST):$(PORT).
	$(VENV)/bin/leasekit serve --db $(DB) --host $(HOST) --port $(PORT) --auth dev

test: develop lint test-rust test-python test-js test-e2e bench-quick ## Run every check and test.
	@echo "all tests passed"

lint: lint-rust lint-python ## Formatting, clippy, ruff, mypy and stub checks.

lint-rust:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

lint-python:
	$(VENV)/bin/ruff check py-binding/python python-tests bench
	$(VENV)/bin/ruff format --check py-binding/python python-tests bench
	$(VENV)/bin/mypy --strict py-binding/python/leasekit python-tests bench
	$(VENV)/bin/python -m mypy.stubtest leasekit._native

test-rust: ## Rust unit, conformance, property and store tests.
	cargo test --workspace --all-features

test-python: ## Python tests against the built extension, on SQLite and a throwaway PostgreSQL.
	scripts/postgres.sh run $(VENV)/bin/python -m pytest python-tests

.PHONY: postgres postgres-stop

postgres: ## Start the test PostgreSQL server; export LEASEKIT_TEST_POSTGRES_URL=<printed URL>.
	@scripts/postgres.sh start

postgres-stop: ## Stop the test PostgreSQL server and delete its data.
	@scripts/postgres.sh stop

wasm: ## Build the wasm module (wasm-binding/pkg-*) and the demo page `serve` shows at /.
	@scripts/build-wasm.sh

test-js: wasm ## Node tests and the TypeScript checks against the freshly built wasm module.
	@[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
	node --test wasm-binding/tests/
	npx tsc --noEmit -p wasm-binding
	npx tsc --noEmit -p wasm-binding/web

test-e2e: develop wasm ## The demo page, worker and service end to end in headless Chromium.
	node --test wasm-binding/e2e/

bench: develop wasm ## All benchmarks against their baselines (minutes); writes BENCHMARKS.md.
	$(PY) bench/run.py --full

bench-quick: develop wasm ## Smoke run of the benchmarks (about a minute); report to a temp file.
	$(PY) bench/run.py --quick
