"""No role reaches a project outside its scope: the access matrix (docs/access.md).

For every route below, every caller (a stored token of each role at several places in
the tree, see ``tree.py``) acts on every project. Inside the caller's reach the call
succeeds; outside it is refused (403, or 404 for a thing named by id that the caller
may not see) and the database is exactly as it was, row for row.

The reach of a caller by kind of action:

    kind      admin  project-admin of P      member of P   reader of P
    operate   all    -                       -             -
    any       all    all                     all           all
    read      all    P and its descendants   P             P
    write     all    P and its descendants   P             -
    manage    all    P's descendants only    -             -
    delegate  all    P and its descendants   -             -

Adding a route is one ``Action`` line; an action whose route the app does not serve
(any more) fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from corral.domain.tokens import SECRET_PREFIX
from corral.persistence import Store, tables
from corral.persistence.clock import utcnow
from corral.services import tokens as token_svc
from corral.services.audit_log import local_actor

from .test_flavors import ADMIN
from .test_instances import add_host
from .tree import TREE, make_tree, snapshot, subtree, token

LOCAL = local_actor("tests")

ALL = set(TREE)

#: (role, project of the token)
CALLERS: list[tuple[str, str | None]] = [
    ("admin", None), ("project-admin", "dept-a"), ("project-admin", "team-a1"),
    ("member", "team-a1"), ("reader", "team-a1"), ("member", "dept-b"),
    ("reader", "outsider"),
]


def reach(role: str, home: str | None, kind: str) -> set[str]:
    """The projects a caller may act on with an action of ``kind``."""
    if role == "admin" or kind == "any":
        return ALL
    if kind == "operate":  # the routes of the fleet's operators and agents (hosts)
        return set()
    assert home is not None
    if role == "project-admin":
        return subtree(home) - {home} if kind == "manage" else subtree(home)
    if role == "member":
        return {home} if kind in ("read", "write") else set()
    return {home} if kind == "read" else set()


@dataclass
class World:
    client: TestClient
    store: Store
    made: Iterator[int] = field(default_factory=lambda: iter(range(10**6)))

    def name(self) -> str:
        return f"x{next(self.made)}"

    def instance_in(self, project: str) -> str:
        r = self.client.post("/v1/instances", headers=ADMIN, json={
            "name": self.name(), "flavor": "small", "project_id": project})
        assert r.status_code == 201, r.text
        found: str = r.json()["instances"][0]["id"]
        return found

    def group_in(self, project: str) -> str:
        r = self.client.post("/v1/server-groups", headers=ADMIN, json={
            "name": self.name(), "policy": "affinity", "project_id": project})
        assert r.status_code == 201, r.text
        found: str = r.json()["id"]
        return found

    def token_in(self, project: str) -> str:
        r = self.client.post("/v1/tokens", headers=ADMIN,
                             json={"role": "reader", "project_id": project})
        assert r.status_code == 201, r.text
        found: str = r.json()["id"]
        return found


#: body(world, target project) -> the JSON body of the request.
Body = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    """One route called by every caller on every project: ``route`` is the method and
    path as the app's OpenAPI document names them; ``{project_id}`` in the path is the
    target project, any other ``{...}`` the id ``setup`` made in it (as admin first)."""

    name: str
    kind: str  # operate | any | read | write | manage | delegate
    route: str
    body: Body | None = None
    setup: Callable[[World, str], str] | None = None
    refused: frozenset[int] = frozenset({403})
    by_query: bool = False  # the target project goes in ``?project_id=``

    def __str__(self) -> str:
        return self.name

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    def call(self, world: World, headers: dict[str, str], project: str, thing: str) -> Any:
        path = re.sub(r"\{(\w+)\}", lambda m: project if m[1] == "project_id" else thing,
                      self.path)
        return world.client.request(
            self.method, path, headers=headers,
            params={"project_id": project} if self.by_query else None,
            json=self.body(world, project) if self.body else None)


BY_ID = frozenset({403, 404})

ACTIONS = [
    Action("list flavors", "any", "GET /v1/flavors"),
    Action("boot", "write", "POST /v1/instances", lambda w, p: {
        "name": w.name(), "flavor": "small", "project_id": p}),
    Action("list instances", "read", "GET /v1/instances", by_query=True),
    Action("show instance", "read", "GET /v1/instances/{instance_id}",
           setup=World.instance_in, refused=BY_ID),
    Action("delete instance", "write", "DELETE /v1/instances/{instance_id}",
           setup=World.instance_in, refused=BY_ID),
    Action("create server group", "write", "POST /v1/server-groups", lambda w, p: {
        "name": w.name(), "policy": "affinity", "project_id": p}),
    Action("list server groups", "read", "GET /v1/server-groups", by_query=True),
    Action("show server group", "read", "GET /v1/server-groups/{group_id}",
           setup=World.group_in, refused=BY_ID),
    Action("delete server group", "write", "DELETE /v1/server-groups/{group_id}",
           setup=World.group_in, refused=BY_ID),
    Action("show project", "read", "GET /v1/projects/{project_id}"),
    Action("show quota", "read", "GET /v1/projects/{project_id}/quota"),
    Action("show limits", "read", "GET /v1/limits/{project_id}"),
    Action("set limits", "manage", "PUT /v1/limits/{project_id}",
           lambda w, p: {"limits": {"instances": 50}}),
    Action("rename project", "manage", "PATCH /v1/projects/{project_id}",
           lambda w, p: {"name": w.name()}),
    Action("create child project", "manage", "POST /v1/projects",
           lambda w, p: {"id": w.name(), "parent_id": p}),
    Action("create token", "delegate", "POST /v1/tokens",
           lambda w, p: {"role": "member", "project_id": p}),
    Action("list tokens", "delegate", "GET /v1/tokens", by_query=True),
    Action("revoke token", "delegate", "DELETE /v1/tokens/{token_id}",
           setup=World.token_in, refused=BY_ID),
    # Hosts are the operators' (and their agents'): no project reaches them.
    Action("heartbeat hosts", "operate", "POST /v1/hosts/heartbeats",
           lambda w, p: {"hosts": ["h1", "h2"]}),
    Action("heartbeat a host", "operate", "POST /v1/hosts/{name}/heartbeat",
           setup=lambda w, p: "h1"),
    # The server's settings and the fleet copied for a simulation (the CLI's config show
    # and simulate --fleet live): the cloud admin's only.
    Action("show the server's configuration", "operate", "GET /v1/config"),
    Action("copy the fleet for a simulation", "operate", "GET /v1/simulation/fleet"),
    Action("list the policy rules in effect", "operate", "GET /v1/policy"),
]


def unserved(client: TestClient, action: Action) -> str | None:
    """Why the app does not serve ``action``'s route, or None when it does."""
    paths = client.get("/openapi.json").json()["paths"]
    if action.path not in paths:
        return f"{action.path} is not a route of the app"
    if action.method.lower() not in paths[action.path]:
        return f"{action.path} does not answer {action.method} (it answers " \
               f"{', '.join(sorted(m.upper() for m in paths[action.path]))})"
    return None


