# One image for every kabuflow service: Airflow's processes, the API and the replay server.
# The environment comes from uv.lock, exactly as `make test` builds it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==0.13.9" \
    && useradd --create-home --uid 50000 kabuflow

WORKDIR /opt/kabuflow
COPY pyproject.toml uv.lock README.md ./
COPY plugins ./plugins
RUN uv sync --locked --no-dev --no-editable --extra celery

COPY . .
# airflow_local_settings.py warms the task imports in the scheduler (kabuflow.stack.warm).
RUN uv sync --locked --no-dev --extra celery \
    && mkdir -p "$AIRFLOW_HOME/config" \
    && ln -s /opt/kabuflow/deploy/airflow_local_settings.py "$AIRFLOW_HOME/config/" \
    && chown -R kabuflow "$AIRFLOW_HOME" /opt/kabuflow

USER kabuflow
