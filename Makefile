# segmart — `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
export SEGMART_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
SCALE ?= 0.1
SEED ?= 42
PYTEST_ARGS ?=

.PHONY: help venv demo dev test test-fast test-slow lint fix bench lock clean docs

help:
	@echo "make demo   generate demo data, run the whole pipeline, print where the marts are"
	@echo "make test   run the test suite: make test-fast, then the slow suites"
	@echo "make test-fast  the blocking tier: ruff, unit and dbt tests, one end-to-end run"
	@echo "make dev    Dagster UI on http://127.0.0.1:3000"
	@echo "make lint | fix | bench | lock | clean"

# --compile-bytecode: the .pyc files are written once here. Where PYTHONDONTWRITEBYTECODE is
# set (as on our machines) Python never writes them, so every process (each dbt call, each
# Dagster run) compiled ~2,400 modules from source again: about half of its start-up.
$(STAMP): requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m generator --scale $(SCALE) --seed $(SEED)
	$(BIN)/segmart run

dev: $(STAMP)
	$(BIN)/python -m pipelines.automation.instance $(DAGSTER_HOME)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# Two tiers. `make test-fast` is the blocking one (first in CI, under 10 minutes on 2 cores):
# ruff, then the tests tests/conftest.py marks `fast` (every test not marked slow, the dbt
# builds on small inputs, one end-to-end run of the real job on real exports). `make test`
# runs it, then everything else: the slow end-to-end, fault, Spark and browser suites. Each
# tier is one pytest session; one that selects nothing (pytest's exit 5, e.g. with
# PYTEST_ARGS=tests/some_file.py) is not a failure.
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=30

test: test-fast
	$(PYTEST) -m "not fast" $(PYTEST_ARGS) || test $$? -eq 5

test-fast: lint
	$(PYTEST) -m fast $(PYTEST_ARGS) || test $$? -eq 5

test-slow: $(STAMP)
	$(PYTEST) -m "not fast" $(PYTEST_ARGS) || test $$? -eq 5

lint: $(STAMP)
	$(BIN)/ruff check pipelines generator tests benchmarks
	$(BIN)/ruff format --check pipelines generator tests benchmarks

fix: $(STAMP)
	$(BIN)/ruff check --fix pipelines generator tests benchmarks
	$(BIN)/ruff format pipelines generator tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8
	$(UV) pip compile requirements.in --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache
