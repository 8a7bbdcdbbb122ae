"""corral project ..., corral limit ... and corral quota show, on a real database."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert

from corral.persistence import Store
from corral.persistence import tables as t

from .conftest import Cli, assert_fails, assert_one_error_line


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.ok(*args, "-f", "json").stdout)


def test_tree_create_list_show_rename_move_delete(any_cli: Cli) -> None:
    org = as_json(any_cli, "project", "create", "org", "--name", "The org")
    assert {k: org[k] for k in ("id", "name", "parent_id", "path", "depth")} == {
        "id": "org", "name": "The org", "parent_id": None, "path": ["org"], "depth": 0}
    any_cli.ok("project", "create", "dept", "--parent", "org")
    any_cli.ok("project", "create", "team", "--parent", "dept", "--limit", "cores=4")
    any_cli.ok("project", "create", "other")
    listed = as_json(any_cli, "project", "list")
    assert [(p["id"], p["depth"]) for p in listed] == [
        ("org", 0), ("dept", 1), ("team", 2), ("other", 0)]
    assert list(listed[0]) == ["id", "name", "parent_id", "depth", "children"]
    assert any_cli.ok("project", "list", "--root", "dept", "--depth", "0", "-f", "value",
                      "-c", "id").stdout.split() == ["dept"]
    assert as_json(any_cli, "project", "show", "team")["path"] == ["org", "dept", "team"]

    any_cli.ok("project", "rename", "team", "Team T")
    assert as_json(any_cli, "project", "show", "team")["name"] == "Team T"
    any_cli.ok("project", "move", "team", "--parent", "other")
    assert as_json(any_cli, "project", "show", "team")["path"] == ["other", "team"]
    any_cli.ok("project", "move", "team", "--root")
    assert as_json(any_cli, "project", "show", "team")["parent_id"] is None

    assert_one_error_line(any_cli("project", "delete", "org"), "in use", "1 child project(s)")
    any_cli.ok("project", "delete", "dept", "org")
    assert any_cli.ok("project", "list", "-f", "value", "-c", "id").stdout.split() == [
        "other", "team"]


def test_refusals_and_bad_input(cli: Cli) -> None:
    cli.ok("project", "create", "org", "--limit", "cores=10")
    assert_one_error_line(cli("project", "create", "org"), "already exists")
    assert_one_error_line(cli("project", "create", "x", "--parent", "ghost"), "ghost")
    assert_one_error_line(cli("project", "create", "a/b"), "'/'")
    assert_fails(cli("project", "create", "x", "--limit", "cores"), 2, "--limit", "RESOURCE=N")
    assert_fails(cli("project", "create", "x", "--limit", "VCPU=1"), 2, "counted as 'cores'")
    assert_fails(cli("project", "move", "org"), 2, "exactly one")
    assert_fails(cli("project", "move", "org", "--root", "--parent", "x"), 2, "exactly one")
    cli.ok("project", "create", "kid", "--parent", "org")
    assert_one_error_line(cli("project", "move", "org", "--parent", "kid"), "descendants")
    assert_one_error_line(cli("limit", "set", "kid", "cores=11"), "'kid' (11)", "'org' (10)")
    assert_fails(cli("limit", "set", "kid", "cores=x"), 2, "RESOURCE=N")
    assert_fails(cli("limit", "set", "kid", "cores=1", "cores=2"), 2, "more than once")
    assert_one_error_line(cli("limit", "unset", "kid", "ram"), "No limit of ram")
    assert_one_error_line(cli("project", "show", "ghost"), "No project 'ghost'")


def test_limits_and_defaults(any_cli: Cli) -> None:
    any_cli.ok("project", "create", "p")
    any_cli.ok("limit", "set", "p", "cores=8", "instances=-1")
    any_cli.ok("limit", "default", "set", "ram=4096", "cores=2")
    assert as_json(any_cli, "limit", "list", "p") == [
        {"resource": "cores", "limit": 8, "effective": 8, "source": "project"},
        {"resource": "instances", "limit": -1, "effective": -1, "source": "project"},
        {"resource": "ram", "limit": None, "effective": 4096, "source": "default"}]
    assert as_json(any_cli, "limit", "default", "list") == [
        {"resource": "cores", "limit": 2}, {"resource": "ram", "limit": 4096}]
    any_cli.ok("limit", "unset", "p", "cores", "instances")
    assert [r["source"] for r in as_json(any_cli, "limit", "list", "p")] == [
        "default", "default"]
    any_cli.ok("limit", "default", "unset", "cores", "ram")
    assert as_json(any_cli, "limit", "list", "p") == []


def plant(store: Store, rows: dict[str, tuple[int, int]], resource: str) -> None:
    """Ledger rows as claims leave them: project -> (own, subtree)."""
    with store.write() as repo:
        for project, (own, sub) in rows.items():
            row = repo.project_by_external_id(project)
            assert row is not None
            repo.conn.execute(insert(t.quota_usage).values(
                project_id=row.id, resource=resource, own=own, subtree=sub))


def test_a_limit_below_usage_warns_and_quota_show_draws_the_tree(cli: Cli,
                                                                  sqlite_store: Store) -> None:
    cli.ok("project", "create", "org", "--name", "Org", "--limit", "cores=20")
    cli.ok("project", "create", "dept", "--parent", "org", "--limit", "cores=10")
    cli.ok("project", "create", "team", "--parent", "dept")
    plant(sqlite_store, {"org": (0, 6), "dept": (1, 6), "team": (5, 5)}, "cores")

    result = cli.ok("limit", "set", "dept", "cores=4")
    assert "warning: project dept uses 6 cores, above its limit of 4" in result.stderr

    shown = cli.ok("quota", "show", "org").stdout
    lines = shown.splitlines()
    assert lines[0].startswith("org (Org)  cores=6/20"), shown
    assert "└── dept  cores=6/4" in lines[1], shown
    assert "└── team  cores=5/∞" in lines[2], shown
    assert "Headroom of org" in shown
    rows = as_json(cli, "quota", "show", "team")
    assert rows == [{"resource": "cores", "limit": -1, "source": "none", "own": 5,
                     "subtree": 5, "headroom": 0, "binding": "dept"}]
    assert "team" not in cli.ok("quota", "show", "org", "--depth", "1").stdout
    assert_one_error_line(cli("quota", "show", "ghost"), "No project 'ghost'")
