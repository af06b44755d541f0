# One entry point per job. Everything installs into .venv from nothing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench

test: $(STAMP) lint
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) .pytest_cache

bench: $(STAMP)
	$(BIN)/python -m bench