@pytest.fixture
def world(client: TestClient, store: Store) -> World:
    make_tree(store)
    for name in ("h1", "h2"):
        add_host(client, name, {"vcpus": 64, "memory_mb": 262144, "disk_gb": 4000})
    r = client.post("/v1/flavors", headers=ADMIN,
                    json={"name": "small", "vcpus": 1, "ram_mb": 256, "disk_gb": 1})
    assert r.status_code == 201, r.text
    return World(client, store)


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_no_role_reaches_outside_its_scope(world: World, action: Action) -> None:
    # A route gone (renamed, removed) fails here: an action the matrix cannot make
    # is a hole in it, not a case to skip.
    missing = unserved(world.client, action)
    assert missing is None, f"{action.route}: {missing}; the access matrix checks it " \
                            "(docs/access.md): restore the route or update the matrix"
    callers = [(role, home, token(world.store, role, home)) for role, home in CALLERS]
    wrong: list[str] = []
    for role, home, headers in callers:
        allowed = reach(role, home, action.kind)
        for target in TREE:
            thing = action.setup(world, target) if action.setup else ""
            before = snapshot(world.store)
            r = action.call(world, headers, target, thing)
            who = f"{role}@{home} -> {target}: {r.status_code} {r.text[:200]}"
            if target in allowed:
                if not 200 <= r.status_code < 300:
                    wrong.append("refused " + who)
            elif r.status_code not in action.refused:
                wrong.append("let through " + who)
            elif snapshot(world.store) != before:
                wrong.append("changed the database " + who)
    assert not wrong, "\n".join(wrong)


