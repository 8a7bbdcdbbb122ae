"""The [keystone_authtoken] options: OpenStack's names in the file, keystone_* elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.config import ConfigError, load_settings, sample_config, setting_origins


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _ini(tmp_path: Path, text: str) -> str:
    path = tmp_path / "corral.conf"
    path.write_text(text, encoding="utf-8")
    return str(path)


FILE = """
[api]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = https://keystone.example:5000
auth_url = http://keystone.internal:5000/v3
username = corral
project_name = service
user_domain_name = Default
project_domain_name = Default
token_cache_time = 60
"""


def test_the_file_uses_openstack_names_and_the_environment_keystone_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_KEYSTONE_PASSWORD", "from-env")
    path = _ini(tmp_path, FILE)
    s = load_settings(path)
    assert s.auth_strategy == "keystone"
    assert s.keystone_auth_url == "http://keystone.internal:5000/v3"
    assert (s.keystone_username, s.keystone_password) == ("corral", "from-env")
    assert s.keystone_token_cache_time == 60
    assert s.keystone_public_uri == "https://keystone.example:5000"
    origins = setting_origins(path)
    assert origins["keystone_auth_url"] == f"{path} [keystone_authtoken] auth_url"
    assert origins["keystone_password"] == "CORRAL_KEYSTONE_PASSWORD"


def test_keystone_needs_a_url_and_credentials_and_never_echoes_a_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="needs \\[keystone_authtoken\\] auth_url"):
        load_settings(auth_strategy="keystone")
    with pytest.raises(ConfigError, match="username, password and project_name"):
        load_settings(_ini(tmp_path, FILE))  # no password
    monkeypatch.setenv("CORRAL_KEYSTONE_APPLICATION_CREDENTIAL_ID", "abc")
    with pytest.raises(ConfigError, match="application_credential_secret"):
        load_settings(_ini(tmp_path, FILE))
    monkeypatch.setenv("CORRAL_KEYSTONE_TOKEN_CACHE_TIME", "-1")
    monkeypatch.setenv("CORRAL_KEYSTONE_PASSWORD", "hunter2")
    with pytest.raises(ConfigError, match="CORRAL_KEYSTONE_TOKEN_CACHE_TIME") as err:
        load_settings(_ini(tmp_path, FILE))
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError, match="keystone-auth-url: Value error, must be an http"):
        load_settings(keystone_auth_url="keystone:5000")


def test_the_sample_puts_them_in_their_section_under_their_openstack_names() -> None:
    text = sample_config()
    section = text.split("[keystone_authtoken]", 1)[1]
    for name in ("www_authenticate_uri", "auth_url", "username", "password", "project_name",
                 "user_domain_name", "project_domain_name", "application_credential_id",
                 "application_credential_secret", "token_cache_time"):
        assert f"\n#{name} = " in section
        assert f"CORRAL_KEYSTONE_{name.upper()}" in section
