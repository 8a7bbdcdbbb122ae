"""POST /v1/quota/audit over HTTP: zero drift after real scenarios, and every drift or
orphaned allocation planted directly in the database is found, reported exactly, and
repaired in one go by ``fix``; ``project`` scopes the report; the last whole audit is
exported as the gauge ``corral_quota_drift``.

Every test takes ``client`` and ``store`` (the same database) and so runs on SQLite and
PostgreSQL. The ledger is corrupted with plain SQL on the store's engine.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, insert, select, update
from starlette.testclient import TestClient

from corral.persistence import Store
from corral.persistence import tables as t
from corral.persistence.clock import utcnow

from .helpers import V1
from .scheduling import booted, flavor
from .test_flavors import v1_error
from .test_projects import ledger, tree

PLACEMENT = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39"}
ROOMY = {"vcpus": 64, "memory_mb": 65536, "disk_gb": 2000}
SMALL = {"cores": 1, "ram": 512, "disk": 1}
CLASSES = {"VCPU": "cores", "MEMORY_MB": "ram", "DISK_GB": "disk"}


# -- helpers ---------------------------------------------------------------------------------------

def audit(v1: V1, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = v1.ok("POST", "/quota/audit", json=body)
    assert set(found) == {"clean", "fixed", "drifts", "orphans"}, found
    assert found["clean"] == (not found["drifts"] and not found["orphans"]), found
    return found


def drifts(report: dict[str, Any]) -> set[tuple[str, str, int, int, int, int]]:
    return {(d["project_id"], d["resource"], d["ledger_own"], d["actual_own"],
             d["ledger_subtree"], d["actual_subtree"]) for d in report["drifts"]}


def orphans(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(o["consumer"], o["project_id"], o["why"]) for o in report["orphans"]]


def active(v1: V1, name: str, project: str, flavor_name: str = "small") -> dict[str, Any]:
    vm = booted(v1, name, flavor_name, project_id=project)
    v1.ok("POST", f"/instances/{vm['id']}/build-report", json={"status": "active"})
    return vm


def project_row(store: Store, project: str) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(select(t.projects.c.id)
                                .where(t.projects.c.external_id == project)).scalar_one())


def consumer_rows(store: Store, consumer: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The consumer row and its allocation rows, to plant them again later."""
    co, al = t.consumers, t.allocations
    with store.engine.begin() as conn:
        row = conn.execute(select(co).where(co.c.uuid == consumer)).mappings().one()
        allocs = conn.execute(select(al.c.resource_provider_id, al.c.resource_class_id,
                                     al.c.used).where(al.c.consumer_id == row["id"])
                              ).mappings().all()
    assert allocs, f"{consumer} holds nothing"
    return dict(row), [dict(a) for a in allocs]


def replant(store: Store, consumer: dict[str, Any], allocs: list[dict[str, Any]]) -> None:
    """Put a consumer's allocations back (and the consumer, if it was removed)."""
    co, al = t.consumers, t.allocations
    now = utcnow()
    with store.engine.begin() as conn:
        cid = conn.execute(select(co.c.id).where(co.c.uuid == consumer["uuid"])).scalar()
        if cid is None:
            cid = conn.execute(insert(co).values(
                {k: v for k, v in consumer.items() if k != "id"}).returning(co.c.id)
            ).scalar_one()
        conn.execute(insert(al), [{**a, "consumer_id": cid, "created_at": now,
                                   "updated_at": now} for a in allocs])


def host_usage(client: TestClient, providers: list[str]) -> dict[str, int]:
    """Placement's usage summed over ``providers``, by resource class."""
    total = dict.fromkeys(CLASSES, 0)
    for rp in providers:
        r = client.get(f"/resource_providers/{rp}/usages", headers=PLACEMENT)
        assert r.status_code == 200, r.text
        for rc, n in r.json()["usages"].items():
            if rc in total:
                total[rc] += n
    return total


