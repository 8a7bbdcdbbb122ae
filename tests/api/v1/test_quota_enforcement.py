"""Quota enforcement over HTTP: boots, deletes, resizes and migrations against limits set
at any level of the project tree.

A boot (resize, migration) that adds usage to a project must fit under the limit of the
project and of every ancestor; a refusal is a 403 ``quota_exceeded`` whose ``quota``
object names the project in the tree that stops it. Usage is read back through
``GET /v1/projects/{id}/quota`` (own and subtree usage per resource). Every test takes
``client`` and so runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from .helpers import V1
from .scheduling import boot, booted, flavor
from .test_projects import tree

#: Hosts with room to spare, so only quotas refuse.
ROOMY = {"vcpus": 64, "memory_mb": 65536, "disk_gb": 2000}


def setup(client: TestClient, *specs: str, hosts: int = 1) -> V1:
    """An admin client, the projects ``specs`` (see ``tree``), roomy hosts h0.. and the
    flavors small (1 core, 512 MB, 1 GB) and large (2 cores, 1024 MB, 2 GB)."""
    v1 = V1(client)
    tree(v1, *specs)
    for i in range(hosts):
        v1.report(f"h{i}", **ROOMY)
    flavor(v1, "small", vcpus=1, ram_mb=512, disk_gb=1)
    flavor(v1, "large", vcpus=2, ram_mb=1024, disk_gb=2)
    return v1


def limits(v1: V1, project: str, **values: int) -> None:
    v1.ok("PUT", f"/limits/{project}", json={"limits": values})


def used(v1: V1, project: str) -> dict[str, tuple[int, int]]:
    """resource -> (own, subtree), for resources with any usage."""
    q = v1.ok("GET", f"/projects/{project}/quota")["resources"]
    return {res: (r["own"], r["subtree"]) for res, r in q.items() if r["own"] or r["subtree"]}


def quota_refused(r: Any, project: str, resource: str, limit: int, in_use: int,
                  requested: int, for_project: str) -> dict[str, Any]:
    """A 403 quota_exceeded naming ``project`` as the level that stops the request."""
    assert r.status_code == 403, (r.status_code, r.text)
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == "quota_exceeded", error
    assert error["quota"] == {"project_id": project, "resource": resource, "limit": limit,
                              "in_use": in_use, "requested": requested,
                              "for_project": for_project}, error
    assert project in error["message"] and resource in error["message"], error
    return error


def live(v1: V1, project: str | None = None) -> list[str]:
    params: dict[str, Any] = {"limit": 10000}
    found = v1.ok("GET", "/instances", params=params)["instances"]
    return sorted(i["id"] for i in found
                  if project is None or i["project_id"] == project)


def active(v1: V1, name: str, project: str, flavor_name: str = "small") -> dict[str, Any]:
    vm = booted(v1, name, flavor_name, project_id=project)
    v1.ok("POST", f"/instances/{vm['id']}/build-report", json={"status": "active"})
    found: dict[str, Any] = v1.ok("GET", f"/instances/{vm['id']}")
    return found


SMALL = {"cores": 1, "ram": 512, "disk": 1, "instances": 1}


def times(n: int, per: dict[str, int] = SMALL) -> dict[str, tuple[int, int]]:
    return {res: (n * v, n * v) for res, v in per.items()}


# -- every level of the tree ---------------------------------------------------------------------

def test_a_limit_stops_a_boot_at_the_project_and_at_each_ancestor(client: TestClient) -> None:
    """team (1 instance) < dept (2) < org (3); siblings fill the upper levels in turn."""
    v1 = setup(client, "org", "dept<org", "team<dept", "sib<dept", "aunt<org")
    limits(v1, "org", instances=3)
    limits(v1, "dept", instances=2)
    limits(v1, "team", instances=1)
    booted(v1, "a", project_id="team")
    quota_refused(boot(v1, "b", project_id="team"), "team", "instances", 1, 1, 1, "team")

    limits(v1, "team", instances=2)
    booted(v1, "s", project_id="sib")  # dept: 2 of 2
    quota_refused(boot(v1, "b", project_id="team"), "dept", "instances", 2, 2, 1, "team")

    limits(v1, "dept", instances=3)
    booted(v1, "x", project_id="aunt")  # org: 3 of 3
    quota_refused(boot(v1, "b", project_id="team"), "org", "instances", 3, 3, 1, "team")
    # a boot straight into the middle level is stopped by the root too
    quota_refused(boot(v1, "e", project_id="dept"), "org", "instances", 3, 3, 1, "dept")

    assert used(v1, "team") == times(1)
    assert used(v1, "dept") == {res: (0, n) for res, (_own, n) in times(2).items()}
    assert used(v1, "org") == {res: (0, n) for res, (_own, n) in times(3).items()}
    assert len(live(v1)) == 3


def test_cores_at_the_root_name_the_root(client: TestClient) -> None:
    v1 = setup(client, "org", "dept<org", "team<dept")
    limits(v1, "org", cores=3)
    booted(v1, "a", "large", project_id="team")
    r = boot(v1, "b", "large", project_id="team")
    error = quota_refused(r, "org", "cores", 3, 2, 2, "team")
    assert "ancestor of team" in error["message"], error


def test_the_lowest_level_that_does_not_fit_is_named(client: TestClient) -> None:
    """Every level is full: the project itself is the one named."""
    v1 = setup(client, "org", "dept<org", "team<dept")
    for p in ("org", "dept", "team"):
        limits(v1, p, instances=1)
    booted(v1, "a", project_id="team")
    quota_refused(boot(v1, "b", project_id="team"), "team", "instances", 1, 1, 1, "team")


def test_siblings_share_their_parent_limit(client: TestClient) -> None:
    v1 = setup(client, "dept", "a<dept", "b<dept", "c<dept")
    limits(v1, "dept", cores=4)
    booted(v1, "a1", "large", project_id="a")
    booted(v1, "b1", project_id="b")
    booted(v1, "c1", project_id="c")
    quota_refused(boot(v1, "c2", project_id="c"), "dept", "cores", 4, 4, 1, "c")
    quota_refused(boot(v1, "a2", project_id="a"), "dept", "cores", 4, 4, 1, "a")
    assert used(v1, "dept")["cores"] == (0, 4)
    assert (used(v1, "a")["cores"], used(v1, "b")["cores"], used(v1, "c")["cores"]) == (
        (2, 2), (1, 1), (1, 1))


def test_a_delete_gives_usage_back(client: TestClient) -> None:
    v1 = setup(client, "dept", "a<dept", "b<dept")
    limits(v1, "dept", instances=2, ram=1024)
    first = booted(v1, "a1", project_id="a")
    booted(v1, "b1", project_id="b")
    quota_refused(boot(v1, "b2", project_id="b"), "dept", "instances", 2, 2, 1, "b")
    assert v1.delete(f"/instances/{first['id']}").status_code == 204
    assert used(v1, "a") == {}
    assert used(v1, "dept") == {res: (0, n) for res, (_o, n) in times(1).items()}
    booted(v1, "b2", project_id="b")  # the refused boot fits now
    assert used(v1, "b") == times(2)
    assert used(v1, "dept")["instances"] == (0, 2)


def test_a_count_over_the_limit_is_refused_entirely(client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept", hosts=3)
    limits(v1, "dept", instances=3)
    booted(v1, "a", project_id="team")
    before = live(v1)
    r = boot(v1, "batch", project_id="team", count=3)
    quota_refused(r, "dept", "instances", 3, 1, 3, "team")
    assert live(v1) == before
    assert used(v1, "team") == times(1)
    assert used(v1, "dept")["instances"] == (0, 1)
    # two fit exactly
    r = boot(v1, "batch", project_id="team", count=2)
    assert r.status_code == 201, r.text
    assert len(live(v1)) == 3 and used(v1, "dept")["instances"] == (0, 3)


def test_a_count_over_a_cores_limit_is_refused_entirely(client: TestClient) -> None:
    v1 = setup(client, "team", hosts=2)
    limits(v1, "team", cores=5)
    r = boot(v1, "batch", "large", project_id="team", count=3)  # 6 cores of 5
    quota_refused(r, "team", "cores", 5, 0, 6, "team")
    assert live(v1) == [] and used(v1, "team") == {}


# -- resize and migrate --------------------------------------------------------------------------

def test_a_resize_up_is_refused_past_the_parent_and_allowed_within(client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept", "other<dept", hosts=2)
    limits(v1, "dept", cores=4)
    vm = active(v1, "vm", "team")
    booted(v1, "o", project_id="other")  # dept: 2 of 4 cores
    booted(v1, "o2", project_id="other")  # dept: 3 of 4
    # small -> large holds both flavors until confirmed: 2 more cores, 1 left
    r = v1.post(f"/instances/{vm['id']}/resize", json={"flavor": "large"})
    quota_refused(r, "dept", "cores", 4, 3, 2, "team")
    assert v1.ok("GET", f"/instances/{vm['id']}")["state"] == "active"
    assert used(v1, "team")["cores"] == (1, 1) and used(v1, "dept")["cores"] == (0, 3)

    limits(v1, "dept", cores=5)  # room for exactly that
    resized = v1.ok("POST", f"/instances/{vm['id']}/resize", json={"flavor": "large"})
    assert resized["state"] == "verify_resize"
    assert used(v1, "team")["cores"] == (3, 3) and used(v1, "dept")["cores"] == (0, 5)
    v1.ok("POST", f"/instances/{vm['id']}/confirm")
    assert used(v1, "team") == {"cores": (2, 2), "ram": (1024, 1024), "disk": (2, 2),
                                "instances": (1, 1)}
    assert used(v1, "dept")["cores"] == (0, 4)


def test_a_reverted_resize_gives_the_new_flavor_back(client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept", hosts=2)
    limits(v1, "dept", cores=3)
    vm = active(v1, "vm", "team")
    v1.ok("POST", f"/instances/{vm['id']}/resize", json={"flavor": "large"})
    assert used(v1, "dept")["cores"] == (0, 3)
    v1.ok("POST", f"/instances/{vm['id']}/revert")
    assert used(v1, "team") == times(1) and used(v1, "dept")["cores"] == (0, 1)


def test_a_migration_counts_double_until_confirmed(client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept", hosts=2)
    limits(v1, "dept", cores=2)
    vm = active(v1, "vm", "team", "large")  # 2 cores: the limit
    r = v1.post(f"/instances/{vm['id']}/migrate", json={})
    quota_refused(r, "dept", "cores", 2, 2, 2, "team")
    assert v1.ok("GET", f"/instances/{vm['id']}")["state"] == "active"

    limits(v1, "dept", cores=4)
    moved = v1.ok("POST", f"/instances/{vm['id']}/migrate", json={})
    assert moved["state"] == "verify_resize"
    # source and destination both held, as the allocations are
    assert used(v1, "team") == {"cores": (4, 4), "ram": (2048, 2048), "disk": (4, 4),
                                "instances": (1, 1)}
    assert used(v1, "dept")["cores"] == (0, 4)
    # while it counts double, nothing else fits
    quota_refused(boot(v1, "x", project_id="team"), "dept", "cores", 4, 4, 1, "team")
    v1.ok("POST", f"/instances/{vm['id']}/confirm")
    assert used(v1, "team") == {"cores": (2, 2), "ram": (1024, 1024), "disk": (2, 2),
                                "instances": (1, 1)}
    assert used(v1, "dept")["cores"] == (0, 2)


# -- limits changing and missing -----------------------------------------------------------------

def test_lowering_a_limit_below_usage_is_allowed_and_refuses_new_boots(
        client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept")
    limits(v1, "dept", instances=5)
    for i in range(3):
        booted(v1, f"vm{i}", project_id="team")
    limits(v1, "dept", instances=1)  # below the 3 in use: allowed
    assert v1.ok("GET", "/limits/dept")["limits"]["instances"] == 1
    assert len(live(v1)) == 3  # nothing running is touched
    quota_refused(boot(v1, "more", project_id="team"), "dept", "instances", 1, 3, 1, "team")
    q = v1.ok("GET", "/projects/dept/quota")["resources"]["instances"]
    assert (q["limit"], q["subtree"], q["headroom"]["room"]) == (1, 3, 0)
    # deleting one still leaves it over: still refused; deletes are never refused
    for vm in live(v1)[:2]:
        assert v1.delete(f"/instances/{vm}").status_code == 204
    quota_refused(boot(v1, "more", project_id="team"), "dept", "instances", 1, 1, 1, "team")


def test_minus_one_and_no_limit_at_all_are_unlimited(client: TestClient) -> None:
    v1 = setup(client, "org", "dept<org", "team<dept", "free")
    limits(v1, "org", cores=-1, instances=-1)
    limits(v1, "team", ram=-1)
    body = boot(v1, "many", "large", project_id="team", count=10)
    assert body.status_code == 201, body.text
    body = boot(v1, "many", "large", project_id="free", count=10)  # nothing set anywhere
    assert body.status_code == 201, body.text
    assert used(v1, "org")["cores"] == (0, 20) and used(v1, "free")["cores"] == (20, 20)
    q = v1.ok("GET", "/projects/team/quota")["resources"]["cores"]
    assert (q["limit"], q["headroom"]) == (-1, {"room": None, "binding": None})


def test_default_limits_apply_to_a_project_with_none_of_its_own(client: TestClient) -> None:
    v1 = setup(client, "dept", "team<dept", "vip<dept")
    limits(v1, "dept", instances=-1)
    v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": 2}})
    limits(v1, "vip", instances=4)
    booted(v1, "t1", project_id="team")
    booted(v1, "t2", project_id="team")
    quota_refused(boot(v1, "t3", project_id="team"), "team", "instances", 2, 2, 1, "team")
    for i in range(4):  # its own limit wins over the default
        booted(v1, f"v{i}", project_id="vip")
    quota_refused(boot(v1, "v5", project_id="vip"), "vip", "instances", 4, 4, 1, "vip")
    assert used(v1, "dept")["instances"] == (0, 6)  # its own -1 wins over the default too


def test_the_default_applies_to_an_ancestor_without_a_limit(client: TestClient) -> None:
    v1 = setup(client, "dept", "a<dept", "b<dept")
    v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": 3}})
    limits(v1, "a", instances=3)
    limits(v1, "b", instances=3)
    booted(v1, "a1", project_id="a")
    booted(v1, "a2", project_id="a")
    booted(v1, "b1", project_id="b")
    quota_refused(boot(v1, "b2", project_id="b"), "dept", "instances", 3, 3, 1, "b")


def test_a_project_first_seen_in_a_boot_is_a_root_and_is_counted(client: TestClient) -> None:
    v1 = setup(client)
    v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": 2}})
    booted(v1, "n1", project_id="newcomer")
    shown = v1.ok("GET", "/projects/newcomer")
    assert shown["parent_id"] is None
    assert used(v1, "newcomer") == times(1)
    booted(v1, "n2", project_id="newcomer")
    quota_refused(boot(v1, "n3", project_id="newcomer"), "newcomer", "instances", 2, 2, 1,
                  "newcomer")
    # limits set afterwards count what it already has
    limits(v1, "newcomer", cores=2)
    v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": -1}})
    quota_refused(boot(v1, "n3", project_id="newcomer"), "newcomer", "cores", 2, 2, 1,
                  "newcomer")
