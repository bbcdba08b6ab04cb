PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-e2e-s3 lint schema bench clean chromium graphiql-assets lock

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Dependencies come from the hash-locked requirements-dev.lock; the project itself after them.
$(INSTALLED): pyproject.toml requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

LOCK_OPTIONS := --quiet --no-header --generate-hashes --no-emit-index-url --no-emit-find-links \
	--strip-extras --allow-unsafe

# Re-resolves both lock files from pyproject.toml (after changing a dependency there). The
# runtime lock is constrained by the development one, so both pin a package alike even when
# only a development tool limits it (moto's botocore: python-dateutil<3).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra=dev --extra=embedded --output-file=requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) --constraint=requirements-dev.lock --output-file=requirements.lock pyproject.toml

run: install
	$(BIN)/sselfie serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-logo

CONTRACT_CHECK := ../shared/tools/check_contract.py

# The client suites (tests/clients): Node 20+ with the locked packages, and Chromium.
CLIENTS := tests/clients
CLIENTS_INSTALLED := $(CLIENTS)/node_modules/.installed

$(CLIENTS_INSTALLED): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
		2>/dev/null || { echo "make test needs Node.js 20 or newer (node and npm on PATH)" >&2; exit 1; }
	cd $(CLIENTS) && npm ci --no-audit --no-fund
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y --no-install-recommends chromium \
			|| { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
		else \
			echo "make test needs Chromium on PATH as \`chromium\` (Debian/Ubuntu: sudo apt-get install chromium)" >&2; \
			exit 1; \
		fi; \
	}

test: lint $(CLIENTS_INSTALLED) chromium
	@if [ -f $(CONTRACT_CHECK) ]; then $(BIN)/python $(CONTRACT_CHECK) schema.graphql; fi
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-e2e-s3

# The end-to-end suite again, every server keeping its images in moto's S3 (STORAGE_URL).
test-e2e-s3: install $(CLIENTS_INSTALLED) chromium
	E2E_STORAGE=s3 $(BIN)/pytest tests/e2e

schema: install
	$(BIN)/sselfie schema --output schema.graphql

graphiql-assets: install
	$(BIN)/python -m server.graphiql.build_assets

bench: install
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.generations
	$(BIN)/python -m bench.uploads
	$(BIN)/python -m bench.renditions

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