def gauge(client: TestClient, kind: str) -> float:
    text = client.get("/metrics", headers={"x-auth-token": "admin"}).text
    found = re.search(rf'^corral_quota_drift\{{kind="{kind}"\}} (\S+)$', text, re.M)
    assert found, text[:2000]
    return float(found.group(1))


def scenario(client: TestClient, store: Store) -> dict[str, Any]:
    """org > dept > team, and another root: boots, deletes, a confirmed and a reverted
    resize, a build that failed on every host, a server group. Returns what was made."""
    v1 = V1(client)
    tree(v1, "org", "dept<org", "team<dept", "other")
    v1.ok("PUT", "/limits/org", json={"limits": {"cores": 100, "instances": 20}})
    providers = [v1.report(f"h{i}", **ROOMY)["provider_uuid"] for i in range(3)]
    flavor(v1, "small", vcpus=1, ram_mb=512, disk_gb=1)
    flavor(v1, "large", vcpus=2, ram_mb=1024, disk_gb=2)

    grown = active(v1, "grown", "team")
    kept = active(v1, "kept", "dept")
    active(v1, "o1", "other", "large")
    gone = booted(v1, "gone", project_id="team")
    gone_rows = consumer_rows(store, gone["id"])
    assert v1.delete(f"/instances/{gone['id']}").status_code == 204
    gone2 = booted(v1, "gone2", project_id="other")
    assert v1.delete(f"/instances/{gone2['id']}").status_code == 204

    v1.ok("POST", f"/instances/{grown['id']}/resize", json={"flavor": "large"})
    with store.engine.begin() as conn:
        migration = conn.execute(select(t.instances.c.migration_uuid)
                                 .where(t.instances.c.uuid == grown["id"])).scalar_one()
    assert migration
    migration_rows = consumer_rows(store, migration)
    v1.ok("POST", f"/instances/{grown['id']}/confirm")
    v1.ok("POST", f"/instances/{kept['id']}/resize", json={"flavor": "large"})
    v1.ok("POST", f"/instances/{kept['id']}/revert")

    failing = booted(v1, "failing", project_id="team")
    failing_rows = consumer_rows(store, failing["id"])
    for _ in range(3):
        failed = v1.ok("POST", f"/instances/{failing['id']}/build-report",
                       json={"status": "failed"})
    assert failed["state"] == "error", failed

    v1.ok("POST", "/server-groups", 201,
          json={"name": "g", "policy": "anti-affinity", "project_id": "team"})
    return {"v1": v1, "providers": providers, "gone": gone["id"], "gone_rows": gone_rows,
            "failing": failing["id"],
            "failing_rows": failing_rows, "migration": migration,
            "migration_rows": migration_rows}


# -- zero drift after real work --------------------------------------------------------------------

def test_the_audit_is_clean_after_a_scenario(client: TestClient, store: Store) -> None:
    made = scenario(client, store)
    v1: V1 = made["v1"]
    report = audit(v1)
    assert report == {"clean": True, "fixed": False, "drifts": [], "orphans": []}
    assert audit(v1, fix=True) == {"clean": True, "fixed": True, "drifts": [], "orphans": []}
    assert gauge(client, "usage") == 0 and gauge(client, "orphans") == 0
    # the ledger holds what the scenario left: team has the resized and the failed one
    rows = ledger(store)
    assert rows[("team", "instances")] == (2, 2)  # grown + the one in error
    assert rows[("team", "cores")] == (2, 2)  # the failed build holds nothing
    assert rows[("dept", "cores")] == (1, 3)  # kept went back to small
    assert rows[("org", "cores")] == (0, 3)
    assert rows[("other", "cores")] == (2, 2)
    assert rows[("team", "server_groups")] == (1, 1)


def test_only_the_admin_audits(client: TestClient) -> None:
    member = V1(client, "alice:p1", "member")
    v1_error(member.post("/quota/audit", json={}), 403, "forbidden")
    v1_error(V1(client).post("/quota/audit", json={"project": "ghost"}), 404)


