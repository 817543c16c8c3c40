# One-Day Setup (一日办). `make run` and `make test` work from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: system venv run up temporal worker gateway sandbox test lint bench clean

$(STAMP): pyproject.toml scripts/setup-system.sh
	@bash scripts/setup-system.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## the Debian packages the project needs (installs them as root; otherwise says what is missing)
system:
	@bash scripts/setup-system.sh

## the whole embedded stack, the samples submitted and followed to their end
run: venv
	$(BIN)/python -m devstack run

## the whole embedded stack, nothing submitted
up: venv
	$(BIN)/python -m devstack up

## the Temporal dev server alone (state in $$ODS_DATA_DIR/temporal.db)
temporal: venv
	$(BIN)/python -m devstack temporal

worker: venv
	$(BIN)/python worker.py

gateway: venv
	$(BIN)/python -m gateway

sandbox: venv
	$(BIN)/python -m partner_sandbox

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## the suite in TEST_WORKERS processes (pytest-xdist; a module's tests stay in one): most tests
## wait on servers, so two share two cores well; TEST_WORKERS=0 runs it in this process alone
TEST_WORKERS ?= 2
test: system lint
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

## the benchmark on a stack of its own (var/bench): prints a table, writes bench/results.json;
## PART=throughput|workers|outage|scale|timers|intake (comma-separated; default all); counts: BENCH_* (bench/config.py)
bench: venv
	$(BIN)/python -m bench $(if $(PART),--part $(PART))

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