def _strangers(world: World) -> dict[str, dict[str, str]]:
    """Callers no route may serve: no token, an empty one, a made-up stored secret, a
    stored admin token revoked after it was used (so this process had it cached) and an
    expired one."""
    made = token_svc.create_token(world.store, actor=LOCAL, role="admin", project_id=None)
    revoked = {"x-auth-token": made.secret}
    assert world.client.get("/v1/flavors", headers=revoked).status_code == 200
    r = world.client.delete(f"/v1/tokens/{made.token.uuid}", headers=ADMIN)
    assert r.status_code == 204, r.text
    expired = token(world.store, "admin", None, expires_in_days=1)
    with world.store.write() as repo:
        repo.conn.execute(update(tables.api_tokens).where(
            tables.api_tokens.c.revoked_at.is_(None)).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    return {"no token": {}, "empty token": {"x-auth-token": ""},
            "unknown secret": {"x-auth-token": SECRET_PREFIX + "x" * 43},
            "revoked": revoked, "expired": expired}


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_no_token_or_an_unusable_one_is_401_on_every_route(world: World,
                                                          action: Action) -> None:
    """Every route (the heartbeats and the lean boot route too) refuses an
    unauthenticated caller with the same 401 body, whatever the body, writing nothing."""
    thing = action.setup(world, "team-a1") if action.setup else ""
    strangers = _strangers(world)
    reference = world.client.get("/v1/flavors", headers={}).json()["error"]
    reference.pop("request_id")
    before = snapshot(world.store)
    for who, headers in strangers.items():
        r = action.call(world, headers, "team-a1", thing)
        assert r.status_code == 401, (who, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json", (who, r.headers)
        error = r.json()["error"]
        assert error.pop("request_id") == r.headers["x-openstack-request-id"], who
        assert error == reference, (who, error)
    assert snapshot(world.store) == before


def test_the_reach_table_itself() -> None:
    assert reach("project-admin", "dept-a", "read") == {"dept-a", "team-a1", "sub-a1x",
                                                          "team-a2"}
    assert reach("project-admin", "dept-a", "manage") == {"team-a1", "sub-a1x", "team-a2"}
    assert reach("member", "team-a1", "write") == {"team-a1"}
    assert reach("reader", "team-a1", "write") == set()
    assert reach("reader", "team-a1", "delegate") == set()


def test_a_project_admin_acts_by_id_in_its_descendants(world: World) -> None:
    headers = token(world.store, "project-admin", "dept-a")
    instance = world.instance_in("sub-a1x")
    r = world.client.get(f"/v1/instances/{instance}", headers=headers)
    assert r.status_code == 200 and r.json()["project_id"] == "sub-a1x", r.text
    listed = world.client.get("/v1/instances", headers=headers,
                              params={"project_id": "sub-a1x"}).json()["instances"]
    assert [i["id"] for i in listed] == [instance]
    assert world.client.delete(f"/v1/instances/{instance}", headers=headers).status_code == 204
    # Without a project asked, a project admin's list is its own project's.
    assert world.client.get("/v1/instances", headers=headers).json() == {"instances": []}


def test_noauth2_project_admin_role_reaches_the_subtree_too(world: World) -> None:
    """x-roles may carry project-admin under noauth2 (trusted, as every noauth2 role)."""
    headers = {"x-auth-token": "bob:dept-a", "x-roles": "project-admin"}
    assert world.client.get("/v1/instances", headers=headers,
                            params={"project_id": "team-a2"}).status_code == 200
    assert world.client.get("/v1/instances", headers=headers,
                            params={"project_id": "dept-b"}).status_code == 403