# -- planted drift -------------------------------------------------------------------------------

def test_every_planted_drift_is_reported_and_fixed_in_one_go(client: TestClient,
                                                              store: Store) -> None:
    made = scenario(client, store)
    v1: V1 = made["v1"]
    good = ledger(store)
    u = t.quota_usage
    team, dept, org, other = (project_row(store, p) for p in ("team", "dept", "org", "other"))
    with store.engine.begin() as conn:
        conn.execute(update(u).where(u.c.project_id == team, u.c.resource == "cores")
                     .values(own=u.c.own + 5))
        conn.execute(update(u).where(u.c.project_id == org, u.c.resource == "ram")
                     .values(subtree=0))
        conn.execute(delete(u).where(u.c.project_id == dept, u.c.resource == "instances"))
        conn.execute(insert(u).values(project_id=other, resource="CUSTOM_BOGUS", own=3,
                                      subtree=3))
    t_own, t_sub = good[("team", "cores")]
    o_own, o_sub = good[("org", "ram")]
    d_own, d_sub = good[("dept", "instances")]
    planted = {("team", "cores", t_own + 5, t_own, t_sub, t_sub),
               ("org", "ram", o_own, o_own, 0, o_sub),
               ("dept", "instances", 0, d_own, 0, d_sub),
               ("other", "CUSTOM_BOGUS", 3, 0, 3, 0)}

    report = audit(v1)
    assert (report["clean"], report["fixed"], orphans(report)) == (False, False, [])
    assert drifts(report) == planted and len(report["drifts"]) == len(planted)
    assert gauge(client, "usage") == len(planted) and gauge(client, "orphans") == 0
    assert ledger(store)[("team", "cores")] == (t_own + 5, t_sub)  # a report changes nothing

    fixed = audit(v1, fix=True)
    assert fixed["fixed"] is True and drifts(fixed) == planted
    assert audit(v1) == {"clean": True, "fixed": False, "drifts": [], "orphans": []}
    assert gauge(client, "usage") == 0
    after = {k: v for k, v in ledger(store).items() if v != (0, 0)}
    assert after == {k: v for k, v in good.items() if v != (0, 0)}


def test_a_corrupted_ledger_misleads_enforcement_until_fixed(client: TestClient,
                                                            store: Store) -> None:
    """Why drift matters: a ledger that says more than reality refuses a boot that fits."""
    v1 = V1(client)
    tree(v1, "dept", "team<dept")
    v1.report("h0", **ROOMY)
    flavor(v1, "small", vcpus=1, ram_mb=512, disk_gb=1)
    v1.ok("PUT", "/limits/dept", json={"limits": {"instances": 2}})
    booted(v1, "a", project_id="team")
    u = t.quota_usage
    with store.engine.begin() as conn:
        conn.execute(update(u).where(u.c.project_id == project_row(store, "dept"),
                                     u.c.resource == "instances").values(subtree=2))
    r = v1.post("/instances", json={"name": "b", "flavor": "small", "project_id": "team"})
    assert r.status_code == 403, r.text
    assert drifts(audit(v1, fix=True)) == {("dept", "instances", 0, 0, 2, 1)}
    booted(v1, "b", project_id="team")
    assert audit(v1)["clean"]


# -- orphans --------------------------------------------------------------------------------------

