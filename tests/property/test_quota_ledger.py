"""The quota ledger under random trees, limits and boot/delete/resize sequences, by
hypothesis, through the HTTP API on a fresh SQLite database per example.

After every step:

- the audit is clean: the ledger equals a recount of the allocations and instances;
- no project's subtree usage exceeds its effective limit (own, else default, else
  unlimited) of any resource;
- a boot or resize was accepted exactly when its usage fitted under the limit of the
  project and of every ancestor (the hosts have room to spare, so only quotas refuse),
  and a refusal is a 403 ``quota_exceeded`` naming a level that really does not fit,
  with that level's limit and usage; a refused boot of several writes nothing.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store, make_store
from corral.persistence import tables as t

ADMIN = {"x-auth-token": "admin"}
#: name -> (cores, ram, disk)
FLAVORS = {"small": (1, 512, 1), "large": (2, 1024, 2)}
LIMITED = ("instances", "cores", "ram")
COUNTED = ("instances", "cores", "ram", "disk")
MAX_DEPTH = 4
ROOMY = {"vcpus": 64, "memory_mb": 65536, "disk_gb": 4000}


# -- strategies -----------------------------------------------------------------------------------

@st.composite
def trees(draw: st.DrawFn) -> dict[str, str | None]:
    """project -> parent (parents first), at most MAX_DEPTH levels."""
    n = draw(st.integers(1, 6))
    parents: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    for i in range(n):
        name = f"p{i}"
        choices = [None] + [p for p in parents if depth[p] < MAX_DEPTH]
        parent = draw(st.sampled_from(choices))
        parents[name] = parent
        depth[name] = 1 if parent is None else depth[parent] + 1
    return parents


limit_values = {
    "instances": st.none() | st.just(-1) | st.integers(0, 6),
    "cores": st.none() | st.just(-1) | st.integers(0, 8),
    "ram": st.none() | st.just(-1) | st.integers(0, 8).map(lambda n: n * 512),
}
limit_sets = st.fixed_dictionaries({res: values for res, values in limit_values.items()})
operations = st.lists(st.tuples(
    st.sampled_from(["boot", "boot", "boot", "delete", "resize", "confirm", "revert", "fail"]),
    st.integers(0, 1000), st.integers(0, 1), st.integers(1, 3)), min_size=1, max_size=12)


# -- the app --------------------------------------------------------------------------------------

@contextmanager
def fresh_app(template: Path, base: Path) -> Iterator[tuple[TestClient, Store]]:
    path = base / f"{uuid.uuid4().hex}.sqlite"
    shutil.copy(template, path)
    store = make_store(f"sqlite:///{path}")
    try:
        app = create_app(Settings(data_dir=str(base), audit_interval_s=0), store)
        with TestClient(app) as client:
            yield client, store
    finally:
        store.dispose()
        path.unlink(missing_ok=True)


def call(client: TestClient, method: str, path: str, **kw: Any) -> Any:
    return client.request(method, "/v1" + path, headers=ADMIN, **kw)


def ok(client: TestClient, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    r = call(client, method, path, **kw)
    assert r.status_code == status, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def subtree_usage(store: Store) -> dict[tuple[str, str], int]:
    u, p = t.quota_usage, t.projects
    with store.engine.begin() as conn:
        rows = conn.execute(select(p.c.external_id, u.c.resource, u.c.subtree)
                            .join(p, p.c.id == u.c.project_id))
        return {(pid, res): int(sub) for pid, res, sub in rows}


def chain(tree: dict[str, str | None], project: str) -> list[str]:
    out: list[str] = []
    node: str | None = project
    while node is not None:
        out.append(node)
        node = tree[node]
    return out


class Model:
    def __init__(self, client: TestClient, store: Store, tree: dict[str, str | None],
                 limits: dict[str, int]) -> None:
        self.client, self.store, self.tree = client, store, tree
        self.limits = limits  # "project/resource" -> effective limit (-1: none)

    def instances(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = ok(self.client, "GET", "/instances",
                                         params={"limit": 10000})["instances"]
        return sorted(found, key=lambda i: i["id"])

    def check_fit(self, r: Any, project: str, need: dict[str, int],
                  usage: dict[tuple[str, str], int], status: int) -> None:
        """Accepted (``status``) iff ``need`` fits at every level of ``project``'s chain."""
        stops = [(level, res) for level in chain(self.tree, project) for res, n in need.items()
                 if n > 0 and self.limit(level, res) != -1
                 and usage.get((level, res), 0) + n > self.limit(level, res)]
        event(f"{'refused' if stops else 'fits'}: {r.status_code}")
        if not stops:
            assert r.status_code == status, (r.status_code, r.text, project, need, usage)
            return
        assert r.status_code == 403, (r.status_code, r.text, stops, need, usage)
        q = r.json()["error"]["quota"]
        assert r.json()["error"]["code"] == "quota_exceeded"
        level, res = q["project_id"], q["resource"]
        assert (level, res) in stops, (q, stops)
        assert q["for_project"] == project
        assert (q["limit"], q["in_use"], q["requested"]) == (
            self.limit(level, res), usage.get((level, res), 0), need[res]), q

    def limit(self, project: str, res: str) -> int:
        return self.limits.get(f"{project}/{res}", -1)

    def step(self, kind: str, a: int, b: int, c: int) -> None:
        usage = subtree_usage(self.store)
        vms = self.instances()
        projects = list(self.tree)
        if kind == "boot":
            project = projects[a % len(projects)]
            flavor = sorted(FLAVORS)[b]
            cores, ram, disk = FLAVORS[flavor]
            r = call(self.client, "POST", "/instances", json={
                "name": "vm", "flavor": flavor, "project_id": project, "count": c})
            self.check_fit(r, project, {"instances": c, "cores": c * cores, "ram": c * ram,
                                        "disk": c * disk}, usage, 201)
            if r.status_code == 201:
                assert len(r.json()["instances"]) == c
                for vm in r.json()["instances"]:
                    if a % 3:  # some stay building, so that builds can fail
                        ok(self.client, "POST", f"/instances/{vm['id']}/build-report",
                           json={"status": "active"})
            else:
                assert [v["id"] for v in self.instances()] == [v["id"] for v in vms]
            return
        if not vms:
            return
        vm = vms[a % len(vms)]
        path = f"/instances/{vm['id']}"
        if kind == "delete":
            ok(self.client, "DELETE", path, 204)
        elif kind == "resize" and vm["state"] == "active":
            flavor = "large" if vm["flavor_id"] == self.flavor_ids["small"] else "small"
            cores, ram, disk = FLAVORS[flavor]
            r = call(self.client, "POST", path + "/resize", json={"flavor": flavor})
            self.check_fit(r, vm["project_id"], {"cores": cores, "ram": ram, "disk": disk},
                           usage, 200)
        elif kind in ("confirm", "revert") and vm["state"] == "verify_resize":
            ok(self.client, "POST", f"{path}/{kind}")
        elif kind == "fail" and vm["state"] == "building":
            ok(self.client, "POST", path + "/build-report", json={"status": "failed"})

    flavor_ids: dict[str, str]

    def check(self) -> None:
        report = ok(self.client, "POST", "/quota/audit", json={})
        assert report["clean"], report
        usage = subtree_usage(self.store)
        for project in self.tree:
            for res in LIMITED:
                limit = self.limit(project, res)
                assert limit == -1 or usage.get((project, res), 0) <= limit, (
                    project, res, usage.get((project, res)), limit)


