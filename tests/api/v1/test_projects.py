"""/v1/projects over HTTP: the tree (create, show, list, rename, move, delete), moves
that carry usage along in the ledger or are refused, and who may do what.

Usage is planted in the ledger directly (:func:`plant`), as claims would leave it, so
these scenarios do not depend on the claim path; the ledger is then read back as rows.
Every test takes ``client`` and so runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, update
from starlette.testclient import TestClient

from corral.persistence import Store
from corral.persistence import tables as t
from corral.persistence.revisions import PROJECTS

from .helpers import V1
from .scheduling import booted, flavor
from .test_flavors import v1_error


def tree(v1: V1, *specs: str) -> None:
    """Create projects from ``"child<parent"`` (or ``"root"``) specs, in order."""
    for spec in specs:
        pid, _, parent = spec.partition("<")
        v1.ok("POST", "/projects", 201, json={"id": pid, "parent_id": parent or None})


def plant(store: Store, project: str, resource: str, amount: int) -> None:
    """Usage of ``project`` in the ledger, as a claim leaves it: own on the project,
    subtree on it and every ancestor."""
    u = t.quota_usage
    with store.write() as repo:
        for i, row in enumerate(repo.project_chain(project)):
            key = (u.c.project_id == row.id, u.c.resource == resource)
            own = amount if i == 0 else 0
            if repo.conn.execute(select(u.c.own).where(*key)).first() is None:
                repo.conn.execute(insert(u).values(project_id=row.id, resource=resource,
                                                   own=own, subtree=amount))
            else:
                repo.conn.execute(update(u).where(*key).values(
                    own=u.c.own + own, subtree=u.c.subtree + amount))


def ledger(store: Store) -> dict[tuple[str, str], tuple[int, int]]:
    """Every ledger row: (project, resource) -> (own, subtree)."""
    u, p = t.quota_usage, t.projects
    with store.read() as repo:
        rows = repo.conn.execute(select(p.c.external_id, u.c.resource, u.c.own, u.c.subtree)
                                 .join(p, p.c.id == u.c.project_id))
        return {(pid, res): (own, sub) for pid, res, own, sub in rows}


def revision(store: Store) -> int:
    with store.read() as repo:
        return repo.revision(PROJECTS)


def ids(body: dict[str, Any]) -> list[str]:
    return [p["id"] for p in body["projects"]]


# -- create, show, list ----------------------------------------------------------------------

def test_create_show_and_list_a_tree(client: TestClient) -> None:
    v1 = V1(client)
    r = v1.post("/projects", json={"id": "org", "name": "The org"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "http://testserver/v1/projects/org"
    assert {k: v for k, v in r.json().items() if not k.endswith("_at")} == {
        "id": "org", "name": "The org", "parent_id": None, "path": ["org"], "depth": 0,
        "children": []}
    tree(v1, "dept<org", "team-b<dept", "team-a<dept", "sub<team-a", "other")

    shown = v1.ok("GET", "/projects/team-a")
    assert {k: shown[k] for k in ("id", "name", "parent_id", "path", "depth", "children")} == {
        "id": "team-a", "name": None, "parent_id": "dept", "path": ["org", "dept", "team-a"],
        "depth": 2, "children": ["sub"]}
    assert v1.ok("GET", "/projects/dept")["children"] == ["team-a", "team-b"]

    # Every root, depth first, children by id.
    assert ids(v1.ok("GET", "/projects")) == ["org", "dept", "team-a", "sub", "team-b", "other"]
    assert ids(v1.ok("GET", "/projects?depth=0")) == ["org", "other"]
    assert ids(v1.ok("GET", "/projects?root=dept")) == ["dept", "team-a", "sub", "team-b"]
    listed = v1.ok("GET", "/projects?root=dept&depth=1")["projects"]
    assert [(p["id"], p["depth"]) for p in listed] == [("dept", 1), ("team-a", 2), ("team-b", 2)]
    assert ids(v1.ok("GET", "/projects?root=sub&depth=5")) == ["sub"]
    v1_error(v1.get("/projects?root=nope"), 404, "project_not_found", None, "nope")
    v1_error(v1.get("/projects?depth=-1"), 400, "invalid_input", "depth")


def test_bad_creates_are_refused_naming_the_field(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org")
    before = revision(store)
    v1_error(v1.post("/projects", json={"id": "org"}), 409, "project_exists", None, "'org'")
    v1_error(v1.post("/projects", json={"id": "x", "parent_id": "ghost"}), 400,
             "parent_not_found", "parent_id", "ghost")
    for bad in ("", "a/b", " padded", "x" * 256, "defaults"):
        v1_error(v1.post("/projects", json={"id": bad}), 400, "invalid_input", "id")
    v1_error(v1.post("/projects", json={"id": "x", "name": ""}), 400, "invalid_input", "name")
    v1_error(v1.post("/projects", json={"id": "x", "colour": "red"}), 400, "invalid_input",
             "colour")
    v1_error(v1.post("/projects", json={"id": 5}), 400, "invalid_input", "id")
    v1_error(v1.get("/projects/ghost"), 404, "project_not_found", None, "ghost")
    assert ids(v1.ok("GET", "/projects")) == ["org"]
    assert revision(store) == before  # refusals write nothing


def test_a_project_seen_first_in_a_claim_is_a_root_and_can_be_moved(
        client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org")
    # A Placement client allocates for a project corral has never seen.
    rp = client.post("/resource_providers", json={"name": "rp1"}, headers={
        "x-auth-token": "admin", "openstack-api-version": "placement latest"}).json()["uuid"]
    headers = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
    client.put(f"/resource_providers/{rp}/inventories", headers=headers, json={
        "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}})
    r = client.put("/allocations/11111111-1111-1111-1111-111111111111", headers=headers, json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "keystone-abc",
        "user_id": "u1", "consumer_generation": None, "consumer_type": "INSTANCE"})
    assert r.status_code == 204, r.text
    assert ids(v1.ok("GET", "/projects?depth=0")) == ["keystone-abc", "org"]
    assert v1.ok("GET", "/projects/keystone-abc")["name"] is None
    moved = v1.ok("PATCH", "/projects/keystone-abc", json={"parent_id": "org"})
    assert moved["path"] == ["org", "keystone-abc"]
    # It holds a consumer: it cannot be deleted.
    v1_error(v1.delete("/projects/keystone-abc"), 409, "project_in_use", None,
             "1 consumer(s) in Placement")


# -- rename and move ---------------------------------------------------------------------------

def test_rename_and_move(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "a<org", "b<org", "a1<a", "a11<a1")
    before = revision(store)
    assert v1.ok("PATCH", "/projects/a1", json={"name": "Team A1"})["name"] == "Team A1"
    assert revision(store) == before + 1
    moved = v1.ok("PATCH", "/projects/a1", json={"parent_id": "b"})
    assert (moved["name"], moved["path"], moved["depth"]) == ("Team A1", ["org", "b", "a1"], 2)
    assert v1.ok("GET", "/projects/a11")["path"] == ["org", "b", "a1", "a11"]
    assert v1.ok("GET", "/projects/a")["children"] == []
    assert v1.ok("GET", "/projects/b")["children"] == ["a1"]
    both = v1.ok("PATCH", "/projects/a1", json={"parent_id": None, "name": None})
    assert (both["name"], both["parent_id"], both["path"]) == (None, None, ["a1"])
    assert ids(v1.ok("GET", "/projects?depth=0")) == ["a1", "org"]
    # Moving to where it is already changes nothing but is fine.
    assert v1.ok("PATCH", "/projects/a1", json={"parent_id": None})["path"] == ["a1"]


def test_bad_moves_are_refused(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "a<org", "a1<a", "b<org")
    v1_error(v1.patch("/projects/a", json={"parent_id": "a"}), 409, "project_cycle", None,
             "'a'")
    v1_error(v1.patch("/projects/org", json={"parent_id": "a1"}), 409, "project_cycle", None,
             "'org'", "'a1'")
    v1_error(v1.patch("/projects/a", json={"parent_id": "ghost"}), 400, "parent_not_found",
             "parent_id")
    v1_error(v1.patch("/projects/ghost", json={"name": "x"}), 404, "project_not_found")
    v1_error(v1.patch("/projects/a", json={}), 400, "invalid_input", None, "nothing to change")
    v1_error(v1.patch("/projects/a", json={"name": 3}), 400, "invalid_input", "name")
    assert v1.ok("GET", "/projects/a1")["path"] == ["org", "a", "a1"]


def test_a_tree_is_at_most_32_levels_deep(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "l0", *[f"l{i}<l{i - 1}" for i in range(1, 32)])
    assert v1.ok("GET", "/projects/l31")["depth"] == 31
    v1_error(v1.post("/projects", json={"id": "l32", "parent_id": "l31"}), 409,
             "tree_too_deep")
    tree(v1, "x", "y<x")
    v1_error(v1.patch("/projects/x", json={"parent_id": "l30"}), 409, "tree_too_deep", None,
             "'x'")
    v1.ok("PATCH", "/projects/y", json={"parent_id": "l30"})


@pytest.mark.corrupts_ledger  # usage planted in the ledger, no allocations
def test_a_move_carries_the_subtree_usage_along_the_ledger(client: TestClient,
                                                           store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "a<org", "b<org", "b1<b", "a1<a", "a11<a1")
    plant(store, "a1", "cores", 3)
    plant(store, "a11", "cores", 2)
    plant(store, "a11", "ram", 512)
    plant(store, "b1", "cores", 1)
    v1.ok("PATCH", "/projects/a1", json={"parent_id": "b1"})
    assert ledger(store) == {
        ("org", "cores"): (0, 6), ("org", "ram"): (0, 512),  # common ancestor: unchanged
        ("a", "cores"): (0, 0), ("a", "ram"): (0, 0),        # left
        ("b", "cores"): (0, 6), ("b", "ram"): (0, 512),      # joined (rows created)
        ("b1", "cores"): (1, 6), ("b1", "ram"): (0, 512),
        ("a1", "cores"): (3, 5), ("a1", "ram"): (0, 512),    # the subtree keeps its own
        ("a11", "cores"): (2, 2), ("a11", "ram"): (512, 512)}
    # Back to a root: every ancestor gives it up.
    v1.ok("PATCH", "/projects/a1", json={"parent_id": None})
    rows = ledger(store)
    assert [rows[(p, "cores")] for p in ("org", "b", "b1", "a1")] == [
        (0, 1), (0, 1), (1, 1), (3, 5)]


@pytest.mark.corrupts_ledger  # usage planted in the ledger, no allocations
def test_a_move_is_refused_when_the_subtree_usage_does_not_fit(client: TestClient,
                                                               store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "a<org", "b<org", "b1<b", "x", "x1<x")
    v1.ok("PUT", "/limits/b", json={"limits": {"cores": 10}})
    plant(store, "x1", "cores", 4)
    plant(store, "b1", "cores", 7)
    before = ledger(store)
    err = v1_error(v1.patch("/projects/x", json={"parent_id": "b1"}), 409,
                   "subtree_does_not_fit", None)
    for fragment in ("'x'", "new ancestor 'b'", "cores", "limit of 10", "7 in use", "uses 4"):
        assert fragment in err["message"], (fragment, err["message"])
    assert err["quota"] == {"project_id": "b", "resource": "cores", "limit": 10, "in_use": 7,
                            "requested": 4, "for_project": "x"}
    assert v1.ok("GET", "/projects/x")["parent_id"] is None
    assert ledger(store) == before
    # Within b (a common ancestor) a move needs no room in b: 7 + 7 > 10 is not asked.
    tree(v1, "b2<b")
    v1.ok("PATCH", "/projects/b1", json={"parent_id": "b2"})
    assert ledger(store)[("b", "cores")] == (0, 7)
    assert ledger(store)[("b2", "cores")] == (0, 7)
    # A limit raised makes room.
    v1.ok("PUT", "/limits/b", json={"limits": {"cores": 11}})
    v1.ok("PATCH", "/projects/x", json={"parent_id": "b1"})
    assert ledger(store)[("b", "cores")] == (0, 11)


def test_a_move_is_refused_when_the_subtree_limits_break_the_model(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "small<org", "big", "big1<big")
    v1.ok("PUT", "/limits/small", json={"limits": {"cores": 5}})
    v1.ok("PUT", "/limits/big1", json={"limits": {"cores": 8}})
    err = v1_error(v1.patch("/projects/big", json={"parent_id": "small"}), 409,
                   "move_breaks_limits")
    assert "'big1'" in err["message"] and "'small'" in err["message"], err
    assert v1.ok("GET", "/projects/big")["parent_id"] is None


# -- delete ----------------------------------------------------------------------------------

def test_delete_removes_limits_and_ledger_rows(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "leaf<org")
    v1.ok("PUT", "/limits/leaf", json={"limits": {"cores": 3}})
    plant(store, "leaf", "cores", 2)  # drift: nothing real uses it
    v1_error(v1.delete("/projects/org"), 409, "project_in_use", None, "1 child project(s)")
    r = v1.delete("/projects/leaf")
    assert r.status_code == 204, r.text
    v1_error(v1.get("/projects/leaf"), 404, "project_not_found")
    assert ledger(store) == {("org", "cores"): (0, 0)}  # given back by the ancestors
    with store.read() as repo:
        assert repo.project_limits() == {}
    v1_error(v1.delete("/projects/leaf"), 404, "project_not_found")
    assert v1.delete("/projects/org").status_code == 204
    assert v1.ok("GET", "/projects") == {"projects": []}


def test_delete_is_refused_while_instances_or_server_groups_remain(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "team<org")
    v1.ok("POST", "/server-groups", 201, json={"name": "g", "policy": "affinity",
                                               "project_id": "team"})
    v1_error(v1.delete("/projects/team"), 409, "project_in_use", None, "1 server group(s)")
    group = v1.ok("GET", "/server-groups?all_projects=true")["server_groups"][0]
    v1.ok("DELETE", f"/server-groups/{group['id']}", 204)

    v1.report("h1")
    flavor(v1, "small")
    vm = booted(v1, "vm1", project_id="team")
    err = v1_error(v1.delete("/projects/team"), 409, "project_in_use")
    assert "1 live instance(s)" in err["message"], err
    v1.ok("DELETE", f"/instances/{vm['id']}", 204)
    assert v1.delete("/projects/team").status_code == 204


# -- who may ---------------------------------------------------------------------------------

def test_only_the_admin_makes_roots_and_lists_every_root(client: TestClient,
                                                         store: Store) -> None:
    v1 = V1(client)
    tree(v1, "p1", "p2")
    member = v1.as_("alice:p1", "member")
    before = revision(store)
    for method, path, body in (("POST", "/projects", {"id": "new"}),
                               ("POST", "/projects", {"id": "new", "parent_id": "p2"}),
                               ("PATCH", "/projects/p2", {"name": "mine"}),
                               ("PATCH", "/projects/p1", {"parent_id": "p2"}),
                               ("DELETE", "/projects/p2", None),
                               ("GET", "/projects", None),
                               ("GET", "/projects/p2", None)):
        r = member.request(method, path, json=body)
        v1_error(r, 403, "forbidden")
    assert revision(store) == before
    assert v1.ok("GET", "/projects/p2")["name"] is None
    # A role in a project reads it and its subtree listing.
    assert member.get("/projects/p1").json()["id"] == "p1"
    assert ids(member.get("/projects?root=p1").json()) == ["p1"]
    v1_error(V1(client, token="").get("/projects"), 401, "unauthenticated")
