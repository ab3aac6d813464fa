# Everyday commands. `make demo` and `make test` set up everything they need themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tests on two workers, a test file each (tests/conftest.py orders them); PARALLEL= runs them in one process.
PARALLEL ?= --numprocesses 2 --dist loadfile --no-loadscope-reorder
UV_VERSION := 0.13.9
export LOYALTY_DATA_DIR ?= $(CURDIR)/data

.PHONY: install demo test test-fast lint format dev bench clean lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)

# Installs the locked dependencies, the package itself, and prepares the dbt manifest.
install: $(VENV)/.installed
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	cd dbt_project && ../$(BIN)/dbt parse --quiet
	@touch $@

## The main job: generate the demo sources, materialise every partition through Dagster, publish.
demo: install
	$(BIN)/loyalty-pipeline demo

## The test suite, with the services it needs (PostgreSQL).
test: install
	LOYALTY_TEST_POSTGRES_URL=$$(bash scripts/start-postgres.sh) \
	LOYALTY_TEST_CHROMIUM=$$(bash scripts/install-chromium.sh) \
	$(BIN)/pytest $(PARALLEL)

test-fast: install
	$(BIN)/pytest $(PARALLEL) -m "not postgres and not browser and not slow"

lint: install
	$(BIN)/ruff check loyalty_pipeline tests
	$(BIN)/ruff format --check loyalty_pipeline tests

format: install
	$(BIN)/ruff format loyalty_pipeline tests
	$(BIN)/ruff check --fix loyalty_pipeline tests

## Benchmarks at a data size, SIZE=S (the demo, default), M or L: writes bench/results/$(SIZE).json and
## prints a Markdown table (docs/performance.md). BENCH_WORK=DIR keeps the generated data and logs there.
SIZE ?= S
bench: install
	$(BIN)/python bench/pipeline.py --size $(SIZE) $(if $(BENCH_WORK),--work $(BENCH_WORK))

## The Dagster UI on http://127.0.0.1:3000, showing the runs of `make demo`. It listens on
## localhost only; LOYALTY_UI_HOST (e.g. 0.0.0.0) and LOYALTY_UI_PORT change that deliberately.
LOYALTY_UI_HOST ?= 127.0.0.1
LOYALTY_UI_PORT ?= 3000
dev: install
	mkdir -p $(LOYALTY_DATA_DIR)/dagster_home
	cp config/dagster.yaml $(LOYALTY_DATA_DIR)/dagster_home/dagster.yaml
	DAGSTER_HOME=$(LOYALTY_DATA_DIR)/dagster_home $(BIN)/dagster dev -w workspace.yaml \
		-h $(LOYALTY_UI_HOST) -p $(LOYALTY_UI_PORT)

## Regenerate requirements.lock from pyproject.toml.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

clean:
	rm -rf data dbt_project/target dbt_project/logs
