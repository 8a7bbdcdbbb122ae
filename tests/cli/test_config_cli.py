"""corral config show: the server's settings with their origins, asked over HTTP; the
local view of this machine's configuration (--local) needs no server and no database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.config import FLEET_POLICY, Settings
from corral.persistence import Store

from .conftest import Cli, assert_fails, free_port, running_server

SECRET = "tok-9f2c41d0aa"


@pytest.fixture
def pack_cli(sqlite_store: Store, tmp_path: Path) -> Iterator[Cli]:
    """A server configured with a strategy and a static token of its own."""
    settings = Settings(data_dir=str(tmp_path / "server"), strategy="pack",
                        api_tokens=f"{SECRET}=ops:ops:admin")
    with running_server(sqlite_store, settings) as url:
        yield Cli(None, url)  # no --database-url: the command has nothing to open


def _rows(result_stdout: str) -> dict[str, dict[str, object]]:
    return {r["option"]: r for r in json.loads(result_stdout)}


def test_config_show_is_the_servers(pack_cli: Cli) -> None:
    rows = _rows(pack_cli.ok("config", "show", "-f", "json").stdout)
    assert rows["strategy"] == {"option": "strategy", "value": "pack",
                                "origin": "the settings passed to create_app"}
    assert rows["max_attempts"]["origin"] == "built-in default"
    assert rows["api_tokens"]["value"] == "<hidden>"
    table = pack_cli.ok("config", "show")
    assert "option" in table.stdout and "origin" in table.stdout and SECRET not in table.stdout


def test_config_show_picks_options(pack_cli: Cli) -> None:
    picked = pack_cli.ok("config", "show", "strategy", "port", "-f", "value", "-c", "value")
    assert picked.stdout.split() == ["8778", "pack"]  # in config sample's order
    fleet = _rows(pack_cli.ok("config", "show", "--fleet-policy", "-f", "json").stdout)
    assert set(fleet) == set(FLEET_POLICY)
    assert_fails(pack_cli("config", "show", "no_such_option"), 1, "unknown option",
                 "no_such_option")


def test_config_show_needs_the_admin(pack_cli: Cli) -> None:
    reader = Cli(None, pack_cli.endpoint, token="alice:p1", env={})
    result = reader("config", "show")
    assert_fails(result, 1, "Policy does not allow")
    unreachable = Cli(None, f"http://127.0.0.1:{free_port()}")
    assert_fails(unreachable("config", "show"), 4, "cannot reach corral")


def test_config_show_local_reads_this_machine_only(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "corral.ini"
    config.write_text("[scheduler]\nstrategy = pack\n[database]\n"
                      "database_url = postgresql+psycopg://me:pw-31337@db.example/corral\n")
    monkeypatch.setenv("CORRAL_HOST_DOWN_AFTER_S", "90")
    # No server listens at CORRAL_URL and the database is unreachable: neither is needed.
    cli = Cli(None, f"http://127.0.0.1:{free_port()}")
    result = cli.ok("--config-file", str(config), "config", "show", "--local", "-f", "json")
    rows = _rows(result.stdout)
    assert rows["strategy"]["origin"] == f"{config} [scheduler] strategy"
    assert rows["host_down_after_s"] == {"option": "host_down_after_s", "value": 90,
                                         "origin": "CORRAL_HOST_DOWN_AFTER_S"}
    assert rows["database_url"]["value"] == "postgresql+psycopg://me:***@db.example/corral"
    assert "pw-31337" not in result.output
    assert rows["port"]["origin"] == "built-in default"
    assert_fails(cli("config", "show", "--local", "nope"), 2, "unknown option 'nope'")
