"""noauth2 (any caller may claim any identity) stays on loopback unless told otherwise,
and ``corral serve`` says loudly that it is on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corral.cli.serving import is_loopback, noauth2_refusal
from corral.config import load_settings
from corral.persistence import Store

from .conftest import ServeFactory, clean_env, corral_command, store_url

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "corral.example.com"])
def test_serve_refuses_noauth2_beyond_loopback(store: Store, tmp_path: Path, host: str) -> None:
    result = subprocess.run(
        corral_command("--database-url", store_url(store), "serve", "--host", host,
                       "--port", "1"),
        capture_output=True, text=True, timeout=60, env=clean_env(tmp_path / "data"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "noauth2" in result.stderr and "not a loopback address" in result.stderr
    assert "--allow-noauth2-on-network" in result.stderr


def test_noauth2_on_the_network_only_when_told() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        assert noauth2_refusal(load_settings(host=host)) is None
    assert noauth2_refusal(load_settings(host="0.0.0.0")) is not None
    assert noauth2_refusal(load_settings(host="0.0.0.0", allow_noauth2_on_network=True)) is None
    assert noauth2_refusal(load_settings(host="0.0.0.0", auth_strategy="tokens")) is None


def test_serve_warns_loudly_that_noauth2_is_on(store: Store, serve: ServeFactory) -> None:
    server = serve(store)
    log = server.log()
    assert "WARNING: auth_strategy = noauth2: any caller may claim any identity" in log
    assert "noauth2_enabled" in log  # the server process's own log event
    quiet = serve(store, env={"CORRAL_AUTH_STRATEGY": "tokens",
                              "CORRAL_API_TOKENS": "s3cret=admin:admin:admin"})
    assert "noauth2" not in quiet.log()
