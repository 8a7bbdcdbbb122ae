"""corral policy list: the rules the server enforces, asked over HTTP (cloud admin); with
--local, what a policy file on this machine would make of them, with no server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.config import Settings
from corral.persistence import Store

from .conftest import Cli, assert_fails, free_port, running_server


@pytest.fixture
def policed(sqlite_store: Store, tmp_path: Path) -> Iterator[Cli]:
    """A server whose policy file overrides one rule."""
    path = tmp_path / "server-policy.yaml"
    path.write_text('"placement:usages": "role:admin"\n', encoding="utf-8")
    settings = Settings(data_dir=str(tmp_path / "server"), policy_file=str(path))
    with running_server(sqlite_store, settings) as url:
        yield Cli(None, url)  # no --database-url: the command has nothing to open


def test_policy_list_is_the_servers(policed: Cli, tmp_path: Path) -> None:
    shown = policed.ok("policy", "list", "--overridden", "-f", "value", "-c", "name",
                       "-c", "effective")
    assert shown.stdout.splitlines() == ["placement:usages role:admin"]
    every = policed.ok("policy", "list", "-f", "value", "-c", "name").stdout.split()
    assert "corral:policy:list" in every and "placement:resource_providers:list" in every
    # This machine's own file is not what the server enforces: --local reads it.
    mine = tmp_path / "mine.yaml"
    mine.write_text('"corral:projects:show": "role:admin"\n', encoding="utf-8")
    local = Cli(None, f"http://127.0.0.1:{free_port()}", env={"CORRAL_POLICY_FILE": str(mine)})
    assert local.ok("policy", "list", "--local", "--overridden", "-f", "value", "-c",
                    "name").stdout.split() == ["corral:projects:show"]


def test_policy_list_needs_the_admin(policed: Cli) -> None:
    member = Cli(None, policed.endpoint, token="alice:p1:member", env={})
    assert_fails(member("policy", "list"), 1, "Policy does not allow")
    nobody = Cli(None, f"http://127.0.0.1:{free_port()}")
    assert_fails(nobody("policy", "list"), 4, "cannot reach corral")
