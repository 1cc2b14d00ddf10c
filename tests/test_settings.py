"""Settings: documented defaults, every variable parsed, every bad value named."""

from __future__ import annotations

import pytest

from kabuflow.settings import Settings, SettingsError, get_settings

KEY_A = "a" * 16 + "-first-secret"
KEY_B = "b" * 20 + "-second-secret"


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})

    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/kabuflow"
    assert settings.enable_phase2 is True
    assert settings.api_keys == ()
    assert settings.api_allow_no_keys is False
    assert settings.max_symbols == 5000
    assert settings.airflow_api_url == "http://127.0.0.1:8080"
    assert settings.airflow_api_user == "kabuflow"
    assert settings.airflow_api_password is None
    assert settings.yahoo_url is None
    assert settings.yahoo_timeout == 30.0


def test_blank_values_mean_the_default():
    blank = {
        name: "  "
        for name in (
            "KABUFLOW_DATABASE_URL",
            "ENABLE_PHASE2",
            "KABUFLOW_API_KEYS",
            "KABUFLOW_API_ALLOW_NO_KEYS",
            "KABUFLOW_MAX_SYMBOLS",
            "AIRFLOW_API_URL",
            "AIRFLOW_API_USER",
            "KABUFLOW_YAHOO_URL",
            "KABUFLOW_YAHOO_TIMEOUT",
        )
    }

    assert Settings.from_env(blank) == Settings.from_env({})


def test_every_variable_is_parsed():
    env = {
        "KABUFLOW_DATABASE_URL": " postgres://app:pw@db.internal:6543/prices ",
        "ENABLE_PHASE2": "off",
        "KABUFLOW_API_KEYS": f" {KEY_A} ,, {KEY_B} ",
        "KABUFLOW_API_ALLOW_NO_KEYS": "YES",
        "KABUFLOW_MAX_SYMBOLS": "120",
        "AIRFLOW_API_URL": "https://airflow.internal:8443/",
        "AIRFLOW_API_USER": " svc ",
        "AIRFLOW_API_PASSWORD": "s3cret-password",
        "KABUFLOW_YAHOO_URL": "http://127.0.0.1:8765/",
        "KABUFLOW_YAHOO_TIMEOUT": "2.5",
    }

    settings = Settings.from_env(env)

    assert settings.database_url == "postgres://app:pw@db.internal:6543/prices"
    assert settings.enable_phase2 is False
    assert settings.api_keys == (KEY_A, KEY_B)
    assert settings.api_allow_no_keys is True
    assert settings.max_symbols == 120
    assert settings.airflow_api_url == "https://airflow.internal:8443"
    assert settings.airflow_api_user == "svc"
    assert settings.airflow_api_password == "s3cret-password"
    assert settings.yahoo_url == "http://127.0.0.1:8765"
    assert settings.yahoo_timeout == 2.5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("On", True), ("0", False), ("no", False)],
)
def test_boolean_spellings(raw, expected):
    assert Settings.from_env({"ENABLE_PHASE2": raw}).enable_phase2 is expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KABUFLOW_DATABASE_URL", "mysql://root@localhost/kabuflow"),
        ("KABUFLOW_DATABASE_URL", "just-a-name"),
        ("ENABLE_PHASE2", "maybe"),
        ("KABUFLOW_API_ALLOW_NO_KEYS", "2"),
        ("KABUFLOW_API_KEYS", "too-short"),
        ("KABUFLOW_API_KEYS", f"{KEY_A},short"),
        ("KABUFLOW_MAX_SYMBOLS", "0"),
        ("KABUFLOW_MAX_SYMBOLS", "-3"),
        ("KABUFLOW_MAX_SYMBOLS", "1e3"),
        ("KABUFLOW_MAX_SYMBOLS", "many"),
        ("AIRFLOW_API_URL", "ftp://airflow"),
        ("AIRFLOW_API_URL", "http://"),
        ("KABUFLOW_YAHOO_URL", "127.0.0.1:8765"),
        ("KABUFLOW_YAHOO_TIMEOUT", "0"),
        ("KABUFLOW_YAHOO_TIMEOUT", "-1"),
        ("KABUFLOW_YAHOO_TIMEOUT", "soon"),
        ("KABUFLOW_YAHOO_TIMEOUT", "nan"),
        ("KABUFLOW_YAHOO_TIMEOUT", "inf"),
    ],
)
def test_an_invalid_value_names_its_variable(variable, value):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})

    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_an_invalid_key_is_not_echoed_in_the_error():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KABUFLOW_API_KEYS": f"{KEY_A},short-secret"})

    assert "short-secret" not in str(caught.value)
    assert KEY_A not in str(caught.value)


def test_secrets_never_appear_in_repr():
    settings = Settings.from_env(
        {"KABUFLOW_API_KEYS": f"{KEY_A},{KEY_B}", "AIRFLOW_API_PASSWORD": "pw-0123456"}
    )

    text = repr(settings)

    assert settings.api_keys == (KEY_A, KEY_B)
    assert KEY_A not in text and KEY_B not in text
    assert "pw-0123456" not in text


def test_get_settings_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("KABUFLOW_MAX_SYMBOLS", "77")
    assert get_settings().max_symbols == 77

    monkeypatch.setenv("KABUFLOW_MAX_SYMBOLS", "none")
    with pytest.raises(SettingsError, match="KABUFLOW_MAX_SYMBOLS"):
        get_settings()


def test_a_password_in_the_database_url_never_shows_in_repr():
    settings = Settings.from_env(
        {
            "KABUFLOW_DATABASE_URL": "postgresql://app:s3cret-pw@db.internal:5432/kabuflow"
        }
    )

    assert "s3cret-pw" not in repr(settings)
    assert "postgresql://app:***@db.internal:5432/kabuflow" in repr(settings)
    assert settings.database_url.endswith("app:s3cret-pw@db.internal:5432/kabuflow")


@pytest.mark.parametrize("raw", ["soon", "0", "-3", "601", "nan"])
def test_a_retry_delay_kabuflow_cannot_use_is_named(monkeypatch, raw):
    from kabuflow.fetch_tasks import RETRY_DELAY_VARIABLE, retry_delay

    monkeypatch.setenv(RETRY_DELAY_VARIABLE, raw)

    with pytest.raises(SettingsError) as refused:
        retry_delay()
    assert refused.value.variable == "KABUFLOW_RETRY_DELAY_SECONDS"


def test_the_retry_delay_defaults_to_30_seconds_and_reads_fractions(monkeypatch):
    from kabuflow.fetch_tasks import RETRY_DELAY_VARIABLE, retry_delay

    monkeypatch.delenv(RETRY_DELAY_VARIABLE, raising=False)
    assert retry_delay().total_seconds() == 30
    monkeypatch.setenv(RETRY_DELAY_VARIABLE, " 1.5 ")
    assert retry_delay().total_seconds() == 1.5
