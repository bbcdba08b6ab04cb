PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint schema bench clean

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/sselfie serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

CONTRACT_CHECK := ../shared/tools/check_contract.py

test: lint
	@if [ -f $(CONTRACT_CHECK) ]; then $(BIN)/python $(CONTRACT_CHECK) schema.graphql; fi
	$(BIN)/pytest

schema: install
	$(BIN)/sselfie schema --output schema.graphql

bench: install
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.generations

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
