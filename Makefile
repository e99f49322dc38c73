# Both commands bootstrap themselves from a machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: dev test lint install migrate bench clean

# The venv is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The real Segment browser SDK the browser tests load (from the npm registry, pinned
# by package-lock.json); Chromium itself comes from the system (see .ci/run).
BROWSER := tests/browser
$(BROWSER)/node_modules/.installed: $(BROWSER)/package-lock.json
	npm ci --prefix $(BROWSER) --no-audit --no-fund --loglevel=error
	touch $@

## make dev: migrate, then run Temporal dev server + worker + API + SMTP catcher + push inbox + demo shop (Ctrl-C stops all)
# The demo shop tracks with Segment's analytics.js when npm can install it, else with
# a few lines of its own that speak the same wire format.
dev: install
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(BROWSER)/node_modules/.installed; \
	else echo "npm not found: the demo shop tracks without Segment's analytics.js"; fi
	$(BIN)/sojourn dev

## make lint: the house's layers (import-linter contracts in pyproject.toml), ruff and mypy
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

## make test: the lint, then the test suite, against a real Temporal dev server, SMTP, push receiver, SQLite and PostgreSQL
test: lint $(BROWSER)/node_modules/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/sojourn migrate

bench: install
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.journey_memory
	$(BIN)/python -m bench.worker_cost
	$(BIN)/python -m bench.accept_cost
	$(BIN)/python -m bench.recommendations
	$(BIN)/python -m bench.likelihood
	$(BIN)/python -m bench.actions
	$(BIN)/python -m bench.sending
	$(BIN)/python -m bench.worker_memory

clean:
	rm -rf $(VENV) var .pytest_cache $(BROWSER)/node_modules
