# Two commands do all set-up: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
WORKERS ?= 2

.PHONY: run test lint bench clean

$(BIN)/pin-collector: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/pin-collector
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/pin-collector
	$(BIN)/pin-collector serve --bind $(BIND) --workers $(WORKERS)

test: $(VENV)/.test-deps
	bash .ci/system-deps
	$(BIN)/ruff check collector tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

bench: $(VENV)/.test-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
