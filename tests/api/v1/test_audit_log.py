"""The audit trail records every admin action through the API: who (user, project,
roles, the request id the server gave the call), what (action, object, before and
after), when; a change refused leaves no entry, and so does a change whose transaction
does not commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import insert, select
from starlette.testclient import TestClient

from corral.config import FLEET_POLICY, Settings
from corral.persistence import Store, tables
from corral.services import limits as limits_svc
from corral.services import projects as project_svc
from corral.services import system
from corral.services.audit_log import local_actor
from corral.services.stores import Repo

from .test_flavors import ADMIN

SIZE = {"vcpus": 8, "memory_mb": 16384, "disk_gb": 100}


def entries(client: TestClient, **query: Any) -> list[dict[str, Any]]:
    """The whole trail, oldest first (every page)."""
    found: list[dict[str, Any]] = []
    params = {"sort_dir": "asc", "limit": 1000, **query}
    while True:
        r = client.get("/v1/audit-log", headers=ADMIN, params=params)
        assert r.status_code == 200, r.text
        found.extend(r.json()["entries"])
        if r.json()["next_marker"] is None:
            return found
        params["marker"] = r.json()["next_marker"]


class Calls:
    """Calls made as the cloud admin, each checked, keeping their request ids."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.request_ids: list[str] = []

    def __call__(self, method: str, path: str, status: int, body: Any = None,
                 recorded: bool = True) -> dict[str, Any]:
        r = self.client.request(method, path, headers=ADMIN, json=body)
        assert r.status_code == status, (method, path, r.text)
        if recorded:
            self.request_ids.append(r.headers["x-openstack-request-id"])
        return r.json() if r.content else {}


def _projects_and_limits(call: Calls) -> list[tuple[str, str, str, Any, Any]]:
    call("PUT", "/v1/limits/defaults", 200, {"limits": {"cores": 100}})
    call("POST", "/v1/projects", 201, {"id": "p1", "limits": {"ram": 2048}})
    call("PUT", "/v1/limits/p1", 200, {"limits": {"cores": 10}})
    call("DELETE", "/v1/limits/p1/cores", 204)
    call("PATCH", "/v1/projects/p1", 200, {"name": "P one"})
    call("PATCH", "/v1/projects/p1", 200, {"name": "P one"}, recorded=False)  # no change
    call("POST", "/v1/projects", 201, {"id": "p2"})
    call("PATCH", "/v1/projects/p1", 200, {"parent_id": "p2"})
    call("DELETE", "/v1/limits/defaults/cores", 204)
    call("DELETE", "/v1/projects/p1", 204)
    p1 = {"id": "p1", "name": None, "parent_id": None, "limits": {"ram": 2048}}
    return [
        ("limits.set", "limits", "defaults", {}, {"cores": 100}),
        ("project.create", "project", "p1", None, p1),
        ("limits.set", "limits", "p1", {"ram": 2048}, {"cores": 10, "ram": 2048}),
        ("limits.unset", "limits", "p1", {"cores": 10, "ram": 2048}, {"ram": 2048}),
        ("project.rename", "project", "p1", {"name": None, "parent_id": None},
         {"name": "P one", "parent_id": None}),
        ("project.create", "project", "p2", None,
         {"id": "p2", "name": None, "parent_id": None, "limits": {}}),
        ("project.move", "project", "p1", {"name": "P one", "parent_id": None},
         {"name": "P one", "parent_id": "p2"}),
        ("limits.unset", "limits", "defaults", {"cores": 100}, {}),
        ("project.delete", "project", "p1", {**p1, "name": "P one", "parent_id": "p2"}, None),
    ]


def _flavors(call: Calls) -> list[tuple[str, str, str, Any, Any]]:
    call("POST", "/v1/flavors", 201, {"id": "f1", "name": "m1", "vcpus": 1, "ram_mb": 512,
                                      "is_public": False})
    call("PATCH", "/v1/flavors/f1", 200, {"description": "small"})
    call("PUT", "/v1/flavors/f1/extra-specs", 200,
         {"extra_specs": {"trait:HW_CPU_X86_AVX2": "required"}})
    call("DELETE", "/v1/flavors/f1/extra-specs/trait:HW_CPU_X86_AVX2", 204)
    call("POST", "/v1/flavors/f1/access", 200, {"project_id": "p2"})
    call("DELETE", "/v1/flavors/f1/access/p2", 204)
    call("DELETE", "/v1/flavors/f1", 204)
    f1 = {"id": "f1", "name": "m1", "vcpus": 1, "ram_mb": 512, "disk_gb": 0,
          "ephemeral_gb": 0, "swap_mb": 0, "is_public": False, "description": None,
          "extra_specs": {}}
    avx = {"extra_specs": {"trait:HW_CPU_X86_AVX2": "required"}}
    return [
        ("flavor.create", "flavor", "f1", None, f1),
        ("flavor.update", "flavor", "f1", {"description": None}, {"description": "small"}),
        ("flavor.extra_specs.set", "flavor", "f1", {"extra_specs": {}}, avx),
        ("flavor.extra_specs.unset", "flavor", "f1", avx, {"extra_specs": {}}),
        ("flavor.access.add", "flavor", "f1", {"projects": []}, {"projects": ["p2"]}),
        ("flavor.access.remove", "flavor", "f1", {"projects": ["p2"]}, {"projects": []}),
        ("flavor.delete", "flavor", "f1", {**f1, "description": "small"}, None),
    ]