def set_up(client: TestClient, tree: dict[str, str | None],
           limits: dict[str, dict[str, int | None]], defaults: dict[str, int | None]
           ) -> tuple[dict[str, int], dict[str, str]]:
    """Create the tree, hosts and flavors and set limits (top-down; a write the model
    refuses is skipped). Returns the effective limits as the quota view says them."""
    for project, parent in tree.items():
        ok(client, "POST", "/projects", 201, json={"id": project, "parent_id": parent})
    for i in range(2):
        r = call(client, "PUT", f"/hosts/h{i}", json=ROOMY)
        assert r.status_code in (200, 201), r.text
    ids = {}
    for name, (cores, ram, disk) in FLAVORS.items():
        ids[name] = ok(client, "POST", "/flavors", 201, json={
            "name": name, "vcpus": cores, "ram_mb": ram, "disk_gb": disk})["id"]
    wanted = {k: v for k, v in defaults.items() if v is not None}
    if wanted:
        ok(client, "PUT", "/limits/defaults", json={"limits": wanted})
    for project in tree:
        wanted = {k: v for k, v in limits[project].items() if v is not None}
        if wanted:
            r = call(client, "PUT", f"/limits/{project}", json={"limits": wanted})
            assert r.status_code in (200, 400), r.text  # 400: above an ancestor's
    effective: dict[str, int] = {}
    for project in tree:
        q = ok(client, "GET", f"/projects/{project}/quota")["resources"]
        for res in LIMITED:
            effective[f"{project}/{res}"] = q[res]["limit"] if res in q else -1
    return effective, ids


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quota-ledger")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tree=trees(), data=st.data(), ops=operations,
       defaults=st.fixed_dictionaries({"instances": limit_values["instances"],
                                       "cores": st.none() | st.integers(0, 8)}))
def test_the_ledger_equals_a_recount_and_no_limit_is_exceeded(
        sqlite_template: Path, workdir: Path, tree: dict[str, str | None], data: st.DataObject,
        ops: list[tuple[str, int, int, int]], defaults: dict[str, int | None]) -> None:
    limits = {project: data.draw(limit_sets, label=f"limits of {project}") for project in tree}
    with fresh_app(sqlite_template, workdir) as (client, store):
        effective, ids = set_up(client, tree, limits, defaults)
        model = Model(client, store, tree, effective)
        model.flavor_ids = ids
        model.check()
        for op in ops:
            model.step(*op)
            model.check()
