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

.PHONY: help venv postgres test-databases test lint clean demo down

help:
	@echo "make demo   - start everything and run a bulk fetch of the sample's Tokyo shares"
	@echo "              (YAHOO=live: from the real Yahoo Finance; DEMO_ARGS=--plain)"
	@echo "make down   - stop every process the demo started"
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

# The demo (kabuflow.demo): app database, stock master, replay server, Airflow, API,
# then a bulk fetch through the API. State, logs and secrets go to var/.
demo: venv postgres
	$(if $(filter live,$(YAHOO)),KABUFLOW_DEMO_LIVE=1 )$(VENV)/bin/kabuflow demo $(DEMO_ARGS)

# Safe when nothing runs; also stops an API that `make api-up` started.
down: api-down
	@if [ -x $(VENV)/bin/kabuflow ]; then $(VENV)/bin/kabuflow demo down; \
	 else echo "nothing to stop (no $(VENV))"; fi

test: venv test-databases
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache

# --- REST API (api/) under gunicorn -------------------------------------------------
# `make api-up` serves api.wsgi:app on $(API_BIND) in the background. Airflow's client
# settings come from var/airflow/client.env when `make airflow-up` wrote it; a key is
# generated into var/api/api.key unless KABUFLOW_API_KEYS is set.
API_BIND ?= 127.0.0.1:5000
API_DIR := var/api
API_PID := $(API_DIR)/gunicorn.pid

.PHONY: api-up api-down bench-status

api-up: venv
	@mkdir -p $(API_DIR)
	@[ -s $(API_DIR)/api.key ] || (umask 077; \
	  $(VENV)/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" \
	  > $(API_DIR)/api.key)
	@set -a; [ ! -f var/airflow/client.env ] || . var/airflow/client.env; set +a; \
	 KABUFLOW_API_KEYS="$${KABUFLOW_API_KEYS:-$$(cat $(API_DIR)/api.key)}" \
	 KABUFLOW_API_BIND="$(API_BIND)" \
	 $(VENV)/bin/gunicorn --config api/gunicorn_conf.py --chdir "$(CURDIR)" \
	   --daemon --pid $(API_PID) --access-logfile $(API_DIR)/access.log \
	   --error-logfile $(API_DIR)/error.log api.wsgi:app
	@for i in $$(seq 50); do \
	  curl -s -o /dev/null "http://$(API_BIND)/api/health" && break; sleep 0.2; \
	done; curl -s -o /dev/null "http://$(API_BIND)/api/health" || \
	  { tail -n 3 $(API_DIR)/error.log; echo "the API did not start: see $(API_DIR)/error.log"; exit 1; }
	@echo "API on http://$(API_BIND) (key: $(API_DIR)/api.key, header X-API-KEY)"

api-down:
	@pid=$$(cat $(API_PID) 2>/dev/null); \
	if [ -n "$$pid" ] && kill "$$pid" 2>/dev/null; then \
	  while kill -0 "$$pid" 2>/dev/null; do sleep 0.2; done; echo "API of make api-up stopped"; \
	else echo "no API of make api-up to stop (the demo's API stops with the demo)"; fi

# Load test of the status endpoint with wrk (a Debian package, installed if missing).
bench-status: venv postgres
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(VENV)/bin/python benchmarks/bench_status.py $(BENCH_ARGS)

# The local Airflow stack: api-server, scheduler and dag-processor (LocalExecutor) over
# dags/, settings in deploy/airflow.env, state, logs and secrets in var/airflow.
# Override with KABUFLOW_AIRFLOW_PORT, KABUFLOW_AIRFLOW_DATABASE_URL, ... (kabuflow.stack).
.PHONY: airflow-up airflow-down airflow-status

airflow-up: venv postgres
	$(VENV)/bin/python -m kabuflow.stack up

airflow-down:
	$(VENV)/bin/python -m kabuflow.stack down

airflow-status:
	$(VENV)/bin/python -m kabuflow.stack status
