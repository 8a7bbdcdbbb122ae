"""GET /v1/audit-log: the cloud admin's only; filters and pages; the actor recorded is
the one authentication found, whatever else the caller sends."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .test_audit_log import entries
from .test_flavors import ADMIN, v1_error


def _stored_token(client: TestClient, role: str, project: str) -> dict[str, str]:
    r = client.post("/v1/tokens", headers=ADMIN, json={"role": role, "project_id": project})
    assert r.status_code == 201, r.text
    return {"x-auth-token": r.json()["secret"]}


def _tree(client: TestClient) -> None:
    for body in ({"id": "org"}, {"id": "team", "parent_id": "org"}):
        assert client.post("/v1/projects", headers=ADMIN, json=body).status_code == 201


def test_the_actor_cannot_be_forged_by_headers_or_body_fields(client: TestClient) -> None:
    _tree(client)
    manager = _stored_token(client, "project-admin", "org")
    forged = {**manager, "x-roles": "admin", "x-project-id": "team", "x-user-id": "mallory",
              "x-user-name": "mallory", "x-openstack-request-id": "req-forged",
              "openstack-system-scope": "all", "x-service-token": "admin",
              "x-forwarded-for": "10.0.0.1"}
    refused = client.put("/v1/limits/team", headers=forged,
                         json={"limits": {"cores": 2}, "actor": {"user_id": "mallory"}})
    v1_error(refused, 400, "invalid_input", "actor")
    done = client.put("/v1/limits/team", headers=forged, json={"limits": {"cores": 2}})
    assert done.status_code == 200, done.text
    last = entries(client)[-1]
    assert last["action"] == "limits.set" and last["object_id"] == "team"
    assert last["actor"] == {
        "user_id": "org-project-admin", "project_id": "org",
        "roles": ["member", "project-admin", "reader"],
        "request_id": done.headers["x-openstack-request-id"], "origin": "api"}
    assert "req-forged" not in str(entries(client))
    # The stored token's project admin may not act as the cloud admin it claimed to be.
    assert client.put("/v1/limits/defaults", headers=forged,
                      json={"limits": {"cores": 1}}).status_code == 403
    assert [e["action"] for e in entries(client)] == [
        "project.create", "project.create", "token.create", "limits.set"]


@pytest.mark.parametrize("headers", [
    {"x-auth-token": "alice:org", "x-roles": "member"},
    {"x-auth-token": "alice:org", "x-roles": "reader"},
    {"x-auth-token": "alice:org", "x-roles": "project-admin,member,reader"},
    {"x-auth-token": "nova:service", "x-roles": "service"},
])
def test_only_the_cloud_admin_reads_the_trail(client: TestClient,
                                              headers: dict[str, str]) -> None:
    _tree(client)
    v1_error(client.get("/v1/audit-log", headers=headers), 403, "forbidden")
    manager = _stored_token(client, "project-admin", "org")
    v1_error(client.get("/v1/audit-log", headers=manager), 403, "forbidden")
    v1_error(client.get("/v1/audit-log"), 401, "unauthenticated")
    assert client.get("/v1/audit-log", headers=ADMIN).status_code == 200


def _actions(client: TestClient, **query: Any) -> list[tuple[str, str]]:
    r = client.get("/v1/audit-log", headers=ADMIN, params=query)
    assert r.status_code == 200, r.text
    return [(e["action"], e["object_id"]) for e in r.json()["entries"]]


def test_filters_narrow_the_trail(client: TestClient) -> None:
    _tree(client)
    manager = _stored_token(client, "project-admin", "org")
    assert client.put("/v1/limits/team", headers=manager,
                      json={"limits": {"cores": 3}}).status_code == 200
    assert client.post("/v1/flavors", headers=ADMIN,
                       json={"id": "f", "name": "m", "vcpus": 1, "ram_mb": 8}).status_code == 201
    everything = entries(client)
    assert [(e["action"], e["object_id"]) for e in everything] == [
        ("project.create", "org"), ("project.create", "team"),
        ("token.create", everything[2]["object_id"]), ("limits.set", "team"),
        ("flavor.create", "f")]
    assert _actions(client, actor_user_id="org-project-admin") == [("limits.set", "team")]
    assert _actions(client, actor_project_id="org") == [("limits.set", "team")]
    assert _actions(client, actor_user_id="admin", sort_dir="asc") == [
        (e["action"], e["object_id"]) for e in everything if e["action"] != "limits.set"]
    assert _actions(client, object_type="flavor") == [("flavor.create", "f")]
    assert _actions(client, object_type="project", object_id="team") == [
        ("project.create", "team")]
    assert _actions(client, action="project.create") == [
        ("project.create", "team"), ("project.create", "org")]
    assert _actions(client, action="project.create", actor_project_id="org") == []
    third = everything[3]["created_at"]
    assert _actions(client, since=third, sort_dir="asc") == [
        ("limits.set", "team"), ("flavor.create", "f")]
    assert _actions(client, before=third.replace("Z", "+00:00"), sort_dir="asc") == [
        (e["action"], e["object_id"]) for e in everything[:3]]
    assert _actions(client, since="2000-01-01T00:00:00", before="2000-01-02T00:00:00") == []


@pytest.mark.parametrize(("query", "field"), [
    ({"since": "yesterday"}, "since"),
    ({"before": "2026-13-01"}, "before"),
    ({"since": "2026-12-02T00:00:00Z", "before": "2026-12-01T00:00:00Z"}, "since"),
    ({"object_type": "instance"}, "object_type"),
    ({"sort_dir": "up"}, "sort_dir"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"marker": "-1"}, "marker"),
    ({"marker": "abc"}, "marker"),
])
def test_a_bad_query_is_a_400_naming_the_parameter(client: TestClient, query: dict[str, str],
                                                   field: str) -> None:
    r = client.get("/v1/audit-log", headers=ADMIN, params=query)
    v1_error(r, 400, "invalid_input", field)


def _page(client: TestClient, **query: Any) -> tuple[list[str], int | None]:
    r = client.get("/v1/audit-log", headers=ADMIN, params={"limit": 2, **query})
    assert r.status_code == 200, r.text
    body = r.json()
    return [e["object_id"] for e in body["entries"]], body["next_marker"]


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_pages_follow_the_marker_in_either_order(client: TestClient, sort_dir: str) -> None:
    for name in ("a", "b", "c", "d", "e"):
        assert client.post("/v1/projects", headers=ADMIN, json={"id": name}).status_code == 201
    pages, marker = [], None
    while True:
        ids, marker = _page(client, sort_dir=sort_dir, **({} if marker is None
                                                          else {"marker": marker}))
        pages.append(ids)
        if marker is None:
            break
    want = [["a", "b"], ["c", "d"], ["e"]] if sort_dir == "asc" else [
        ["e", "d"], ["c", "b"], ["a"]]
    assert pages == want
    assert _page(client)[0] == ["e", "d"]  # newest first by default
    # Exactly one page's worth: no marker for an empty page after it.
    ids, marker = _page(client, limit=5)
    assert len(ids) == 5 and marker is None
