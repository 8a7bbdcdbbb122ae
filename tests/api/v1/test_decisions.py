"""/v1/decisions over HTTP: the record of every scheduling decision, whole for admins and
redacted to categories and counts for project members.

Hosts have distinctive names so that a test can say none of them reaches a member.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from .test_flavors import ADMIN, member, v1_error
from .test_instances import (
    BIG,
    MID,
    SMALL,
    SMALL_FLAVOR,
    UUID,
    boot,
    boot_one,
    flavors,
    fleet,
    no_valid_host,
    report,
)

NAMES = ("host-alpha", "host-beta", "host-gamma")
RECORD_KEYS = {"kind", "request", "configuration", "funnel", "weighed", "placements",
               "attempts", "outcome", "reason", "elapsed_ms"}
MEMBER_RECORD_KEYS = {"kind", "request", "funnel", "attempts", "outcome", "reason",
                      "elapsed_ms"}
DECISION_KEYS = {"id", "kind", "outcome", "reason", "host", "elapsed_ms", "created_at",
                 "project_id", "instance_id"}


def three_hosts(client: TestClient) -> dict[str, str]:
    return fleet(client, **dict(zip(NAMES, (BIG, MID, SMALL), strict=True)))


def decision(client: TestClient, decision_id: str,
             headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    r = client.get(f"/v1/decisions/{decision_id}", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def decisions(client: TestClient, query: str = "",
              headers: dict[str, str] = ADMIN) -> list[dict[str, Any]]:
    r = client.get("/v1/decisions" + query, headers=headers)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["decisions"]
    return found


def no_host_names(body: Any) -> None:
    text = str(body)
    for name in NAMES:
        assert name not in text, (name, body)


def test_an_admin_sees_the_whole_record(client: TestClient) -> None:
    hosts = three_hosts(client)
    ids = flavors(client)
    vm = boot_one(client, member("p1"))
    d = decision(client, vm["decision_id"])
    assert set(d) == DECISION_KEYS | {"record"}
    assert {k: d[k] for k in ("id", "kind", "outcome", "reason", "host", "project_id",
                              "instance_id")} == {
        "id": vm["decision_id"], "kind": "boot", "outcome": "scheduled", "reason": None,
        "host": "host-alpha", "project_id": "p1", "instance_id": vm["id"]}
    assert d["elapsed_ms"] > 0
    record = d["record"]
    assert set(record) == RECORD_KEYS
    assert record["request"] == {
        "flavor": {"id": ids["small"], "name": "small"}, "resources": SMALL_FLAVOR,
        "required_traits": [], "forbidden_traits": [], "aggregate_specs": {},
        "availability_zone": None, "project_id": "p1", "user_id": "alice", "count": 1,
        "hints": {"same_host": [], "different_host": []}}
    configuration = record["configuration"]
    assert (configuration["strategy"], configuration["max_attempts"],
            configuration["host_subset_size"]) == ("spread", 3, 1)
    assert configuration["filters"][0] == "compute" and "resources" in configuration["filters"]
    assert configuration["defaults"]["cpu_allocation_ratio"] == 4.0
    assert record["funnel"][0] == {"step": "considered", "hosts": 3}
    assert record["funnel"][-1]["hosts"] == 3
    weighed = record["weighed"]
    assert [w["host"] for w in weighed] == list(NAMES)
    assert weighed[0]["score"] > weighed[1]["score"] > weighed[2]["score"]
    assert weighed[0]["components"]["ram"] == 1.0 and weighed[2]["components"]["ram"] == 0.0
    # the weighers that can tell these hosts apart (no build failed, no group asked)
    assert set(weighed[0]["components"]) == {"ram", "cpu", "disk"}
    assert weighed[0]["effective"]["ram_allocation_ratio"] == {"value": 1.0,
                                                               "source": "default"}
    assert record["placements"] == [{
        "instance": vm["id"], "host": "host-alpha", "alternates": ["host-beta", "host-gamma"],
        "allocations": {hosts["host-alpha"]: SMALL_FLAVOR}}]
    assert [(a["instance"], a["host"], a["result"]) for a in record["attempts"]] == [
        (vm["id"], "host-alpha", "claimed")]
    assert record["outcome"] == "scheduled"


def test_a_member_sees_a_redacted_record(client: TestClient) -> None:
    three_hosts(client)
    flavors(client)
    alice = member("p1")
    vm = boot_one(client, alice)
    report(client, vm["id"], "failed", message="host-alpha: disk on fire")
    d = decision(client, vm["decision_id"], alice)
    assert set(d) == DECISION_KEYS - {"host"} | {"record"}
    assert (d["id"], d["kind"], d["outcome"], d["instance_id"]) == (
        vm["decision_id"], "boot", "scheduled", vm["id"])
    record = d["record"]
    assert set(record) == MEMBER_RECORD_KEYS
    assert record["request"]["resources"] == SMALL_FLAVOR
    assert record["funnel"][0] == {"step": "considered", "hosts": 3}
    assert [(a["instance"], a["result"]) for a in record["attempts"]] == [
        (vm["id"], "claimed"), (vm["id"], "build_failed"), (vm["id"], "rescheduled")]
    no_host_names(d)
    # a reader of the project sees the same; the admin sees what was left out
    assert decision(client, vm["decision_id"], member("p1", "reader")) == d
    whole = decision(client, vm["decision_id"])
    assert whole["host"] == "host-alpha"
    assert whole["record"]["attempts"][1]["message"] == "host-alpha: disk on fire"


def test_another_projects_decision_is_not_found(client: TestClient) -> None:
    three_hosts(client)
    flavors(client)
    theirs = boot(client, member("p2"))["decision_id"]
    v1_error(client.get(f"/v1/decisions/{theirs}", headers=member("p1")), 404,
             "decision_not_found")
    v1_error(client.get("/v1/decisions/not-a-uuid", headers=member("p1")), 404,
             "decision_not_found")
    v1_error(client.get("/v1/decisions/6b1f5e0e-5d2b-4f55-9d0e-2d8c1f7d1c11",
                        headers=ADMIN), 404, "decision_not_found")
    v1_error(client.get(f"/v1/decisions/{theirs}"), 401, "unauthenticated")
    v1_error(client.get(f"/v1/decisions/{theirs}", headers=member("p2", "")), 403,
             "forbidden")
    assert decision(client, theirs, member("p2"))["project_id"] == "p2"
    assert decision(client, theirs)["project_id"] == "p2"
    assert decisions(client, headers=member("p1")) == []
    v1_error(client.get("/v1/decisions?project_id=p2", headers=member("p1")), 403, "forbidden")
    assert [d["id"] for d in decisions(client, "?project_id=p2")] == [theirs]


def test_a_refusal_is_recorded_with_its_explanation(client: TestClient) -> None:
    three_hosts(client)
    r = client.post("/v1/flavors", headers=ADMIN,
                    json={"name": "wide", "vcpus": 1, "ram_mb": 12288, "disk_gb": 1})
    assert r.status_code == 201, r.text
    boot(client, flavor="wide")  # only host-alpha could take it, and now it is full
    alice = member("p1")
    explanation = no_valid_host(client.post("/v1/instances", headers=alice,
                                            json={"name": "x", "flavor": "wide"}))
    refused = explanation["decision_id"]

    whole = decision(client, refused)
    assert (whole["kind"], whole["outcome"], whole["reason"], whole["host"],
            whole["instance_id"], whole["project_id"]) == (
        "boot", "no_valid_host", "no_capacity", None, None, "p1")
    recorded = whole["record"]["explanation"]
    assert (recorded["code"], recorded["resource_class"]) == ("no_capacity", "MEMORY_MB")
    assert {m["host"] for m in recorded["nearest_misses"]} == set(NAMES)
    assert sorted(n for b in recorded["buckets"] for n in b["host_names"]) == sorted(NAMES)
    assert "placements" not in whole["record"] and whole["record"]["weighed"] == []

    mine = decision(client, refused, alice)
    assert (mine["outcome"], mine["reason"]) == ("no_valid_host", "no_capacity")
    assert "nearest_misses" not in mine["record"]["explanation"]
    assert mine["record"]["explanation"]["resource_class"] == "MEMORY_MB"
    assert sum(b["hosts"] for b in mine["record"]["explanation"]["buckets"]) == 3
    no_host_names(mine)
    assert [d["id"] for d in decisions(client, headers=alice)] == [refused]


def test_decisions_of_an_instance_are_listed_newest_first(client: TestClient) -> None:
    three_hosts(client)
    flavors(client)
    alice = member("p1")
    vm = boot_one(client, alice)
    other = boot_one(client, alice)
    moved = report(client, vm["id"], "failed")
    assert moved["host"] == "host-beta"
    report(client, vm["id"], "active")
    r = client.post(f"/v1/instances/{vm['id']}/resize", headers=alice, json={"flavor": "large"})
    assert r.status_code == 200, r.text
    resized = r.json()

    mine = decisions(client, f"?instance={vm['id']}")
    assert [d["kind"] for d in mine] == ["resize", "reschedule", "boot"]
    assert [d["host"] for d in mine] == ["host-alpha", "host-beta", "host-alpha"]
    assert {d["instance_id"] for d in mine} == {vm["id"]}
    assert mine[0]["id"] == resized["decision_id"]
    assert mine[2]["id"] == vm["decision_id"]
    assert all(set(d) == DECISION_KEYS for d in mine)
    # a member's list has the same decisions, without hosts
    as_member = decisions(client, f"?instance={vm['id']}", alice)
    assert [d["id"] for d in as_member] == [d["id"] for d in mine]
    assert {d["host"] for d in as_member} == {None}
    assert [d["id"] for d in decisions(client, f"?instance={other['id']}")] == [
        other["decision_id"]]
    assert len(decisions(client, headers=alice)) == 4
    assert len(decisions(client, "?limit=2", alice)) == 2
    assert decisions(client, "?instance=6b1f5e0e-5d2b-4f55-9d0e-2d8c1f7d1c11") == []
    v1_error(client.get("/v1/decisions?limit=0", headers=alice), 400, "invalid_input", "limit")


def test_a_dry_run_is_recorded_and_claims_nothing(client: TestClient) -> None:
    three_hosts(client)
    flavors(client)
    r = client.post("/v1/instances", headers=member("p1"),
                    json={"name": "x", "flavor": "small", "dry_run": True})
    assert r.status_code == 200, r.text
    d = decision(client, r.json()["decision_id"])
    assert (d["kind"], d["outcome"], d["project_id"]) == ("boot", "dry_run", "p1")
    assert [p["host"] for p in d["record"]["placements"]] == ["host-alpha"]
    assert decision(client, d["id"], member("p1"))["outcome"] == "dry_run"
    r = client.get("/v1/instances", headers=ADMIN)
    assert r.json()["instances"] == []
    assert UUID.match(d["id"])