def _aggregates_and_hosts(call: Calls) -> list[tuple[str, str, str, Any, Any]]:
    call("PUT", "/v1/hosts/h1", 201, SIZE, recorded=False)  # a host's own report
    call("POST", "/v1/hosts/h1/heartbeat", 204, recorded=False)
    uuid = call("POST", "/v1/aggregates", 201, {"name": "a1"})["uuid"]
    call("PATCH", "/v1/aggregates/a1", 200, {"metadata": {"cpu_allocation_ratio": "4.0"}})
    call("POST", "/v1/aggregates/a1/hosts", 200, {"host": "h1"})
    call("DELETE", "/v1/aggregates/a1/hosts/h1", 200)
    call("DELETE", "/v1/aggregates/a1", 204)
    call("PATCH", "/v1/hosts/h1", 200, {"enabled": False, "disabled_reason": "disk"})
    call("PATCH", "/v1/hosts/h1", 200, {"forced_down": True, "cpu_allocation_ratio": 2.0})
    call("DELETE", "/v1/hosts/h1", 204)
    ratios = {"cpu_allocation_ratio": None, "ram_allocation_ratio": None,
              "disk_allocation_ratio": None, "reserved_host_memory_mb": None}
    up = {"enabled": True, "disabled_reason": None, "forced_down": False, **ratios}
    off = {**up, "enabled": False, "disabled_reason": "disk"}
    down = {**off, "forced_down": True, "cpu_allocation_ratio": 2.0}
    ratio = {"cpu_allocation_ratio": "4.0"}
    return [
        ("aggregate.create", "aggregate", "a1", None,
         {"name": "a1", "uuid": uuid, "metadata": {}, "hosts": []}),
        ("aggregate.metadata.set", "aggregate", "a1", {"metadata": {}}, {"metadata": ratio}),
        ("aggregate.host.add", "aggregate", "a1", {"hosts": []}, {"hosts": ["h1"]}),
        ("aggregate.host.remove", "aggregate", "a1", {"hosts": ["h1"]}, {"hosts": []}),
        ("aggregate.delete", "aggregate", "a1",
         {"name": "a1", "uuid": uuid, "metadata": ratio, "hosts": []}, None),
        ("host.update", "host", "h1", up, off),
        ("host.update", "host", "h1", off, down),
        ("host.delete", "host", "h1", None, None),  # before: checked below
    ]


def test_every_admin_change_is_recorded_with_its_actor_and_before_and_after(
        client: TestClient) -> None:
    call = Calls(client)
    expected = [*_projects_and_limits(call), *_flavors(call), *_aggregates_and_hosts(call)]
    made = call("POST", "/v1/tokens", 201, {"role": "member", "project_id": "p2"})
    call("DELETE", f"/v1/tokens/{made['id']}", 204)
    call("DELETE", f"/v1/tokens/{made['id']}", 204, recorded=False)  # already revoked
    found = entries(client)
    got = [(e["action"], e["object_type"], e["object_id"], e["before"], e["after"])
           for e in found]
    host_gone = got[len(expected) - 1]
    assert host_gone[3]["forced_down"] is True and host_gone[3]["provider_uuid"]
    got[len(expected) - 1] = (*host_gone[:3], None, None)
    assert got[:len(expected)] == expected
    token_created, token_revoked = got[len(expected):]
    assert token_created[:4] == ("token.create", "token", made["id"], None)
    assert token_created[4]["role"] == "member" and "secret" not in str(token_created[4])
    assert token_revoked[:3] == ("token.revoke", "token", made["id"])
    assert token_revoked[3]["revoked_at"] is None and token_revoked[4]["revoked_at"]
    assert [e["actor"] for e in found] == [
        {"user_id": "admin", "project_id": "admin", "roles": ["admin"], "request_id": rid,
         "origin": "api"} for rid in call.request_ids]
    assert all(e["created_at"].endswith("Z") for e in found)
    assert [e["id"] for e in found] == sorted({e["id"] for e in found})


