"""Settings: defaults, the INI file, CORRAL_* environment variables, validation."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from corral.config import (
    OPTIONS,
    ConfigError,
    Settings,
    file_key,
    load_settings,
    sample_config,
)
from corral.domain.tokens import parse_api_tokens


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CORRAL_* variable of the caller's shell leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _ini(tmp_path: Path, text: str) -> str:
    path = tmp_path / "corral.conf"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults(tmp_path: Path) -> None:
    s = load_settings()
    assert s.port == 8778
    assert s.auth_strategy == "noauth2"
    assert s.enforce_new_defaults is True
    assert s.database_url == ""
    assert s.data_dir == str(tmp_path / "xdg" / "corral")
    assert s.effective_database_url == "sqlite:///" + str(tmp_path / "xdg" / "corral" /
                                                          "corral.sqlite")


def test_every_option_has_help_and_a_field() -> None:
    names = [opt.name for opt in OPTIONS]
    assert len(names) == len(set(names))
    assert set(names) == set(Settings.model_fields)
    assert all(opt.help.strip() for opt in OPTIONS)


def test_ini_file(tmp_path: Path) -> None:
    path = _ini(tmp_path, """
[DEFAULT]
data_dir = /srv/corral

[database]
database_url = postgresql+psycopg://u@h/db
auto_migrate = true
pool_size = 3

[api]
port = 9000
api_tokens = s3cret=nova:service:service

[placement]
enforce_new_defaults = false
""")
    s = load_settings(path)
    assert s.data_dir == "/srv/corral"
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"
    assert s.auto_migrate is True
    assert s.pool_size == 3
    assert s.port == 9000
    assert s.enforce_new_defaults is False
    assert s.tokens == {"s3cret": ("nova", "service", ("service",))}


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_CONFIG_FILE", _ini(tmp_path, "[api]\nport = 9001\n"))
    assert load_settings().port == 9001


def test_precedence_defaults_ini_env_overrides(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ini(tmp_path, "[api]\nport = 9000\nworkers = 4\nhost = 0.0.0.0\n")
    monkeypatch.setenv("CORRAL_PORT", "9100")
    monkeypatch.setenv("CORRAL_WORKERS", "8")
    s = load_settings(path, workers=2)
    assert s.host == "0.0.0.0"     # INI over default
    assert s.port == 9100          # environment over INI
    assert s.workers == 2          # explicit override over environment
    assert load_settings(path, workers=None).workers == 8  # None means "not given"


def test_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_ENFORCE_NEW_DEFAULTS", "false")
    monkeypatch.setenv("CORRAL_LOG_FORMAT", "json")
    s = load_settings()
    assert s.enforce_new_defaults is False
    assert s.log_format == "json"


def test_unknown_ini_option_is_reported_with_its_place(tmp_path: Path) -> None:
    path = _ini(tmp_path, "[api]\nprot = 9000\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert f"{path} [api] prot: unknown option" in str(info.value)


def test_every_bad_value_is_reported_with_its_origin(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ini(tmp_path, "[api]\nport = 70000\nauth_strategy = ldap\n")
    monkeypatch.setenv("CORRAL_WORKERS", "many")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert f"{path} [api] port" in message and "70000" in message
    assert f"{path} [api] auth_strategy" in message and "ldap" in message
    assert "CORRAL_WORKERS" in message and "many" in message


def test_override_errors_name_the_flag() -> None:
    with pytest.raises(ConfigError, match="--pool-size"):
        load_settings(pool_size=0)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "http://example", "corral.sqlite"])
def test_only_sqlite_and_postgresql_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="--database-url"):
        load_settings(database_url=url)
    with pytest.raises(ValueError, match="sqlite"):
        Settings(database_url=url)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.conf"):
        load_settings(str(tmp_path / "nope.conf"))


def test_unparseable_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(_ini(tmp_path, "port = 1\n"))


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError):
        Settings(prot=1)  # type: ignore[call-arg]


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError):
        s.port = 1


@pytest.mark.parametrize("value,expected", [
    ("", {}),
    ("a=u:p:r", {"a": ("u", "p", ("r",))}),
    (" a=u:p:r1+r2 , b=v:q: ", {"a": ("u", "p", ("r1", "r2")), "b": ("v", "q", ())}),
])
def test_api_tokens(value: str, expected: dict[str, tuple[str, str, tuple[str, ...]]]) -> None:
    assert parse_api_tokens(value) == expected


@pytest.mark.parametrize("value", ["a", "a=u:p", "=u:p:r", "a=:p:r", "a=u::r", "a=u:p:r:x"])
def test_bad_api_tokens(value: str) -> None:
    with pytest.raises(ValueError):
        parse_api_tokens(value)
    with pytest.raises(ConfigError, match="--api-tokens"):
        load_settings(api_tokens=value)


def test_sample_config_documents_every_option_and_loads(tmp_path: Path) -> None:
    text = sample_config()
    for opt in OPTIONS:
        assert f"#{file_key(opt)} = " in text
        assert f"CORRAL_{opt.name.upper()}" in text
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert load_settings(_ini(tmp_path, text)) == load_settings()
    uncommented = "\n".join(line[1:] if line.startswith("#") and " = " in line else line
                            for line in text.splitlines())
    assert load_settings(_ini(tmp_path, uncommented)).port == 8778
