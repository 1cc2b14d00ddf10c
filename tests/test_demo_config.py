"""The demo's configuration, request and symbol choice, without starting Airflow."""

from __future__ import annotations

import psycopg
import pytest

from kabuflow.cli import main
from kabuflow.demo import DemoConfig
from kabuflow.demo.report import showcase
from kabuflow.demo.request import choose_symbols, replayed_symbols, request_body
from kabuflow.replay import ReplayServer
from kabuflow.settings import SettingsError
from kabuflow.stack.config import REPO_ROOT
from kabuflow.stock_master import refresh_stock_master

BASE_ENV = {"KABUFLOW_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x"}


def test_defaults_keep_state_in_var_and_send_tasks_to_the_replay_server():
    config = DemoConfig.from_env(BASE_ENV)

    assert config.home == REPO_ROOT / "var"
    assert config.stack.home == REPO_ROOT / "var" / "airflow"
    assert config.api_key_file == REPO_ROOT / "var" / "api" / "api.key"
    assert config.replay_url == "http://127.0.0.1:8765"
    assert config.api_url == "http://127.0.0.1:5000"
    assert config.stack.extra_env == {"KABUFLOW_YAHOO_URL": "http://127.0.0.1:8765"}
    assert config.stack.parallelism == 4
    assert config.database_url == BASE_ENV["KABUFLOW_DATABASE_URL"]


def test_live_sends_tasks_to_the_real_yahoo_even_if_the_shell_says_otherwise():
    env = {**BASE_ENV, "KABUFLOW_DEMO_LIVE": "1", "KABUFLOW_YAHOO_URL": "http://x:1"}

    config = DemoConfig.from_env(env)

    # A blank value counts as unset in kabuflow.settings: the real Yahoo.
    assert config.stack.extra_env == {"KABUFLOW_YAHOO_URL": ""}
    assert request_body(config, ["7203.T"])["period"] == "2y"


def test_explicit_settings_win(tmp_path):
    env = {
        **BASE_ENV,
        "KABUFLOW_DEMO_HOME": str(tmp_path),
        "KABUFLOW_AIRFLOW_HOME": str(tmp_path / "elsewhere"),
        "KABUFLOW_AIRFLOW_PARALLELISM": "8",
        "KABUFLOW_API_BIND": "0.0.0.0:5999",
        "KABUFLOW_REPLAY_PORT": "9999",
    }

    config = DemoConfig.from_env(env)

    assert config.run_dir == tmp_path / "demo" / "run"
    assert config.stack.home == tmp_path / "elsewhere"
    assert config.stack.parallelism == 8
    assert config.api_url == "http://127.0.0.1:5999"
    assert config.stack.extra_env["KABUFLOW_YAHOO_URL"] == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KABUFLOW_REPLAY_PORT", "70000"),
        ("KABUFLOW_API_BIND", "localhost"),
        ("KABUFLOW_DEMO_LIVE", "maybe"),
        ("KABUFLOW_DEMO_SYMBOLS", "0"),
        ("KABUFLOW_DEMO_SYMBOLS_PER_TASK", "501"),
    ],
)
def test_a_bad_value_names_its_variable(name, value):
    with pytest.raises(SettingsError) as caught:
        DemoConfig.from_env({**BASE_ENV, name: value})

    assert caught.value.variable == name


def test_offline_request_covers_the_two_years_before_the_replay_clock():
    server = ReplayServer(now="2022-09-17T00:00:00Z")
    with server.running() as url:
        port = int(url.rsplit(":", 1)[1])
        config = DemoConfig.from_env({**BASE_ENV, "KABUFLOW_REPLAY_PORT": str(port)})

        body = request_body(config, ["7203.T", "6758.T"])

    assert body == {
        "symbols": ["7203.T", "6758.T"],
        "interval": "1d",
        "symbols_per_task": 10,
        "start": "2020-09-17",
        "end": "2022-09-17",
    }


def test_offline_symbols_are_active_shares_the_replay_server_holds(db):
    refresh_stock_master(database_url=db)
    config = DemoConfig.from_env({**BASE_ENV, "KABUFLOW_DATABASE_URL": db})

    symbols = choose_symbols(config)

    held = replayed_symbols()
    assert 200 <= len(symbols) <= config.symbols
    assert set(symbols) <= held
    assert symbols == sorted(symbols)
    assert "7203.T" in symbols
    with psycopg.connect(db) as conn:
        unsectored = conn.execute(
            "SELECT count(*) FROM stock_master"
            " WHERE symbol = ANY(%s) AND sector33_code IS NULL",
            [symbols],
        ).fetchone()[0]
    assert unsectored == 0  # ETFs and REITs are not in the universe


def test_showcase_puts_large_caps_first_then_the_request_order():
    assert showcase(["1301.T", "7203.T", "1332.T"]) == ["7203.T", "1301.T", "1332.T"]
    assert len(showcase([f"{code}.T" for code in range(1300, 1400)])) == 5


def test_down_is_safe_when_nothing_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KABUFLOW_DEMO_HOME", str(tmp_path))
    monkeypatch.delenv("KABUFLOW_AIRFLOW_HOME", raising=False)

    assert main(["demo", "down"]) == 0

    assert "demo stopped: 0 process(es)" in capsys.readouterr().out
