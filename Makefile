# Both commands bootstrap themselves from a machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: dev test install migrate bench clean

# The venv is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

## make dev: migrate, then run Temporal dev server + worker + API + SMTP catcher (Ctrl-C stops all)
dev: install
	$(BIN)/sojourn dev

## make test: the test suite, against a real Temporal dev server, SMTP, push receiver, SQLite and PostgreSQL
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/sojourn migrate

bench: install
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.journey_memory
	$(BIN)/python -m bench.worker_cost
	$(BIN)/python -m bench.accept_cost

clean:
	rm -rf $(VENV) var .pytest_cache
