"""Boots racing for the last units of a quota: two ``corral serve`` processes, one
database (SQLite or PostgreSQL: the ``store`` fixture), several client processes booting
at the same moment into sibling projects under one parent limit.

The hosts have room for every boot, so only quotas refuse. Whatever the interleaving:

- every boot got 201 or 403 ``quota_exceeded`` (never a 409, never a 500);
- exactly as many boots won as the limit allows, at every level that binds, and each
  refusal names the level that is full, with its limit and usage;
- the live instances are exactly the winners, the quota view counts them, and the audit
  afterwards finds the ledger equal to a recount.
"""

from __future__ import annotations

import time
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import httpx
import pytest
from integration.conftest import Server

from .clients import BARRIER_TIMEOUT, HEADERS, REQUEST_TIMEOUT, _run
from .conftest import race
from .test_scheduler_race import add_flavor, add_hosts, v1_client

pytestmark = pytest.mark.slow

RACERS = 6
BOOTS = 4
RACE_SECONDS = 120.0


def quota_booter(bases: list[str], flavor: str, projects: list[str], boots: int, seed: int,
                 barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """POST /v1/instances ``boots`` times (count 1), cycling through ``projects``,
    alternating servers; one record per boot."""
    def body() -> list[dict[str, Any]]:
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT, headers=HEADERS)
                   for b in bases]
        barrier.wait(BARRIER_TIMEOUT)
        for i in range(boots):
            if time.time() > deadline:
                break
            project = projects[(i + seed) % len(projects)]
            resp = clients[(i + seed) % len(clients)].post("/v1/instances", json={
                "name": f"q-{seed}-{i}", "flavor": flavor, "count": 1, "project_id": project})
            record: dict[str, Any] = {"racer": seed, "project": project,
                                      "status": resp.status_code, "detail": resp.text[:400]}
            if resp.status_code == 201:
                record["instances"] = [x["id"] for x in resp.json()["instances"]]
            elif resp.status_code in (403, 409):
                error = resp.json()["error"]
                record["code"] = error["code"]
                record["quota"] = error.get("quota")
            records.append(record)
        for c in clients:
            c.close()
        return records

    _run(queue, body)


# -- set-up and reading back -----------------------------------------------------------------------

def make_tree(server: Server, specs: list[str], limits: dict[str, dict[str, int]]) -> None:
    with v1_client(server) as api:
        for spec in specs:
            pid, _, parent = spec.partition("<")
            r = api.post("/v1/projects", json={"id": pid, "parent_id": parent or None})
            assert r.status_code == 201, r.text
        for project, values in limits.items():
            r = api.put(f"/v1/limits/{project}", json={"limits": values})
            assert r.status_code == 200, r.text


def boot_race(servers: list[Server], flavor: str,
              projects_of: list[list[str]]) -> list[dict[str, Any]]:
    bases = [s.url for s in servers]
    records = race(quota_booter, [(bases, flavor, projects, BOOTS, seed)
                                  for seed, projects in enumerate(projects_of)],
                   seconds=RACE_SECONDS)
    assert len(records) == len(projects_of) * BOOTS, "a racer ran out of time"
    bad = [r for r in records if r["status"] not in (201, 403)
           or (r["status"] == 403 and r["code"] != "quota_exceeded")]
    assert not bad, (Counter(r["status"] for r in records), bad[:3])
    return records


def won(records: list[dict[str, Any]], projects: set[str] | None = None) -> set[str]:
    return {i for r in records if r["status"] == 201
            and (projects is None or r["project"] in projects) for i in r["instances"]}


def refusals(records: list[dict[str, Any]]) -> Counter[tuple[str, str, str, int, int, int]]:
    """(booted into, named project, resource, limit, in use, requested) per refusal."""
    return Counter((r["project"], r["quota"]["project_id"], r["quota"]["resource"],
                    r["quota"]["limit"], r["quota"]["in_use"], r["quota"]["requested"])
                   for r in records if r["status"] == 403)


def live(server: Server) -> dict[str, str]:
    """instance id -> project, for every live instance."""
    with v1_client(server) as api:
        r = api.get("/v1/instances", params={"limit": 10000})
        assert r.status_code == 200, r.text
        return {i["id"]: i["project_id"] for i in r.json()["instances"]}


def subtree(server: Server, project: str, resource: str) -> tuple[int, int]:
    with v1_client(server) as api:
        r = api.get(f"/v1/projects/{project}/quota")
        assert r.status_code == 200, r.text
        q = r.json()["resources"][resource]
        return q["own"], q["subtree"]


def assert_audit_clean(server: Server) -> None:
    with v1_client(server) as api:
        r = api.post("/v1/quota/audit", json={})
        assert r.status_code == 200, r.text
        assert r.json() == {"clean": True, "fixed": False, "drifts": [], "orphans": []}


# -- the races -------------------------------------------------------------------------------------

SIBLINGS = ["s0", "s1", "s2", "s3"]
PARENT_CORES = 10


def test_siblings_never_take_more_than_the_parent_limit(servers: list[Server]) -> None:
    """Then (same servers): projects first seen in racing boots get the default limit."""
    add_hosts(servers[0], "q", count=3, slots=20)  # 60 boots' room: only quotas refuse
    flavor = add_flavor(servers[0])  # 1 core
    make_tree(servers[0], ["parent", *(f"{s}<parent" for s in SIBLINGS)],
              {"parent": {"cores": PARENT_CORES}})
    # each racer spreads its boots over the four siblings
    records = boot_race(servers, flavor, [SIBLINGS] * RACERS)  # 24 boots for 10 cores

    winners = won(records)
    assert len(winners) == PARENT_CORES, Counter(r["status"] for r in records)
    lost = RACERS * BOOTS - PARENT_CORES
    assert sum(refusals(records).values()) == lost
    assert all(named == "parent" and (res, limit, in_use, asked) == ("cores", 10, 10, 1)
               for _p, named, res, limit, in_use, asked in refusals(records)), refusals(records)
    assert set(live(servers[1])) == winners
    by_project = Counter(live(servers[0]).values())
    for s in SIBLINGS:
        assert subtree(servers[1], s, "cores") == (by_project[s], by_project[s])
    assert subtree(servers[0], "parent", "cores") == (0, PARENT_CORES)
    assert subtree(servers[0], "parent", "instances") == (0, PARENT_CORES)
    assert_audit_clean(servers[0])
    assert_audit_clean(servers[1])
    first_seen_in_racing_boots(servers, flavor)


