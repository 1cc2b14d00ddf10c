#!/usr/bin/env bash
# docker compose's one-shot init: app database, both migrations, passwords file, pool,
# and the stock master from the bundled listed-issues list (KABUFLOW_LISTED_ISSUES_URL
# or the weekly stock_master_refresh DAG keep it current afterwards).
set -euo pipefail

psql -h postgres -U postgres -d postgres -v ON_ERROR_STOP=1 -At \
  -c "SELECT 1 FROM pg_database WHERE datname = 'kabuflow'" | grep -q 1 \
  || createdb -h postgres -U postgres kabuflow

airflow db migrate
kabuflow db upgrade

secrets_dir=$(dirname "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
mkdir -p "$secrets_dir"
python - <<'PY'
import json
import os

passwords = {
    "admin": os.environ["AIRFLOW_ADMIN_PASSWORD"],
    "kabuflow": os.environ["AIRFLOW_API_PASSWORD"],
}
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w", encoding="utf-8") as handle:
    json.dump(passwords, handle)
os.chmod(path, 0o640)
PY
chown -R 50000:0 "$secrets_dir" /opt/airflow/logs

airflow pools set yahoo "${KABUFLOW_YAHOO_POOL_SLOTS:-8}" "concurrent Yahoo Finance requests"
kabuflow stock-master load
