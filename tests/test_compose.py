"""docker-compose.yaml: parses, and every service can start and report its health.

No Docker engine runs here, so the file is checked as data: each service has a command,
a health check, the environment kabuflow needs, and no secret written in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
KABUFLOW_SERVICES = [
    name for name, spec in SERVICES.items() if spec.get("image") == "kabuflow:latest"
]
AIRFLOW_NEEDS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__MAX_MAP_LENGTH",
    "KABUFLOW_DATABASE_URL",
    "AIRFLOW_CONN_KABUFLOW_DB",
)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_command_and_a_health_check(name):
    spec = SERVICES[name]

    assert spec.get("command"), f"{name} has no command"
    assert spec.get("healthcheck", {}).get("test"), f"{name} has no health check"


@pytest.mark.parametrize("name", KABUFLOW_SERVICES)
def test_kabuflow_services_get_the_environment_they_need(name):
    environment = SERVICES[name]["environment"]

    missing = [key for key in AIRFLOW_NEEDS if not environment.get(key)]
    assert not missing, f"{name} lacks {missing}"


def test_the_official_airflow_3_layout_is_followed():
    expected = {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "kabuflow-api",
    }
    assert expected <= set(SERVICES)
    for name in expected - {"postgres", "airflow-init"}:
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["kabuflow-api"]["depends_on"]["airflow-apiserver"]["condition"] == (
        "service_healthy"
    )


def test_profiles_add_the_replay_server_and_celery_workers():
    assert SERVICES["replay"]["profiles"] == ["offline"]
    assert SERVICES["redis"]["profiles"] == ["celery"]
    assert SERVICES["airflow-worker"]["profiles"] == ["celery"]
    assert SERVICES["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == (
        "CeleryExecutor"
    )


def test_no_secret_is_written_in_the_file():
    text = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")

    # Every password, key and secret is an ${VARIABLE} reference to .env.
    for line in text.splitlines():
        match = re.match(r"\s*\w*(PASSWORD|SECRET|API_KEYS)\s*:\s*(\S+)", line)
        if match:
            assert match.group(2).startswith("${"), line
    for url in re.findall(r"postgres(?:ql)?(?:\+psycopg)?://[^\s\"]+", text):
        assert "${POSTGRES_PASSWORD" in url, url


def test_env_example_names_every_variable_the_file_requires():
    text = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")

    required = set(re.findall(r"\$\{(\w+):\?", text))
    defined = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert required <= defined, required - defined


def _commands() -> list[tuple[str, str]]:
    return [
        (name, " ".join(map(str, spec["command"])))
        for name, spec in SERVICES.items()
        if isinstance(spec.get("command"), list)
    ]


@pytest.mark.parametrize("name, command", _commands())
def test_files_a_command_names_exist_in_the_image(name, command):
    # The Dockerfile copies the repository to /opt/kabuflow.
    for path in re.findall(r"/opt/kabuflow/(\S+)", command):
        assert (ROOT / path).is_file(), f"{name} runs {command!r}: no {path}"


def test_the_api_listens_beyond_the_containers_loopback():
    api = SERVICES["kabuflow-api"]
    bind = api["environment"]["KABUFLOW_API_BIND"]

    assert bind.startswith("0.0.0.0:")
    assert [f"{bind.split(':')[1]}:{bind.split(':')[1]}"] == api["ports"]


def test_the_image_holds_what_the_celery_workers_run():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")

    assert dockerfile.count("--extra celery") == 2
    extra = re.search(r"^celery = \[(.*?)\]", pyproject, re.MULTILINE | re.DOTALL)
    assert extra and '"apache-airflow-providers-celery"' in extra.group(1)
    assert 'name = "apache-airflow-providers-celery"' in lock
    assert 'name = "redis"' in lock
