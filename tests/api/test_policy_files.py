"""Policy files: an operator's policy.yaml overrides any rule, Placement's under
Placement's names and corral's own, in oslo.policy's check-string grammar with
corral's ``subtree`` check; a file corral cannot use stops the start, naming the rule;
``corral policy list`` shows every rule without opening the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from corral.api.app import create_app
from corral.cli.main import app as cli_app
from corral.config import Settings
from corral.persistence import Store
from corral.services.policy import PolicyError
from corral.services.policy_rules import ALL_RULES

from .v1.tree import make_tree, token

LATEST = {"openstack-api-version": "placement latest"}


@contextmanager
def with_policy(store: Store, tmp_path: Path, rules: str, **options: Any) -> Iterator[TestClient]:
    path = tmp_path / "policy.yaml"
    path.write_text(rules, encoding="utf-8")
    settings = Settings(data_dir=str(tmp_path), policy_file=str(path), **options)
    with TestClient(create_app(settings, store)) as client:
        yield client


def test_a_placement_rule_is_overridden_by_its_placement_name(store: Store,
                                                              tmp_path: Path) -> None:
    rules = '"placement:resource_providers:list": "role:reader"\n'
    with with_policy(store, tmp_path, rules) as client:
        reader = {**LATEST, "x-auth-token": "u:p", "x-roles": "reader"}
        admin = {**LATEST, "x-auth-token": "admin"}
        assert client.get("/resource_providers", headers=reader).status_code == 200
        assert client.get("/resource_providers", headers=admin).status_code == 403
        # Every other rule keeps its default.
        assert client.get("/traits", headers=reader).status_code == 403
        assert client.get("/traits", headers=admin).status_code == 200


def test_v1_rules_take_the_object_s_project_as_target(store: Store, tmp_path: Path) -> None:
    make_tree(store)
    rules = ('"corral:projects:show": "role:member and project_id:%(project_id)s"\n'
             # a project admin may now set its own project's limits, not only below it
             '"corral:limits:update": "role:project-admin and subtree:%(project_id)s"\n')
    with with_policy(store, tmp_path, rules) as client:
        pa = token(store, "project-admin", "dept-a")
        member = token(store, "member", "team-a1")
        assert client.get("/v1/projects/team-a1", headers=member).status_code == 200
        assert client.get("/v1/projects/team-a2", headers=member).status_code == 403
        assert client.get("/v1/projects/team-a1", headers=pa).status_code == 403
        limits = {"limits": {"instances": 5}}
        assert client.put("/v1/limits/dept-a", headers=pa, json=limits).status_code == 200
        assert client.put("/v1/limits/team-a1", headers=pa, json=limits).status_code == 200
        assert client.put("/v1/limits/dept-b", headers=pa, json=limits).status_code == 403


@pytest.mark.parametrize("rules,named", [
    ('"corral:projects:shown": "role:admin"\n', "corral:projects:shown"),
    ('"corral:projects:show": "role:admin or ("\n', "corral:projects:show"),
    ('"corral:projects:show": "rol:admin"\n', "rol"),
    ('"corral:projects:show": "rule:nobody"\n', "nobody"),
    ('"corral:projects:show": 3\n', "corral:projects:show"),
    ("[not, a, mapping]\n", "must map rule names"),
])
def test_a_bad_policy_file_stops_the_start_naming_the_rule(store: Store, tmp_path: Path,
                                                           rules: str, named: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(rules, encoding="utf-8")
    with pytest.raises(PolicyError, match=str(path)) as caught:
        create_app(Settings(data_dir=str(tmp_path), policy_file=str(path)), store)
    assert named in str(caught.value)


def test_a_missing_policy_file_stops_the_start(store: Store, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        create_app(Settings(data_dir=str(tmp_path), policy_file=str(tmp_path / "nope.yaml")),
                   store)


def _policy_list(tmp_path: Path, *args: str, **env: str) -> Any:
    # A database that cannot be reached: the command must not try.
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = CliRunner().invoke(cli_app, ["--database-url", unreachable, "policy", "list",
                                          "--local", *args],
                                env={"CORRAL_DATA_DIR": str(tmp_path), **env})
    return result


def test_policy_list_shows_every_rule_default_and_effective(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"placement:usages": "role:admin"\n', encoding="utf-8")
    result = _policy_list(tmp_path, "-f", "json", CORRAL_POLICY_FILE=str(path),
                          CORRAL_ENFORCE_NEW_DEFAULTS="false")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {r.name for r in ALL_RULES}
    assert {"placement:resource_providers:list", "placement:allocations:manage",
            "corral:projects:show", "corral:tokens:create"} <= set(rows)
    assert rows["placement:usages"]["effective"] == "role:admin"
    assert rows["placement:usages"]["overridden"] is True
    assert rows["placement:resource_providers:list"]["default"] == "rule:admin_or_service"
    # legacy defaults: the reshaper also lets role:admin through
    assert rows["placement:reshaper:reshape"]["effective"] == "(rule:service_api) or (role:admin)"
    table = _policy_list(tmp_path, "--overridden", "-c", "name", "-f", "value",
                         CORRAL_POLICY_FILE=str(path))
    assert table.exit_code == 0 and table.stdout == "placement:usages\n"


def test_policy_list_refuses_a_bad_file_as_serve_does(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"corral:nope": "@"\n', encoding="utf-8")
    result = _policy_list(tmp_path, CORRAL_POLICY_FILE=str(path))
    assert result.exit_code == 2
    assert "unknown rule 'corral:nope'" in result.output and "Traceback" not in result.output