def test_orphaned_allocations_are_reported_and_given_back(client: TestClient,
                                                          store: Store) -> None:
    made = scenario(client, store)
    v1: V1 = made["v1"]
    providers: list[str] = made["providers"]
    good = ledger(store)
    clean_usage = host_usage(client, providers)
    # the deleted instance, the one in error and the confirmed migration hold again
    replant(store, *made["gone_rows"])
    replant(store, *made["failing_rows"])
    replant(store, *made["migration_rows"])
    held = host_usage(client, providers)
    assert {rc: held[rc] - clean_usage[rc] for rc in CLASSES} == {
        "VCPU": 3, "MEMORY_MB": 1536, "DISK_GB": 3}

    report = audit(v1)
    assert orphans(report) == sorted([
        (made["gone"], "team", "instance is deleted"),
        (made["failing"], "team", "instance is error"),
        (made["migration"], "team", "migration already confirmed or reverted")])
    # what they hold is real usage the ledger never counted: team and its ancestors
    extra = {"cores": 3, "ram": 1536, "disk": 3}
    expected = set()
    for project in ("team", "dept", "org"):
        for res, n in extra.items():
            own, sub = good[(project, res)]
            expected.add((project, res, own, own + (n if project == "team" else 0),
                          sub, sub + n))
    assert drifts(report) == expected
    assert gauge(client, "orphans") == 3 and gauge(client, "usage") == len(expected)

    fixed = audit(v1, fix=True)
    assert fixed["fixed"] is True and len(fixed["orphans"]) == 3
    assert audit(v1) == {"clean": True, "fixed": False, "drifts": [], "orphans": []}
    assert host_usage(client, providers) == clean_usage  # the hosts are free again
    assert gauge(client, "orphans") == 0 and gauge(client, "usage") == 0
    assert {k: v for k, v in ledger(store).items() if v != (0, 0)} == {
        k: v for k, v in good.items() if v != (0, 0)}
    for consumer in (made["gone"], made["failing"], made["migration"]):
        r = client.get(f"/allocations/{consumer}", headers=PLACEMENT)
        assert r.json()["allocations"] == {}, r.text


# -- scope ------------------------------------------------------------------------------------------

def test_project_scopes_the_report_and_the_fix(client: TestClient, store: Store) -> None:
    made = scenario(client, store)
    v1: V1 = made["v1"]
    good = ledger(store)
    u = t.quota_usage
    with store.engine.begin() as conn:
        for project, res in (("team", "cores"), ("dept", "ram"), ("org", "disk"),
                             ("other", "cores")):
            conn.execute(update(u).where(u.c.project_id == project_row(store, project),
                                         u.c.resource == res).values(own=u.c.own + 1))
    replant(store, *made["migration_rows"])  # an orphan of team's

    def planted(*projects: str) -> set[tuple[str, str, int, int, int, int]]:
        out = set()
        for project, res in (("team", "cores"), ("dept", "ram"), ("org", "disk"),
                             ("other", "cores")):
            if project in projects:
                own, sub = good[(project, res)]
                out.add((project, res, own + 1, own, sub, sub))
        return out

    def orphan_drift(*projects: str) -> set[tuple[str, str, int, int, int, int]]:
        out = set()
        for project in projects:
            for res, n in SMALL.items():
                own, sub = good[(project, res)]
                planted_here = (project, res) in {("team", "cores"), ("dept", "ram"),
                                                  ("org", "disk")}
                ledger_own = own + 1 if planted_here else own
                out.add((project, res, ledger_own,
                         own + (n if project == "team" else 0), sub, sub + n))
        return out

    migration_orphan = [(made["migration"], "team", "migration already confirmed or reverted")]
    other = audit(v1, project="other")
    assert drifts(other) == planted("other") and orphans(other) == []
    # a project's report covers its subtree and its ancestors
    dept = audit(v1, project="dept")
    team_chain = orphan_drift("team", "dept", "org")
    assert drifts(dept) == team_chain and orphans(dept) == migration_orphan
    whole = audit(v1)
    assert drifts(whole) == team_chain | planted("other")
    # the gauge follows whole audits only
    assert gauge(client, "usage") == len(whole["drifts"])
    audit(v1, project="other")
    assert gauge(client, "usage") == len(whole["drifts"])

    # fixing one tree leaves the other as it was
    assert audit(v1, project="team", fix=True)["fixed"] is True
    left = audit(v1)
    assert drifts(left) == planted("other") and orphans(left) == []
    assert audit(v1, project="other", fix=True)["fixed"] is True
    assert audit(v1)["clean"]
