"""/v1/instances over HTTP: boot, why no valid host, delete, build reports with retries
on alternates, resize and migrate with confirm and revert.

Every test takes ``client`` (or builds its app on ``store``) and so runs on SQLite and
PostgreSQL. Fleets are two or three hosts of different sizes, so that the spread
strategy's choice (most free RAM, vCPU and disk first) is known in advance: big before
mid before small. Usage is read back through Placement, where an instance is the
consumer of its allocations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .test_flavors import ADMIN, member, v1_error

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
PLACEMENT = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39"}

#: Three host sizes; spread prefers them in this order.
BIG = {"vcpus": 8, "memory_mb": 16384, "disk_gb": 200}
MID = {"vcpus": 4, "memory_mb": 8192, "disk_gb": 100}
SMALL = {"vcpus": 2, "memory_mb": 4096, "disk_gb": 50}
#: What a flavor asks of Placement, by flavor name (see ``flavors``).
SMALL_FLAVOR = {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}
LARGE_FLAVOR = {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 20}
NOTHING = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
INSTANCE_KEYS = {"id", "name", "project_id", "user_id", "flavor_id", "state",
                 "availability_zone", "requested_availability_zone", "server_group",
                 "new_flavor_id", "attempts",
                 "decision_id", "fault", "created_at", "updated_at"}
ADMIN_KEYS = INSTANCE_KEYS | {"host", "source_host", "alternates"}


# -- helpers ---------------------------------------------------------------------------------

def add_host(client: TestClient, name: str, size: dict[str, int]) -> str:
    """Register a host (it heartbeats by reporting); returns its provider uuid."""
    r = client.put(f"/v1/hosts/{name}", json=size, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    uuid: str = r.json()["provider_uuid"]
    return uuid


def fleet(client: TestClient, **sizes: dict[str, int]) -> dict[str, str]:
    """Hosts by name -> provider uuid; by default big, mid and small."""
    return {name: add_host(client, name, size)
            for name, size in (sizes or {"big": BIG, "mid": MID, "small": SMALL}).items()}


def flavors(client: TestClient) -> dict[str, str]:
    """Two public flavors (small and large) and a private one; name -> id."""
    out = {}
    for name, vcpus, ram, disk, public in (("small", 1, 1024, 10, True),
                                           ("large", 2, 4096, 20, True),
                                           ("secret", 1, 1024, 10, False)):
        r = client.post("/v1/flavors", headers=ADMIN, json={
            "name": name, "vcpus": vcpus, "ram_mb": ram, "disk_gb": disk, "is_public": public})
        assert r.status_code == 201, r.text
        out[name] = r.json()["id"]
    return out


def boot(client: TestClient, headers: dict[str, str] = ADMIN, status: int = 201,
         **body: Any) -> dict[str, Any]:
    if headers is ADMIN:  # an admin names the project it boots in
        body.setdefault("project_id", "admin")
    r = client.post("/v1/instances", headers=headers,
                    json={"name": "vm", "flavor": "small", **body})
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


def boot_one(client: TestClient, headers: dict[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    instances = boot(client, headers, **body)["instances"]
    assert len(instances) == 1, instances
    found: dict[str, Any] = instances[0]
    return found


def show(client: TestClient, instance: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    r = client.get(f"/v1/instances/{instance}", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def act(client: TestClient, instance: str, action: str, headers: dict[str, str] = ADMIN,
        **body: Any) -> Any:
    r = client.post(f"/v1/instances/{instance}/{action}", headers=headers, json=body)
    assert r.status_code == 200, (action, r.text)
    return r.json()


def report(client: TestClient, instance: str, status: str, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = act(client, instance, "build-report", status=status, **body)
    return found


def usage(client: TestClient, provider: str) -> dict[str, int]:
    r = client.get(f"/resource_providers/{provider}/usages", headers=PLACEMENT)
    assert r.status_code == 200, r.text
    usages: dict[str, int] = r.json()["usages"]
    return {rc: usages.get(rc, 0) for rc in NOTHING}


def usages(client: TestClient, hosts: dict[str, str]) -> dict[str, dict[str, int]]:
    return {name: usage(client, uuid) for name, uuid in hosts.items()}


def allocations(client: TestClient, consumer: str) -> dict[str, dict[str, int]]:
    """Provider uuid -> resources the consumer holds there (Placement's view)."""
    r = client.get(f"/allocations/{consumer}", headers=PLACEMENT)
    assert r.status_code == 200, r.text
    return {rp: a["resources"] for rp, a in r.json()["allocations"].items()}


def listed(client: TestClient, headers: dict[str, str] = ADMIN, query: str = "") -> list[str]:
    r = client.get("/v1/instances" + query, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(i["id"] for i in r.json()["instances"])


def no_valid_host(resp: Any) -> dict[str, Any]:
    """Check a 409 no_valid_host body; return its explanation."""
    assert resp.status_code == 409, (resp.status_code, resp.text)
    error = resp.json()["error"]
    assert set(error) == {"status", "code", "message", "field", "request_id", "explanation"}
    assert (error["status"], error["code"]) == (409, "no_valid_host"), error
    assert error["message"].startswith("No valid host: "), error
    assert resp.headers["x-openstack-request-id"] == error["request_id"]
    explanation: dict[str, Any] = error["explanation"]
    return explanation


def app_with(tmp_path: Path, store: Store, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(data_dir=str(tmp_path), **settings), store))


# -- boot ------------------------------------------------------------------------------------

def test_boot_claims_the_flavor_on_the_chosen_host(client: TestClient) -> None:
    hosts = fleet(client)
    ids = flavors(client)
    r = client.post("/v1/instances", headers=ADMIN,
                    json={"name": "web", "flavor": "small", "project_id": "p1"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"instances", "decision_id"}
    [vm] = body["instances"]
    assert r.headers["location"] == f"http://testserver/v1/instances/{vm['id']}"
    assert UUID.match(vm["id"]) and UUID.match(body["decision_id"])
    assert set(vm) == ADMIN_KEYS
    assert {k: vm[k] for k in ADMIN_KEYS - {"id", "created_at", "updated_at"}} == {
        "name": "web", "project_id": "p1", "user_id": "admin", "flavor_id": ids["small"],
        "state": "building", "availability_zone": None, "requested_availability_zone": None,
        "server_group": None, "new_flavor_id": None, "attempts": 1, "decision_id": body["decision_id"],
        "fault": None, "host": "big", "source_host": None, "alternates": ["mid", "small"]}
    assert show(client, vm["id"]) == vm

    # the instance is the Placement consumer of the flavor's resources on its host
    r = client.get(f"/allocations/{vm['id']}", headers=PLACEMENT)
    assert r.status_code == 200, r.text
    consumer = r.json()
    assert consumer["allocations"][hosts["big"]]["resources"] == SMALL_FLAVOR
    assert list(consumer["allocations"]) == [hosts["big"]]
    assert (consumer["project_id"], consumer["user_id"]) == ("p1", "admin")
    assert consumer["consumer_type"] == "INSTANCE"
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": NOTHING, "small": NOTHING}


def test_count_boots_numbered_instances_in_one_decision(client: TestClient) -> None:
    hosts = fleet(client, a=MID, b=MID)
    flavors(client)
    body = boot(client, name="batch", count=3)
    names = [i["name"] for i in body["instances"]]
    assert names == ["batch-1", "batch-2", "batch-3"]
    assert {i["decision_id"] for i in body["instances"]} == {body["decision_id"]}
    assert len({i["id"] for i in body["instances"]}) == 3
    for vm in body["instances"]:
        assert allocations(client, vm["id"]) == {hosts[vm["host"]]: SMALL_FLAVOR}
    # spread: each pick sees the ones before it, so two equal hosts share them 2 + 1
    assert sorted(sum(u["VCPU"] for u in [usage(client, p)]) for p in hosts.values()) == [1, 2]
    assert listed(client) == sorted(i["id"] for i in body["instances"])


def test_no_location_for_a_boot_of_several(client: TestClient) -> None:
    fleet(client, a=MID)
    flavors(client)
    r = client.post("/v1/instances", headers=ADMIN, json={"name": "x", "flavor": "small",
                                                          "count": 2, "project_id": "p1"})
    assert r.status_code == 201, r.text
    assert "location" not in r.headers


def test_dry_run_says_where_and_claims_nothing(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    r = client.post("/v1/instances", headers=ADMIN,
                    json={"name": "vm", "flavor": "small", "count": 2, "dry_run": True,
                          "project_id": "p1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dry_run"], body["fits"]) == (True, 2)
    assert [p["host"] for p in body["placements"]] == ["big", "big"]
    assert body["funnel"][0] == {"step": "considered", "hosts": 3}
    assert [w["host"] for w in body["weighed"]] == ["big", "mid", "small"]
    assert "location" not in r.headers
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    assert listed(client) == []

    # a member learns that it fits, not where
    r = client.post("/v1/instances", headers=member("p1"),
                    json={"name": "vm", "flavor": "small", "dry_run": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"dry_run", "decision_id", "fits", "funnel"}, body
    assert body["fits"] == 1
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    assert listed(client) == []


def test_a_member_boots_in_their_project_and_sees_no_host(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    alice = member("p1")
    vm = boot_one(client, alice, name="mine")
    assert set(vm) == INSTANCE_KEYS
    assert (vm["project_id"], vm["user_id"], vm["state"]) == ("p1", "alice", "building")
    assert show(client, vm["id"], alice) == vm
    assert set(show(client, vm["id"], member("p1", "reader"))) == INSTANCE_KEYS
    assert show(client, vm["id"])["host"] == "big"
    assert allocations(client, vm["id"]) == {hosts["big"]: SMALL_FLAVOR}
    assert listed(client, alice) == [vm["id"]]
    assert listed(client, member("p2")) == []
    r = client.get("/v1/instances", headers=alice)
    assert all("host" not in i for i in r.json()["instances"])
    # booting in their own project by name is fine; in another one is not
    assert boot_one(client, alice, project_id="p1")["project_id"] == "p1"
    v1_error(client.post("/v1/instances", headers=alice,
                         json={"name": "x", "flavor": "small", "project_id": "p2"}),
             403, "forbidden")
    v1_error(client.post("/v1/instances", headers=alice,
                         json={"name": "x", "flavor": "small", "user_id": "bob"}),
             403, "forbidden")
    v1_error(client.post("/v1/instances", headers=member("p1", "reader"),
                         json={"name": "x", "flavor": "small"}), 403, "forbidden")
    v1_error(client.post("/v1/instances", json={"name": "x", "flavor": "small"}), 401,
             "unauthenticated")
    # an admin may list by host, a member may not
    assert len(listed(client, ADMIN, "?host=big")) == 2
    assert listed(client, ADMIN, "?host=mid") == []
    v1_error(client.get("/v1/instances?host=big", headers=alice), 403, "forbidden")
    assert len(listed(client, alice, "?state=building")) == 2
    assert listed(client, alice, "?state=active") == []


def test_a_private_flavor_is_not_found_for_a_project_without_access(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    v1_error(client.post("/v1/instances", headers=member("p1"),
                         json={"name": "x", "flavor": "secret"}), 404, "flavor_not_found")
    v1_error(client.post("/v1/instances", headers=member("p1"),
                         json={"name": "x", "flavor": "no-such-flavor"}), 404,
             "flavor_not_found")
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    # given access, the project may boot it; an admin may always
    r = client.post("/v1/flavors/secret/access", headers=ADMIN, json={"project_id": "p1"})
    assert r.status_code in (200, 201), r.text
    assert boot_one(client, member("p1"), flavor="secret")["state"] == "building"
    assert boot_one(client, ADMIN, flavor="secret", project_id="p9")["project_id"] == "p9"
    v1_error(client.post("/v1/instances", headers=member("p2"),
                         json={"name": "x", "flavor": "secret"}), 404, "flavor_not_found")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bad_input_is_a_400_naming_the_field(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"count": 0}, "count"),
        ({"count": 101}, "count"),
        ({"count": "2"}, "count"),
        ({"name": ""}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"name": None}, "name"),
        ({"hints": {"same_host": ["not-a-uuid"]}}, "hints.same_host"),
        ({"hints": {"different_host": ["1234"]}}, "hints.different_host"),
        ({"hints": {"near": []}}, "hints.near"),
        ({"colour": "red"}, "colour"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"availability_zone": " "}, "availability_zone"),
    ]
    for extra, field in cases:
        r = client.post("/v1/instances", headers=member("p1"),
                        json={"name": "vm", "flavor": "small", **extra})
        v1_error(r, 400, "invalid_input", field)
    r = client.post("/v1/instances", headers=member("p1"), json={"name": "vm"})
    v1_error(r, 400, "invalid_input", "flavor")
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    assert listed(client) == []


def test_a_server_group_of_another_project_is_not_found(client: TestClient) -> None:
    fleet(client)
    flavors(client)
    r = client.post("/v1/server-groups", headers=member("p2"),
                    json={"name": "theirs", "policy": "anti-affinity"})
    assert r.status_code == 201, r.text
    theirs = r.json()["id"]
    v1_error(client.post("/v1/instances", headers=member("p1"),
                         json={"name": "x", "flavor": "small", "server_group": theirs}),
             404, "server_group_not_found")
    assert listed(client) == []
    vm = boot_one(client, member("p2"), server_group=theirs)
    assert vm["server_group"] == theirs
    r = client.get(f"/v1/server-groups/{theirs}", headers=member("p2"))
    assert r.json()["members"] == [vm["id"]]


def test_hints_place_next_to_or_away_from_other_instances(client: TestClient) -> None:
    fleet(client)
    flavors(client)
    first = boot_one(client)
    assert first["host"] == "big"
    near = boot_one(client, hints={"same_host": [first["id"]]})
    assert near["host"] == "big"
    away = boot_one(client, hints={"different_host": [first["id"], near["id"]]})
    assert away["host"] == "mid"


# -- no valid host -----------------------------------------------------------------------------

def test_no_valid_host_explains_by_category_to_members(client: TestClient) -> None:
    hosts = fleet(client, **{"host-alpha": MID, "host-beta": MID})
    flavors(client)
    boot(client, count=2, flavor="large")  # 4096 MB each of 7680 usable: one per host
    before = usages(client, hosts)
    instances = listed(client)
    alice = member("p1")

    r = client.post("/v1/instances", headers=alice, json={"name": "x", "flavor": "large"})
    explanation = no_valid_host(r)
    assert "MEMORY_MB" in r.json()["error"]["message"]
    assert {k: explanation[k] for k in ("code", "filter", "resource_class", "kind",
                                        "retry_can_help")} == {
        "code": "no_capacity", "filter": "resources", "resource_class": "MEMORY_MB",
        "kind": "transient", "retry_can_help": True}
    assert UUID.match(explanation["decision_id"])
    funnel = {step["step"]: step for step in explanation["funnel"]}
    assert funnel["considered"] == {"step": "considered", "hosts": 2}
    assert funnel["resources"] == {"step": "resources", "hosts": 0, "removed": 2}
    assert "nearest_misses" not in explanation
    [bucket] = explanation["buckets"]
    assert bucket == {"code": "no_capacity", "filter": "resources",
                      "resource_class": "MEMORY_MB", "hosts": 2,
                      "message": "2 hosts: not enough free MEMORY_MB"}
    assert "host-alpha" not in r.text and "host-beta" not in r.text

    # nothing was written
    assert usages(client, hosts) == before
    assert listed(client) == instances
    assert listed(client, alice) == []


def test_no_valid_host_names_hosts_and_figures_to_admins(client: TestClient) -> None:
    hosts = fleet(client, a=MID, b=MID)
    flavors(client)
    boot(client, count=2, flavor="large")
    before = usages(client, hosts)
    explanation = no_valid_host(client.post("/v1/instances", headers=ADMIN,
                                            json={"name": "x", "flavor": "large",
                                                  "project_id": "admin"}))
    assert (explanation["code"], explanation["resource_class"]) == ("no_capacity", "MEMORY_MB")
    [bucket] = explanation["buckets"]
    assert sorted(bucket["host_names"]) == ["a", "b"]
    assert bucket["figures"] == {"needed": 4096, "best_free": 7680 - 4096,
                                 "best_host": bucket["figures"]["best_host"]}
    assert bucket["figures"]["best_host"] in ("a", "b")
    assert "needs 4096 MB free RAM" in bucket["message"]
    misses = explanation["nearest_misses"]
    assert sorted(m["host"] for m in misses) == ["a", "b"]
    assert misses[0]["lacks"] == [{"resource_class": "MEMORY_MB", "needed": 4096,
                                   "free": 3584, "short": 512}]
    assert usages(client, hosts) == before


def test_a_flavor_no_host_can_ever_take_is_structural(client: TestClient) -> None:
    fleet(client, a=SMALL)
    r = client.post("/v1/flavors", headers=ADMIN,
                    json={"name": "huge", "vcpus": 1, "ram_mb": 65536, "disk_gb": 1})
    assert r.status_code == 201, r.text
    explanation = no_valid_host(client.post("/v1/instances", headers=member("p1"),
                                            json={"name": "x", "flavor": "huge"}))
    assert (explanation["kind"], explanation["retry_can_help"]) == ("structural", False)
    assert explanation["resource_class"] == "MEMORY_MB"


def test_a_count_that_fits_only_partly_claims_nothing(client: TestClient) -> None:
    hosts = fleet(client, a=MID, b=MID)
    flavors(client)
    # 7 x 1024 MB fit per host (7680 usable): 14 fit, 15 do not
    explanation = no_valid_host(client.post(
        "/v1/instances", headers=member("p1"),
        json={"name": "x", "flavor": "small", "count": 15}))
    assert explanation["code"] == "no_capacity"
    assert explanation["placed_before_refusal"] == 14
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    assert listed(client) == []
    body = boot(client, member("p1"), name="x", count=14)
    assert len(body["instances"]) == 14
    assert {u["MEMORY_MB"] for u in usages(client, hosts).values()} == {7 * 1024}


# -- delete ----------------------------------------------------------------------------------

def test_delete_gives_everything_back(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    alice = member("p1")
    vm = boot_one(client, alice)
    other = boot_one(client, member("p2"))
    assert usage(client, hosts["big"]) == {rc: 2 * n for rc, n in SMALL_FLAVOR.items()}

    # another project's instance is not there for a member, nor for a reader to delete
    v1_error(client.delete(f"/v1/instances/{other['id']}", headers=alice), 404,
             "instance_not_found")
    v1_error(client.get(f"/v1/instances/{other['id']}", headers=alice), 404,
             "instance_not_found")
    v1_error(client.delete(f"/v1/instances/{vm['id']}", headers=member("p1", "reader")), 403,
             "forbidden")

    r = client.delete(f"/v1/instances/{vm['id']}", headers=alice)
    assert r.status_code == 204, r.text
    assert usage(client, hosts["big"]) == SMALL_FLAVOR
    assert allocations(client, vm["id"]) == {}
    v1_error(client.delete(f"/v1/instances/{vm['id']}", headers=alice), 404,
             "instance_not_found")
    v1_error(client.get(f"/v1/instances/{vm['id']}", headers=alice), 404, "instance_not_found")
    assert listed(client, alice) == []
    assert listed(client) == [other["id"]]

    assert client.delete(f"/v1/instances/{other['id']}", headers=ADMIN).status_code == 204
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    v1_error(client.get("/v1/instances/not-a-uuid", headers=ADMIN), 404, "instance_not_found")


def test_deleting_during_a_resize_frees_source_and_destination(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client)
    report(client, vm["id"], "active")
    act(client, vm["id"], "resize", flavor="large")
    assert usage(client, hosts["big"]) == SMALL_FLAVOR
    assert usage(client, hosts["mid"]) == LARGE_FLAVOR
    assert client.delete(f"/v1/instances/{vm['id']}", headers=ADMIN).status_code == 204
    assert usages(client, hosts) == {name: NOTHING for name in hosts}


# -- build reports ---------------------------------------------------------------------------

def test_a_build_report_makes_the_instance_active(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client, member("p1"))
    # only admins (the hosts) report builds
    v1_error(client.post(f"/v1/instances/{vm['id']}/build-report", headers=member("p1"),
                         json={"status": "active"}), 403, "forbidden")
    for body, field in (({"status": "done"}, "status"), ({}, "status"),
                        ({"status": "active", "extra": 1}, "extra")):
        v1_error(client.post(f"/v1/instances/{vm['id']}/build-report", headers=ADMIN,
                             json=body), 400, "invalid_input", field)
    active = report(client, vm["id"], "active")
    assert (active["state"], active["host"], active["attempts"]) == ("active", "big", 1)
    assert show(client, vm["id"], member("p1"))["state"] == "active"
    assert allocations(client, vm["id"]) == {hosts["big"]: SMALL_FLAVOR}
    # a second report finds it no longer building
    v1_error(client.post(f"/v1/instances/{vm['id']}/build-report", headers=ADMIN,
                         json={"status": "failed"}), 409, "invalid_state")
    assert show(client, vm["id"])["state"] == "active"
    v1_error(client.post("/v1/instances/6b1f5e0e-5d2b-4f55-9d0e-2d8c1f7d1c11/build-report",
                         headers=ADMIN, json={"status": "active"}), 404, "instance_not_found")


def test_a_failed_build_moves_to_the_first_alternate(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client)
    assert (vm["host"], vm["alternates"]) == ("big", ["mid", "small"])
    moved = report(client, vm["id"], "failed", message="disk on fire")
    assert (moved["state"], moved["host"], moved["attempts"]) == ("building", "mid", 2)
    assert moved["alternates"] == ["small"]
    assert moved["fault"] == "disk on fire"
    assert allocations(client, vm["id"]) == {hosts["mid"]: SMALL_FLAVOR}
    assert usages(client, hosts) == {"big": NOTHING, "mid": SMALL_FLAVOR, "small": NOTHING}

    active = report(client, vm["id"], "active")
    assert (active["state"], active["host"], active["attempts"]) == ("active", "mid", 2)
    assert active["fault"] is None

    # the instance keeps its boot decision, which lists every attempt; the retry's own
    # decision is named in its attempt
    assert moved["decision_id"] == active["decision_id"] == vm["decision_id"]
    r = client.get(f"/v1/decisions/{vm['decision_id']}", headers=ADMIN)
    assert r.status_code == 200, r.text
    attempts = r.json()["record"]["attempts"]
    assert [(a["instance"], a["host"], a["result"]) for a in attempts] == [
        (vm["id"], "big", "claimed"), (vm["id"], "big", "build_failed"),
        (vm["id"], "mid", "rescheduled"), (vm["id"], "mid", "active")]
    assert attempts[1]["message"] == "disk on fire"
    assert r.json()["outcome"] == "scheduled"
    r = client.get(f"/v1/decisions/{attempts[2]['decision']}", headers=ADMIN)
    assert r.status_code == 200, r.text
    retry = r.json()
    assert (retry["kind"], retry["outcome"], retry["host"], retry["instance_id"]) == (
        "reschedule", "scheduled", "mid", vm["id"])
    assert retry["record"]["request"]["host"] == "mid"
    assert retry["record"]["request"]["exclude_hosts"] == ["big"]
    assert listed(client, ADMIN, "?host=mid") == [vm["id"]]
    assert listed(client, ADMIN, "?host=big") == []


def test_after_max_attempts_the_instance_is_in_error_and_holds_nothing(
        client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client)
    seen = [vm["host"]]
    for _ in range(2):
        vm = report(client, vm["id"], "failed")
        seen.append(vm["host"])
    assert seen == ["big", "mid", "small"]
    assert vm["attempts"] == 3
    failed = report(client, vm["id"], "failed", message="no network")
    assert (failed["state"], failed["host"], failed["alternates"]) == ("error", None, [])
    assert failed["fault"].startswith("retries_exhausted"), failed["fault"]
    assert "big, mid, small" in failed["fault"] and "no network" in failed["fault"]
    assert allocations(client, vm["id"]) == {}
    assert usages(client, hosts) == {name: NOTHING for name in hosts}
    v1_error(client.post(f"/v1/instances/{vm['id']}/build-report", headers=ADMIN,
                         json={"status": "active"}), 409, "invalid_state")
    assert listed(client, ADMIN, "?state=error") == [vm["id"]]
    r = client.get(f"/v1/decisions/{failed['decision_id']}", headers=ADMIN)
    assert r.json()["outcome"] == "retries_exhausted"
    assert [(a["host"], a["result"]) for a in r.json()["record"]["attempts"]] == [
        ("big", "claimed"), ("big", "build_failed"), ("mid", "rescheduled"),
        ("mid", "build_failed"), ("small", "rescheduled"), ("small", "build_failed"),
        (None, "retries_exhausted")]
    # an instance in error can still be deleted
    assert client.delete(f"/v1/instances/{vm['id']}", headers=ADMIN).status_code == 204


def test_max_attempts_bounds_the_retries(tmp_path: Path, store: Store) -> None:
    with app_with(tmp_path, store, max_attempts=2) as client:
        hosts = fleet(client)
        flavors(client)
        vm = boot_one(client)
        assert (vm["host"], vm["alternates"]) == ("big", ["mid"])
        vm = report(client, vm["id"], "failed")
        assert (vm["state"], vm["host"], vm["attempts"]) == ("building", "mid", 2)
        vm = report(client, vm["id"], "failed")
        assert (vm["state"], vm["attempts"]) == ("error", 2)
        assert vm["fault"] == "retries_exhausted: the build failed on big, mid"
        assert usages(client, hosts) == {name: NOTHING for name in hosts}


def test_one_instance_out_of_retries_leaves_its_siblings_decision_scheduled(
        tmp_path: Path, store: Store) -> None:
    with app_with(tmp_path, store, max_attempts=1) as client:
        hosts = fleet(client, a=MID, b=MID)
        flavors(client)
        body = boot(client, name="pair", count=2)
        first, second = body["instances"]
        assert first["alternates"] == second["alternates"] == []
        failed = report(client, first["id"], "failed")
        assert (failed["state"], failed["attempts"]) == ("error", 1)
        assert failed["fault"] == f"retries_exhausted: the build failed on {first['host']}"
        assert report(client, second["id"], "active")["state"] == "active"
        r = client.get(f"/v1/decisions/{body['decision_id']}", headers=ADMIN)
        assert r.json()["outcome"] == "scheduled"
        assert [(a["instance"], a["result"]) for a in r.json()["record"]["attempts"]] == [
            (first["id"], "claimed"), (second["id"], "claimed"),
            (first["id"], "build_failed"), (first["id"], "retries_exhausted"),
            (second["id"], "active")]
        assert sorted(u["VCPU"] for u in usages(client, hosts).values()) == [0, 1]


def test_a_flavor_change_is_seen_by_the_very_next_boot(client: TestClient) -> None:
    """Boots read flavors through a per-process cache checked against the flavors
    revision on every boot: a deleted flavor or withdrawn access refuses the next boot."""
    fleet(client)
    flavors(client)
    r = client.post("/v1/flavors/secret/access", headers=ADMIN, json={"project_id": "p1"})
    assert r.status_code in (200, 201), r.text
    boot_one(client, member("p1"), flavor="secret")  # cached now, for p1
    boot_one(client)  # small, cached for the admin
    r = client.delete("/v1/flavors/secret/access/p1", headers=ADMIN)
    assert r.status_code == 204, r.text
    v1_error(client.post("/v1/instances", headers=member("p1"),
                         json={"name": "x", "flavor": "secret"}), 404, "flavor_not_found")
    assert client.delete("/v1/flavors/small", headers=ADMIN).status_code == 204
    v1_error(client.post("/v1/instances", headers=ADMIN,
                         json={"name": "x", "flavor": "small", "project_id": "p1"}), 404,
             "flavor_not_found")


def test_an_instance_keeps_its_flavor_when_the_flavor_is_deleted(client: TestClient) -> None:
    """Retries and moves use the flavor as it was claimed, as Nova embeds it."""
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client)
    assert client.delete("/v1/flavors/small", headers=ADMIN).status_code == 204
    failed = report(client, vm["id"], "failed")
    assert (failed["state"], failed["host"], failed["flavor_id"]) == (
        "building", vm["alternates"][0], vm["flavor_id"])
    moved = usages(client, hosts)
    assert moved[vm["host"]] == NOTHING and moved[failed["host"]] != NOTHING
    report(client, vm["id"], "active")
    r = client.post(f"/v1/instances/{vm['id']}/migrate", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "verify_resize"


def test_an_alternate_that_filled_up_is_skipped(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = boot_one(client, flavor="large")
    assert (vm["host"], vm["alternates"]) == ("big", ["mid"])  # small is too small
    # someone else takes mid's room; the retry finds no alternate left
    hog = boot_one(client, flavor="large", hints={"different_host": [vm["id"]]})
    assert hog["host"] == "mid"
    failed = report(client, vm["id"], "failed")
    assert failed["state"] == "error"
    assert failed["fault"] == ("retries_exhausted: the build failed on big; "
                               "no room left on mid")
    assert usages(client, hosts) == {"big": NOTHING, "mid": LARGE_FLAVOR, "small": NOTHING}


# -- resize ----------------------------------------------------------------------------------

def active_vm(client: TestClient, headers: dict[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    vm = boot_one(client, headers, **body)
    report(client, vm["id"], "active")
    return show(client, vm["id"], headers)


def test_resize_holds_both_hosts_until_confirmed(client: TestClient) -> None:
    hosts = fleet(client)
    ids = flavors(client)
    alice = member("p1")
    vm = active_vm(client, alice)
    resized = act(client, vm["id"], "resize", alice, flavor="large")
    assert set(resized) == INSTANCE_KEYS
    assert (resized["state"], resized["flavor_id"], resized["new_flavor_id"]) == (
        "verify_resize", ids["small"], ids["large"])
    seen = show(client, vm["id"])
    # spread would pick big again, but a resize leaves the source by default
    assert (seen["host"], seen["source_host"]) == ("mid", "big")
    assert allocations(client, vm["id"]) == {hosts["mid"]: LARGE_FLAVOR}
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": LARGE_FLAVOR,
                                     "small": NOTHING}
    # a second resize waits for the first to be confirmed or reverted
    v1_error(client.post(f"/v1/instances/{vm['id']}/resize", headers=alice,
                         json={"flavor": "small"}), 409, "invalid_state")

    confirmed = act(client, vm["id"], "confirm", alice)
    assert (confirmed["state"], confirmed["flavor_id"], confirmed["new_flavor_id"]) == (
        "active", ids["large"], None)
    seen = show(client, vm["id"])
    assert (seen["host"], seen["source_host"]) == ("mid", None)
    assert usages(client, hosts) == {"big": NOTHING, "mid": LARGE_FLAVOR, "small": NOTHING}
    assert allocations(client, vm["id"]) == {hosts["mid"]: LARGE_FLAVOR}
    v1_error(client.post(f"/v1/instances/{vm['id']}/confirm", headers=alice), 409,
             "invalid_state")
    v1_error(client.post(f"/v1/instances/{vm['id']}/revert", headers=alice), 409,
             "invalid_state")


def test_revert_goes_back_to_the_source(client: TestClient) -> None:
    hosts = fleet(client)
    ids = flavors(client)
    alice = member("p1")
    vm = active_vm(client, alice)
    act(client, vm["id"], "resize", alice, flavor="large")
    reverted = act(client, vm["id"], "revert", alice)
    assert (reverted["state"], reverted["flavor_id"], reverted["new_flavor_id"]) == (
        "active", ids["small"], None)
    seen = show(client, vm["id"])
    assert (seen["host"], seen["source_host"]) == ("big", None)
    assert allocations(client, vm["id"]) == {hosts["big"]: SMALL_FLAVOR}
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": NOTHING, "small": NOTHING}
    # and it can be resized again
    assert act(client, vm["id"], "resize", alice, flavor="large")["state"] == "verify_resize"


def test_resize_refusals(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    alice = member("p1")
    building = boot_one(client, alice)
    v1_error(client.post(f"/v1/instances/{building['id']}/resize", headers=alice,
                         json={"flavor": "large"}), 409, "invalid_state")
    report(client, building["id"], "active")
    for ref in ("small", show(client, building["id"])["flavor_id"]):
        v1_error(client.post(f"/v1/instances/{building['id']}/resize", headers=alice,
                             json={"flavor": ref}), 400, "invalid_input", "flavor")
    v1_error(client.post(f"/v1/instances/{building['id']}/resize", headers=alice,
                         json={"flavor": "secret"}), 404, "flavor_not_found")
    v1_error(client.post(f"/v1/instances/{building['id']}/resize", headers=alice,
                         json={}), 400, "invalid_input", "flavor")
    v1_error(client.post(f"/v1/instances/{building['id']}/resize", headers=member("p2"),
                         json={"flavor": "large"}), 404, "instance_not_found")
    v1_error(client.post(f"/v1/instances/{building['id']}/resize",
                         headers=member("p1", "reader"), json={"flavor": "large"}), 403,
             "forbidden")
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": NOTHING, "small": NOTHING}
    assert show(client, building["id"])["state"] == "active"


def test_a_resize_no_other_host_can_take_is_a_409_and_changes_nothing(
        client: TestClient) -> None:
    hosts = fleet(client, big=BIG, small=SMALL)
    ids = flavors(client)
    vm = active_vm(client, project_id="p1")
    assert vm["host"] == "big"
    explanation = no_valid_host(client.post(f"/v1/instances/{vm['id']}/resize",
                                            headers=member("p1"), json={"flavor": "large"}))
    assert "nearest_misses" not in explanation
    # the admin view of the same refusal names the host that lacked room
    explanation = no_valid_host(client.post(f"/v1/instances/{vm['id']}/resize",
                                            headers=ADMIN, json={"flavor": "large"}))
    assert explanation["resource_class"] == "MEMORY_MB"
    assert [m["host"] for m in explanation["nearest_misses"]] == ["small"]
    seen = show(client, vm["id"])
    assert (seen["state"], seen["host"], seen["flavor_id"]) == ("active", "big", ids["small"])
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "small": NOTHING}


def test_resize_may_stay_on_the_host_when_allowed(tmp_path: Path, store: Store) -> None:
    with app_with(tmp_path, store, allow_resize_to_same_host=True) as client:
        hosts = fleet(client)
        flavors(client)
        vm = active_vm(client)
        resized = act(client, vm["id"], "resize", flavor="large")
        assert (resized["host"], resized["source_host"]) == ("big", "big")
        assert usage(client, hosts["big"]) == {
            rc: SMALL_FLAVOR[rc] + LARGE_FLAVOR[rc] for rc in NOTHING}
        act(client, vm["id"], "confirm")
        assert usage(client, hosts["big"]) == LARGE_FLAVOR


# -- migrate ---------------------------------------------------------------------------------

def test_an_admin_migrates_to_a_named_host(client: TestClient) -> None:
    hosts = fleet(client)
    ids = flavors(client)
    vm = active_vm(client, member("p1"))
    moved = act(client, vm["id"], "migrate", host="small")
    assert (moved["state"], moved["host"], moved["source_host"]) == (
        "verify_resize", "small", "big")
    assert (moved["flavor_id"], moved["new_flavor_id"]) == (ids["small"], None)
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": NOTHING,
                                     "small": SMALL_FLAVOR}
    # the owner confirms the move
    done = act(client, vm["id"], "confirm", member("p1"))
    assert (done["state"], done["flavor_id"]) == ("active", ids["small"])
    assert usages(client, hosts) == {"big": NOTHING, "mid": NOTHING, "small": SMALL_FLAVOR}
    assert allocations(client, vm["id"]) == {hosts["small"]: SMALL_FLAVOR}


def test_migrate_without_a_host_picks_another_one(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = active_vm(client)
    moved = act(client, vm["id"], "migrate")
    assert (moved["host"], moved["source_host"]) == ("mid", "big")
    reverted = act(client, vm["id"], "revert")
    assert (reverted["state"], reverted["host"]) == ("active", "big")
    assert usages(client, hosts) == {"big": SMALL_FLAVOR, "mid": NOTHING, "small": NOTHING}


def test_migrate_refusals(client: TestClient) -> None:
    hosts = fleet(client)
    flavors(client)
    vm = active_vm(client, flavor="large")
    assert vm["host"] == "big"
    v1_error(client.post(f"/v1/instances/{vm['id']}/migrate", headers=member("p1"),
                         json={"host": "mid"}), 403, "forbidden")
    v1_error(client.post(f"/v1/instances/{vm['id']}/migrate", headers=ADMIN,
                         json={"host": "nowhere"}), 404, "host_not_found")
    # small has no room for a large flavor; the source itself is no destination
    explanation = no_valid_host(client.post(f"/v1/instances/{vm['id']}/migrate",
                                            headers=ADMIN, json={"host": "small"}))
    assert (explanation["code"], explanation["resource_class"]) == ("no_capacity", "MEMORY_MB")
    assert explanation["buckets"][0]["host_names"] == ["small"]
    no_valid_host(client.post(f"/v1/instances/{vm['id']}/migrate", headers=ADMIN,
                              json={"host": "big"}))
    v1_error(client.post(f"/v1/instances/{vm['id']}/migrate", headers=ADMIN,
                         json={"host": 7}), 400, "invalid_input", "host")
    assert usages(client, hosts) == {"big": LARGE_FLAVOR, "mid": NOTHING, "small": NOTHING}
    assert show(client, vm["id"])["state"] == "active"
    building = boot_one(client)
    v1_error(client.post(f"/v1/instances/{building['id']}/migrate", headers=ADMIN,
                         json={}), 409, "invalid_state")


def test_a_host_whose_instances_are_gone_can_be_deleted(client: TestClient) -> None:
    fleet(client)
    flavors(client)
    vm = boot_one(client)
    assert client.delete(f"/v1/hosts/{vm['host']}", headers=ADMIN).status_code == 409
    assert client.delete(f"/v1/instances/{vm['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"/v1/hosts/{vm['host']}", headers=ADMIN).status_code == 204
    assert client.get(f"/v1/instances/{vm['id']}", headers=ADMIN).status_code == 404


def test_a_host_shows_its_instances_and_failed_builds(client: TestClient) -> None:
    fleet(client)
    flavors(client)
    vm = boot_one(client)
    host = client.get(f"/v1/hosts/{vm['host']}", headers=ADMIN).json()
    assert (host["instances"], host["failed_builds"]) == (1, 0)
    moved = report(client, vm["id"], "failed")
    left = client.get(f"/v1/hosts/{vm['host']}", headers=ADMIN).json()
    assert (left["instances"], left["failed_builds"]) == (0, 1)
    now = client.get(f"/v1/hosts/{moved['host']}", headers=ADMIN).json()
    assert now["instances"] == 1


def test_an_instance_shows_the_zone_it_landed_in_and_the_one_it_asked_for(
        client: TestClient) -> None:
    fleet(client)
    flavors(client)
    r = client.post("/v1/aggregates", headers=ADMIN,
                    json={"name": "z1", "metadata": {"availability_zone": "zone-1"}})
    assert r.status_code == 201, r.text
    for host in ("big", "mid", "small"):
        r = client.post("/v1/aggregates/z1/hosts", headers=ADMIN, json={"host": host})
        assert r.status_code in (200, 201), r.text
    anywhere = boot_one(client)
    assert (anywhere["availability_zone"], anywhere["requested_availability_zone"]) == (
        "zone-1", None)
    asked = boot_one(client, availability_zone="zone-1")
    assert (asked["availability_zone"], asked["requested_availability_zone"]) == (
        "zone-1", "zone-1")
    assert show(client, asked["id"])["availability_zone"] == "zone-1"