ORG_CORES = 10
DEPT_CORES = 6


def test_limits_at_two_levels_both_bind(servers: list[Server]) -> None:
    """org (10 cores) > dept (6 cores) > g0, g1; and side, a sibling of dept.

    First every racer boots under dept: exactly 6 win, the rest are refused by dept (org
    has room). Then every racer boots into side and dept's children alike: dept's are all
    refused by dept, and exactly 4 more win in side before org refuses the rest."""
    add_hosts(servers[0], "q", count=3, slots=20)
    flavor = add_flavor(servers[0])
    make_tree(servers[0], ["org", "dept<org", "g0<dept", "g1<dept", "side<org"],
              {"org": {"cores": ORG_CORES}, "dept": {"cores": DEPT_CORES}})

    first = boot_race(servers, flavor, [["g0", "g1"]] * RACERS)
    assert len(won(first)) == DEPT_CORES
    assert set(refusals(first)) <= {(g, "dept", "cores", DEPT_CORES, DEPT_CORES, 1)
                                    for g in ("g0", "g1")}, refusals(first)
    assert subtree(servers[1], "dept", "cores") == (0, DEPT_CORES)
    assert_audit_clean(servers[1])

    second = boot_race(servers, flavor, [["side", "g0", "g1"]] * RACERS)
    assert won(second, {"g0", "g1"}) == set()
    assert len(won(second, {"side"})) == ORG_CORES - DEPT_CORES
    side_boots = sum(1 for r in second if r["project"] == "side")
    assert refusals(second) == Counter(
        {(g, "dept", "cores", DEPT_CORES, DEPT_CORES, 1):
            sum(1 for r in second if r["project"] == g) for g in ("g0", "g1")}
        | {("side", "org", "cores", ORG_CORES, ORG_CORES, 1):
           side_boots - (ORG_CORES - DEPT_CORES)})
    everything = won(first) | won(second)
    assert set(live(servers[0])) == everything
    assert subtree(servers[0], "org", "cores") == (0, ORG_CORES)
    assert subtree(servers[0], "dept", "cores") == (0, DEPT_CORES)
    assert subtree(servers[0], "side", "cores") == (ORG_CORES - DEPT_CORES,) * 2
    assert_audit_clean(servers[0])
    assert_audit_clean(servers[1])
    one_race_against_two_levels(servers, flavor)


def one_race_against_two_levels(servers: list[Server], flavor: str) -> None:
    """Both levels in one race: org (10) over dept (6, children g0 and g1) and side (a
    second tree, o2/d2, here). Whatever the order, org ends exactly full, dept never
    above 6, and every refusal names a level that was full when it was refused."""
    make_tree(servers[0], ["o2", "d2<o2", "h0<d2", "h1<d2", "side2<o2"],
              {"o2": {"cores": ORG_CORES}, "d2": {"cores": DEPT_CORES}})
    # 12 boots under dept and 12 into side: enough for org to fill whatever the order
    records = boot_race(servers, flavor, [["h0", "h1"]] * 3 + [["side2"]] * 3)
    assert len(won(records)) == ORG_CORES
    assert len(won(records, {"h0", "h1"})) <= DEPT_CORES
    for booted, named, res, limit, in_use, asked in refusals(records):
        assert (res, asked) == ("cores", 1)
        if named == "d2":
            assert booted in ("h0", "h1") and (limit, in_use) == (DEPT_CORES, DEPT_CORES)
        else:
            assert named == "o2" and (limit, in_use) == (ORG_CORES, ORG_CORES), named
    dept = len(won(records, {"h0", "h1"}))
    assert subtree(servers[1], "d2", "cores") == (0, dept)
    assert subtree(servers[1], "side2", "cores") == (ORG_CORES - dept,) * 2
    assert subtree(servers[1], "o2", "cores") == (0, ORG_CORES)
    assert_audit_clean(servers[0])


DEFAULT_INSTANCES = 5


def first_seen_in_racing_boots(servers: list[Server], flavor: str) -> None:
    """Two projects nobody created, both first seen in boots racing on both servers: each
    becomes a root once, and each gets exactly the default limit."""
    with v1_client(servers[0]) as api:
        r = api.put("/v1/limits/defaults", json={"limits": {"instances": DEFAULT_INSTANCES}})
        assert r.status_code == 200, r.text
    records = boot_race(servers, flavor, [["fresh-a", "fresh-b"]] * RACERS)
    for project in ("fresh-a", "fresh-b"):
        assert len(won(records, {project})) == DEFAULT_INSTANCES, Counter(
            (r["project"], r["status"]) for r in records)
        assert subtree(servers[1], project, "instances") == (DEFAULT_INSTANCES,) * 2
        with v1_client(servers[1]) as api:
            assert api.get(f"/v1/projects/{project}").json()["parent_id"] is None
    assert set(refusals(records)) == {
        (p, p, "instances", DEFAULT_INSTANCES, DEFAULT_INSTANCES, 1)
        for p in ("fresh-a", "fresh-b")}
    assert_audit_clean(servers[0])
