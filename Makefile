# The two commands of the README: `make demo` builds the warehouse on generated data,
# `make test` runs the tests. Both create or reuse the virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= 1
SEED ?= 42

.PHONY: setup setup-spark demo test test-fast bench docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# The tests also build on the local Spark target (PySpark builds from source in about a minute).
$(VENV)/.installed-spark: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,spark]"
	touch $@

setup: $(VENV)/.installed

setup-spark: $(VENV)/.installed-spark

demo: setup
	$(BIN)/globalshop demo --scale $(SCALE) --seed $(SEED)

test: setup-spark
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow and not spark"

# Time and memory of every stage at 1M, 10M and 42M events (median of 3 runs; about 2 hours on
# 2 cores), written into BENCHMARKS.md. BENCH_ARGS="--events 1 --repeats 1" for a quick look.
bench: setup
	$(BIN)/globalshop bench $(BENCH_ARGS)

docs: setup
	DBT_PROFILES_DIR=. $(BIN)/dbt docs generate && DBT_PROFILES_DIR=. $(BIN)/dbt docs serve

clean:
	rm -rf target logs warehouse/*.duckdb
