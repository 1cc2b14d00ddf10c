# kabuflow: the two commands a new machine needs are `make demo` and `make test`.
# Everything installs from uv.lock into .venv; uv itself is bootstrapped into .tools.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_USER ?= postgres
TEST_DATABASES := kabuflow_test kabuflow_test_airflow

export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help venv postgres test-databases test lint clean

help:
	@echo "make test   - install from uv.lock, make sure PostgreSQL runs, run every test"
	@echo "make lint   - ruff check and format check"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# `uv sync --locked` installs exactly what uv.lock says and fails if the lock is stale.
venv: $(UV)
	$(UV) sync --locked --quiet

postgres:
	@scripts/ensure_postgres.sh "$(PG_HOST)" "$(PG_PORT)" "$(PG_USER)"

test-databases: postgres
	@for db in $(TEST_DATABASES); do \
	  scripts/create_database.sh "$(PG_HOST)" "$(PG_PORT)" "$(PG_USER)" "$$db"; \
	done

test: venv test-databases
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