def test_a_change_refused_leaves_no_entry(client: TestClient) -> None:
    call = Calls(client)
    call("POST", "/v1/projects", 201, {"id": "parent", "limits": {"cores": 4}})
    call("POST", "/v1/aggregates", 201, {"name": "a1"})
    call("PUT", "/v1/hosts/h1", 201, SIZE, recorded=False)
    call("POST", "/v1/aggregates/a1/hosts", 200, {"host": "h1"})
    before = entries(client)
    assert len(before) == 3
    member = {"x-auth-token": "bob:parent", "x-roles": "member"}
    refused = [
        client.put("/v1/limits/defaults", headers=member, json={"limits": {"cores": 1}}),
        client.post("/v1/flavors", headers=member, json={"name": "m", "vcpus": 1,
                                                         "ram_mb": 1}),
        client.delete("/v1/aggregates/a1", headers=ADMIN),  # not empty: 409
        client.post("/v1/projects", headers=ADMIN,  # strict or not, above the parent: 400
                    json={"id": "child", "parent_id": "parent", "limits": {"cores": 8}}),
        client.put("/v1/limits/parent", headers=ADMIN, json={"limits": {"cores": "x"}}),
        client.patch("/v1/hosts/h1", headers=ADMIN, json={"disabled_reason": "why"}),
        client.patch("/v1/projects/parent", headers=ADMIN, json={"parent_id": "nowhere"}),
        client.delete("/v1/tokens/00000000-0000-4000-8000-000000000000", headers=ADMIN),
        client.post("/v1/flavors", headers=ADMIN, json={"name": "m", "vcpus": 1,
                                                        "ram_mb": 1, "actor": "x"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 409, 400, 400, 400, 400, 404, 400]
    assert entries(client) == before


class CommitFails:
    """The real store, except that no write transaction commits: the block's work is
    done (the change and its audit entry written), then the commit is replaced by an
    error, as a crash or a lost connection at that moment would."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[Repo]:
        with self.store.write() as repo:
            yield repo
            raise ConnectionError("injected: the commit never happens")


def test_a_transaction_that_fails_after_the_audit_write_leaves_neither(
        store: Store, client: TestClient) -> None:
    actor = local_actor("tests")
    project_svc.create_project(store, "p", model="overbook", actor=actor)
    failing: Any = CommitFails(store)
    with pytest.raises(ConnectionError):
        limits_svc.set_limits(failing, "p", {"cores": 5}, model="overbook", actor=actor)
    assert limits_svc.get_limits(store, "p").limits == {}
    assert [e["action"] for e in entries(client)] == ["project.create"]
    limits_svc.set_limits(store, "p", {"cores": 5}, model="overbook", actor=actor)
    assert limits_svc.get_limits(store, "p").limits == {"cores": 5}
    assert [e["action"] for e in entries(client)] == ["project.create", "limits.set"]
    local = entries(client)[-1]["actor"]  # a command run on the server's machine
    assert local["user_id"].startswith("local:") and local["origin"] == "local"
    assert (local["project_id"], local["roles"], local["request_id"]) == (None, [], "tests")


def test_a_quota_repair_is_recorded_and_a_clean_audit_is_not(client: TestClient,
                                                             store: Store) -> None:
    call = Calls(client)
    call("POST", "/v1/projects", 201, {"id": "p"})
    with store.engine.begin() as conn:  # drift planted behind corral's back
        row = conn.execute(select(tables.projects.c.id)
                           .where(tables.projects.c.external_id == "p")).scalar_one()
        conn.execute(insert(tables.quota_usage).values(project_id=row, resource="cores",
                                                       own=3, subtree=3))
    call("POST", "/v1/quota/audit", 200, {})  # a report changes nothing
    call("POST", "/v1/quota/audit", 200, {"fix": True})
    call("POST", "/v1/quota/audit", 200, {"fix": True}, recorded=False)  # clean: nothing
    found = entries(client)
    assert [(e["action"], e["object_id"]) for e in found] == [
        ("project.create", "p"), ("quota_usage.repair", "*")]
    repair = found[1]
    assert repair["before"] == {"orphans": [], "drifts": [{
        "project_id": "p", "resource": "cores", "ledger_own": 3, "actual_own": 0,
        "ledger_subtree": 3, "actual_subtree": 0}]}
    assert repair["after"] == {"drifts": [], "orphans": []}
    assert repair["actor"]["user_id"] == "admin"
    assert repair["actor"]["request_id"] == call.request_ids[2]


def test_a_fleet_policy_published_is_recorded_when_it_changes(client: TestClient,
                                                              store: Store) -> None:
    serve = local_actor("corral serve")
    first = Settings(cpu_allocation_ratio=4.0)
    system.publish_fleet_policy(store, first, {}, actor=serve)
    system.publish_fleet_policy(store, first, {}, actor=serve)  # the same: nothing
    system.publish_fleet_policy(store, Settings(cpu_allocation_ratio=2.0, quota_model="strict"),
                                {"quota_model": "corral.toml"}, actor=serve)
    found = entries(client, object_type="fleet_policy")
    assert [(e["action"], e["object_id"]) for e in found] == [
        ("fleet_policy.publish", "published")] * 2
    assert found[0]["before"] is None
    assert found[0]["after"]["cpu_allocation_ratio"] == 4.0
    assert set(found[0]["after"]) == set(FLEET_POLICY)
    assert (found[1]["before"], found[1]["after"]) == (
        {"cpu_allocation_ratio": 4.0, "quota_model": "overbook"},
        {"cpu_allocation_ratio": 2.0, "quota_model": "strict"})
    assert found[1]["actor"]["origin"] == "local"
    assert found[1]["actor"]["request_id"] == "corral serve"
