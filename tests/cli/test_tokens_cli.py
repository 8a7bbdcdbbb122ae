"""corral token create/list/show/revoke, through the CLI on a real database."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .conftest import Cli, assert_fails, assert_one_error_line


def test_create_list_show_revoke_on_both_backends(any_cli: Cli, store: Store,
                                                  tmp_path: Path) -> None:
    any_cli.ok("project", "create", "p1")  # a token's project must exist
    made = json.loads(any_cli.ok("token", "create", "--project", "p1", "--role", "member",
                                 "--user", "alice", "--name", "ci",
                                 "--expires-in-days", "30", "-f", "json").stdout)
    assert {k: made[k] for k in ("name", "project_id", "user_id", "role", "state")} == {
        "name": "ci", "project_id": "p1", "user_id": "alice", "role": "member",
        "state": "active"}
    assert made["expires_at"] is not None and made["secret"].startswith("corral_")

    listed = json.loads(any_cli.ok("token", "list", "-f", "json").stdout)
    assert [t["id"] for t in listed] == [made["id"]]
    assert "secret" not in listed[0] and made["secret"] not in any_cli.ok("token", "list").stdout
    shown = json.loads(any_cli.ok("token", "show", made["id"], "-f", "json").stdout)
    assert "secret" not in shown and shown["revoked_at"] is None

    with TestClient(create_app(Settings(data_dir=str(tmp_path)), store)) as client:
        h = {"x-auth-token": made["secret"]}
        assert client.get("/v1/instances", headers=h).status_code == 200
        result = any_cli.ok("token", "revoke", made["id"])
        assert result.stdout == f"token {made['name']} revoked ({made['id']})\n"

    # Revoked by another process: a fresh app (no cache) refuses it; a running one
    # within its cache's TTL (tests/api/v1/test_tokens.py).
    with TestClient(create_app(Settings(data_dir=str(tmp_path)), store)) as client:
        assert client.get("/v1/instances", headers=h).status_code == 401
    assert json.loads(any_cli.ok("token", "show", made["id"], "-f", "json").stdout
                      )["state"] == "revoked"
    assert json.loads(any_cli.ok("token", "list", "--project", "p2", "-f", "json").stdout) == []


def test_the_table_output_says_the_secret_is_shown_once(cli: Cli) -> None:
    result = cli.ok("token", "create", "--role", "admin")
    assert "secret" in result.stdout and "corral_" in result.stdout
    assert "will not be shown again" in result.stderr


def test_bad_input(cli: Cli) -> None:
    assert_fails(cli("token", "create", "--role", "member"), 2, "--project", "needs a project")
    assert_fails(cli("token", "create", "--role", "root", "--project", "p"), 2, "--role")
    assert_fails(cli("token", "create", "--role", "reader", "--project", "p",
                     "--expires-in-days", "0"), 2, "--expires-in-days")
    assert_one_error_line(cli("token", "revoke", "nope"), "No API token nope found.")
