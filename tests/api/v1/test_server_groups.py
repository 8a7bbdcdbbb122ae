"""/v1/server-groups over HTTP: policies, the max_server_per_host rule, projects, policy."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from .test_flavors import ADMIN, MAX_INT, member, v1_error

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    if headers is ADMIN:  # an admin names the project
        body.setdefault("project_id", "admin")
    r = client.post("/v1/server-groups", json={"name": "g", "policy": "affinity", **body},
                    headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_member_creates_shows_lists_and_deletes_in_their_project(client: TestClient) -> None:
    alice = member("p1")
    r = client.post("/v1/server-groups", headers=alice, json={
        "name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}})
    assert r.status_code == 201, r.text
    group = r.json()
    assert UUID.match(group["id"])
    assert r.headers["location"] == f"http://testserver/v1/server-groups/{group['id']}"
    assert {k: v for k, v in group.items() if k not in ("id", "created_at")} == {
        "name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": 2},
        "project_id": "p1", "user_id": "alice", "members": []}
    assert client.get(f"/v1/server-groups/{group['id']}", headers=alice).json() == group
    assert client.get("/v1/server-groups", headers=alice).json() == {"server_groups": [group]}
    assert client.delete(f"/v1/server-groups/{group['id']}", headers=alice).status_code == 204
    v1_error(client.get(f"/v1/server-groups/{group['id']}", headers=alice), 404,
             "server_group_not_found")
    v1_error(client.delete(f"/v1/server-groups/{group['id']}", headers=alice), 404,
             "server_group_not_found")
    v1_error(client.get("/v1/server-groups/not-a-uuid", headers=alice), 404,
             "server_group_not_found")


def test_every_policy_and_the_rule_only_with_anti_affinity(client: TestClient) -> None:
    for policy in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
        g = create(client, ADMIN, name=policy, policy=policy)
        assert (g["policy"], g["rules"]) == (policy, {})
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"policy": "affinity", "rules": {"max_server_per_host": 2}},
         "rules.max_server_per_host", "only to the anti-affinity"),
        ({"policy": "soft-anti-affinity", "rules": {"max_server_per_host": 2}},
         "rules.max_server_per_host", "only to the anti-affinity"),
        ({"policy": "anti-affinity", "rules": {"max_server_per_host": 0}},
         "rules.max_server_per_host", "from 1"),
        ({"policy": "anti-affinity", "rules": {"max_server_per_host": MAX_INT + 1}},
         "rules.max_server_per_host", "from 1"),
        ({"policy": "anti-affinity", "rules": {"max_server_per_host": "2"}},
         "rules.max_server_per_host", ""),
        ({"policy": "anti-affinity", "rules": {"max_servers": 2}}, "rules.max_server_per_host",
         "rules.max_servers: Extra inputs are not permitted"),
        ({"policy": "anti_affinity"}, "policy", "one of affinity, anti-affinity"),
        ({"policy": "affinity", "name": ""}, "name", "1 to 255"),
        ({"policy": "affinity", "name": "n" * 256}, "name", "1 to 255"),
        ({"name": "x"}, "policy", ""),
        ({"policy": "affinity", "members": []}, "members", ""),
    ]
    for body, field, why in cases:
        v1_error(client.post("/v1/server-groups", json={"name": "x", **body}, headers=ADMIN), 400,
                 "invalid_input", field, why)
    g = create(client, ADMIN, name="spread", policy="anti-affinity",
               rules={"max_server_per_host": MAX_INT})
    assert g["rules"] == {"max_server_per_host": MAX_INT}
    assert len(client.get("/v1/server-groups", headers=ADMIN).json()["server_groups"]) == 5


def test_projects_see_only_their_groups_and_admins_see_all(client: TestClient) -> None:
    a = create(client, member("p1"), name="a")
    b = create(client, member("p2"), name="b")
    c = create(client, ADMIN, name="c", project_id="p2")
    assert c["project_id"] == "p2" and c["user_id"] == "admin"

    def ids(headers: dict[str, str], query: str = "") -> list[str]:
        r = client.get("/v1/server-groups" + query, headers=headers)
        assert r.status_code == 200, r.text
        return sorted(g["id"] for g in r.json()["server_groups"])

    assert ids(member("p1")) == [a["id"]]
    assert ids(member("p1", "reader")) == [a["id"]]
    assert ids(member("p1"), "?project_id=p1") == [a["id"]]
    assert ids(member("p2")) == sorted([b["id"], c["id"]])
    assert ids(ADMIN) == sorted([a["id"], b["id"], c["id"]])
    assert ids(ADMIN, "?project_id=p2") == sorted([b["id"], c["id"]])
    assert ids(ADMIN, "?project_id=nobody") == []

    # another project's group is not there, for reading or deleting
    v1_error(client.get(f"/v1/server-groups/{b['id']}", headers=member("p1")), 404,
             "server_group_not_found")
    v1_error(client.delete(f"/v1/server-groups/{b['id']}", headers=member("p1")), 404,
             "server_group_not_found")
    assert client.get(f"/v1/server-groups/{b['id']}", headers=ADMIN).status_code == 200
    assert client.delete(f"/v1/server-groups/{b['id']}", headers=ADMIN).status_code == 204
    assert ids(member("p2")) == [c["id"]]


def test_policy_401_and_403(client: TestClient) -> None:
    g = create(client, member("p1"))
    for method, url in (("GET", "/v1/server-groups"), ("POST", "/v1/server-groups"),
                        ("GET", f"/v1/server-groups/{g['id']}"),
                        ("DELETE", f"/v1/server-groups/{g['id']}")):
        v1_error(client.request(method, url), 401, "unauthenticated")
    body = {"name": "x", "policy": "affinity"}
    # a member may not create in another project, nor list another project's groups
    v1_error(client.post("/v1/server-groups", json={**body, "project_id": "p2"},
                         headers=member("p1")), 403, "forbidden")
    v1_error(client.get("/v1/server-groups?project_id=p2", headers=member("p1")), 403,
             "forbidden")
    # a reader may read but not write; no role at all may do nothing
    v1_error(client.post("/v1/server-groups", json=body, headers=member("p1", "reader")), 403,
             "forbidden")
    v1_error(client.delete(f"/v1/server-groups/{g['id']}", headers=member("p1", "reader")), 403,
             "forbidden")
    assert client.get(f"/v1/server-groups/{g['id']}",
                      headers=member("p1", "reader")).status_code == 200
    for method, url in (("GET", "/v1/server-groups"), ("POST", "/v1/server-groups"),
                        ("GET", f"/v1/server-groups/{g['id']}")):
        v1_error(client.request(method, url, json=body, headers=member("p1", "")), 403,
                 "forbidden")
    assert len(client.get("/v1/server-groups", headers=ADMIN).json()["server_groups"]) == 1


def test_only_an_admin_records_another_user_as_the_creator(client: TestClient) -> None:
    """As for a boot: the CLI's --user is the admin's to give (docs/cli.md)."""
    made = create(client, ADMIN, user_id="alice")
    assert made["user_id"] == "alice"
    alice = member("p1")
    assert create(client, alice, user_id="alice")["user_id"] == "alice"  # herself: fine
    v1_error(client.post("/v1/server-groups", headers=alice, json={
        "name": "g", "policy": "affinity", "user_id": "bob"}), 403, "forbidden")
    assert [g["user_id"] for g in client.get(
        "/v1/server-groups", headers=alice).json()["server_groups"]] == ["alice"]
