"""/v1/hosts: reports, heartbeats, liveness, enable/disable, per-host values, delete."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from corral.persistence import Store, tables
from corral.services.hosts import HOST_NAMESPACE

from ..helpers import allocate
from .helpers import HOST, SQLITE_ONLY, V1, assert_v1_error


def placement(v1: V1, path: str) -> Any:
    r = v1.client.get(path, headers={"x-auth-token": "admin",
                                     "openstack-api-version": "placement latest"})
    assert r.status_code == 200, r.text
    return r.json()


def set_heartbeat(store: Store, name: str, seconds_ago: int) -> None:
    when = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=seconds_ago)
    with store.engine.begin() as conn:
        conn.execute(update(tables.hosts).where(tables.hosts.c.name == name)
                     .values(last_heartbeat=when))


# -- a host reports itself ---------------------------------------------------------------------

def test_first_report_creates_host_provider_and_inventories(v1: V1) -> None:
    r = v1.put("/hosts/cn1", json={**HOST, "traits": ["HW_CPU_X86_AVX2", "CUSTOM_FAST"],
                                   "resources": {"CUSTOM_GPU": 2}})
    assert r.status_code == 201, r.text
    host = r.json()
    expected_uuid = str(uuidlib.uuid5(HOST_NAMESPACE, "cn1"))
    assert host["name"] == "cn1" and host["provider_uuid"] == expected_uuid
    assert host["state"] == "up" and host["enabled"] is True and host["forced_down"] is False
    assert host["disabled_reason"] is None and host["availability_zone"] is None
    assert host["last_heartbeat"].endswith("Z") and host["aggregates"] == []
    assert host["traits"] == ["CUSTOM_FAST", "HW_CPU_X86_AVX2"]
    assert host["resources"]["VCPU"] == {"total": 4, "reserved": 0, "allocation_ratio": 4.0,
                                         "capacity": 16, "used": 0}
    assert host["resources"]["MEMORY_MB"]["reserved"] == 512
    assert host["resources"]["MEMORY_MB"]["capacity"] == 8192 - 512
    assert host["resources"]["CUSTOM_GPU"]["capacity"] == 2
    assert host["effective"] == {
        "cpu_allocation_ratio": {"value": 4.0, "source": "default"},
        "ram_allocation_ratio": {"value": 1.0, "source": "default"},
        "disk_allocation_ratio": {"value": 1.0, "source": "default"},
        "reserved_host_memory_mb": {"value": 512, "source": "default"}}
    # The Placement view is the same provider, with the same figures.
    rp = placement(v1, f"/resource_providers/{expected_uuid}")
    assert rp["name"] == "cn1" and rp["parent_provider_uuid"] is None
    invs = placement(v1, f"/resource_providers/{expected_uuid}/inventories")["inventories"]
    assert invs["VCPU"]["allocation_ratio"] == 4.0 and invs["VCPU"]["max_unit"] == 4
    assert invs["MEMORY_MB"]["reserved"] == 512 and invs["DISK_GB"]["total"] == 100
    assert set(invs) == {"VCPU", "MEMORY_MB", "DISK_GB", "CUSTOM_GPU"}


def test_re_report_is_stable_and_replaces_what_it_names(v1: V1) -> None:
    first = v1.report("cn1", traits=["CUSTOM_A"], resources={"CUSTOM_GPU": 2})
    gen = placement(v1, f"/resource_providers/{first['provider_uuid']}")["generation"]
    # The same report again: same provider, nothing moves but the heartbeat.
    r = v1.put("/hosts/cn1", json={**HOST, "traits": ["CUSTOM_A"], "resources": {"CUSTOM_GPU": 2}})
    assert r.status_code == 200 and r.json()["provider_uuid"] == first["provider_uuid"]
    assert placement(v1, f"/resource_providers/{first['provider_uuid']}")["generation"] == gen
    # Omitted traits/resources are kept; given ones replace.
    kept = v1.report("cn1", vcpus=8)
    assert kept["traits"] == ["CUSTOM_A"] and "CUSTOM_GPU" in kept["resources"]
    assert kept["resources"]["VCPU"]["total"] == 8
    replaced = v1.report("cn1", traits=["CUSTOM_B"], resources={})
    assert replaced["traits"] == ["CUSTOM_B"] and "CUSTOM_GPU" not in replaced["resources"]
    # A zero total means no inventory of that class.
    assert "DISK_GB" not in v1.report("cn1", disk_gb=0)["resources"]
    assert placement(v1, f"/resource_providers/{first['provider_uuid']}")["generation"] > gen


def test_reserved_memory_above_the_host_memory_leaves_no_memory(v1: V1) -> None:
    host = v1.report("tiny", memory_mb=256)
    assert host["resources"]["MEMORY_MB"] == {"total": 256, "reserved": 256,
                                              "allocation_ratio": 1.0, "capacity": 0, "used": 0}


def test_a_report_dropping_a_class_in_use_is_409(v1: V1, store: Store) -> None:
    host = v1.report("cn1", resources={"CUSTOM_GPU": 2})
    allocate(store, host["provider_uuid"], {"CUSTOM_GPU": 1})
    r = v1.put("/hosts/cn1", json={**HOST, "resources": {}})
    assert_v1_error(r, 409, code="inventory_in_use", message="CUSTOM_GPU")
    assert "CUSTOM_GPU" in v1.host("cn1")["resources"]  # nothing half-written


@SQLITE_ONLY
def test_a_provider_of_that_name_that_is_not_the_host_is_409(v1: V1) -> None:
    r = v1.client.post("/resource_providers", json={"name": "cn1"},
                       headers={"x-auth-token": "admin", "openstack-api-version": "placement latest"})
    assert r.status_code == 200
    assert_v1_error(v1.put("/hosts/cn1", json=HOST), 409, code="duplicate_name")
    assert_v1_error(v1.get("/hosts/cn1"), 404, code="host_not_found")


@SQLITE_ONLY
@pytest.mark.parametrize(("body", "field"), [
    ({"memory_mb": 1, "disk_gb": 1}, "vcpus"),
    ({**HOST, "vcpus": -1}, "vcpus"),
    ({**HOST, "memory_mb": "lots"}, "memory_mb"),
    ({**HOST, "disk_gb": 2**31}, "disk_gb"),
    ({**HOST, "traits": ["lower"]}, "traits.0"),
    ({**HOST, "traits": ["CUSTOM_OK", "NOT_A_STANDARD_TRAIT"]}, "traits"),
    ({**HOST, "traits": ["COMPUTE_STATUS_DISABLED"]}, "traits.0"),
    ({**HOST, "traits": "CUSTOM_A"}, "traits"),
    ({**HOST, "resources": {"VCPU": 4}}, "resources.VCPU"),
    ({**HOST, "resources": {"CUSTOM_GPU": 0}}, "resources.CUSTOM_GPU"),
    ({**HOST, "resources": {"NOT_A_CLASS": 1}}, "resources.NOT_A_CLASS"),
    ({**HOST, "resources": {"bad-name": 1}}, "resources.bad-name"),
    ({**HOST, "colour": "blue"}, "colour"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_reports_are_400_naming_the_field(v1: V1, body: dict[str, Any], field: str) -> None:
    assert_v1_error(v1.put("/hosts/cn1", json=body), 400, field=field)
    assert_v1_error(v1.get("/hosts/cn1"), 404)  # nothing written


@SQLITE_ONLY
def test_host_names_are_1_to_200_characters(v1: V1) -> None:
    assert_v1_error(v1.put("/hosts/" + "h" * 201, json=HOST), 400, field="name")
    assert v1.put("/hosts/" + "h" * 200, json=HOST).status_code == 201


# -- heartbeats and liveness -------------------------------------------------------------------

def test_heartbeat_and_down_detection(v1: V1, store: Store) -> None:
    v1.report("cn1")
    v1.report("cn2")
    set_heartbeat(store, "cn1", 90)  # the default host_down_after_s is 60
    set_heartbeat(store, "cn2", 30)  # a margin no slow machine eats
    assert v1.host("cn1")["state"] == "down" and v1.host("cn2")["state"] == "up"
    names = lambda q: [h["name"] for h in v1.ok("GET", "/hosts" + q)["hosts"]]  # noqa: E731
    assert names("?state=down") == ["cn1"] and names("?state=up") == ["cn2"]
    assert names("") == ["cn1", "cn2"]
    r = v1.post("/hosts/cn1/heartbeat")
    assert r.status_code == 204 and r.content == b""
    assert v1.host("cn1")["state"] == "up"
    # Forced down wins over a fresh heartbeat.
    assert v1.ok("PATCH", "/hosts/cn1", json={"forced_down": True})["state"] == "down"
    assert v1.host("cn1")["forced_down"] is True
    assert v1.ok("PATCH", "/hosts/cn1", json={"forced_down": False})["state"] == "up"
    # A report is a heartbeat too.
    set_heartbeat(store, "cn2", 3600)
    assert v1.report("cn2")["state"] == "up"


@SQLITE_ONLY
def test_heartbeat_of_an_unknown_host_is_404(v1: V1) -> None:
    assert_v1_error(v1.post("/hosts/ghost/heartbeat"), 404, code="host_not_found",
                    message="ghost")


# -- operators change a host -------------------------------------------------------------------

def test_disable_with_a_reason_manages_the_disabled_trait(v1: V1) -> None:
    host = v1.report("cn1", traits=["CUSTOM_A"])
    uuid = host["provider_uuid"]
    gen = placement(v1, f"/resource_providers/{uuid}")["generation"]
    off = v1.ok("PATCH", "/hosts/cn1", json={"enabled": False, "disabled_reason": "maintenance"})
    assert off["enabled"] is False and off["disabled_reason"] == "maintenance"
    assert placement(v1, f"/resource_providers/{uuid}/traits")["traits"] == [
        "COMPUTE_STATUS_DISABLED", "CUSTOM_A"]
    assert placement(v1, f"/resource_providers/{uuid}")["generation"] == gen + 1
    # A re-report keeps the host disabled and the trait on.
    assert "COMPUTE_STATUS_DISABLED" in v1.report("cn1", traits=["CUSTOM_B"])["traits"]
    assert [h["name"] for h in v1.ok("GET", "/hosts?enabled=false")["hosts"]] == ["cn1"]
    assert v1.ok("GET", "/hosts?enabled=true")["hosts"] == []
    # The reason may change while disabled; enabling clears it and the trait.
    assert v1.ok("PATCH", "/hosts/cn1", json={"disabled_reason": "disk swap"})[
        "disabled_reason"] == "disk swap"
    on = v1.ok("PATCH", "/hosts/cn1", json={"enabled": True})
    assert on["enabled"] is True and on["disabled_reason"] is None
    assert placement(v1, f"/resource_providers/{uuid}/traits")["traits"] == ["CUSTOM_B"]


@SQLITE_ONLY
@pytest.mark.parametrize(("body", "field"), [
    ({"enabled": "no"}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"forced_down": 1}, "forced_down"),
    ({"disabled_reason": "x"}, "disabled_reason"),  # the host is enabled
    ({"enabled": True, "disabled_reason": "x"}, "disabled_reason"),
    ({"enabled": False, "disabled_reason": ""}, "disabled_reason"),
    ({"enabled": False, "disabled_reason": "r" * 256}, "disabled_reason"),
    ({"cpu_allocation_ratio": 0}, "cpu_allocation_ratio"),
    ({"ram_allocation_ratio": -1.5}, "ram_allocation_ratio"),
    ({"disk_allocation_ratio": 1000.5}, "disk_allocation_ratio"),
    ({"cpu_allocation_ratio": "2"}, "cpu_allocation_ratio"),
    ({"reserved_host_memory_mb": -1}, "reserved_host_memory_mb"),
    ({"reserved_host_memory_mb": 1.5}, "reserved_host_memory_mb"),
    ({"vcpus": 8}, "vcpus"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_patches_are_400_naming_the_field(v1: V1, body: dict[str, Any], field: str) -> None:
    before = v1.report("cn1")
    assert_v1_error(v1.patch("/hosts/cn1", json=body), 400, field=field)
    after = v1.host("cn1")
    assert (after["enabled"], after["overrides"]) == (before["enabled"], before["overrides"])


@SQLITE_ONLY
def test_unknown_host_is_404_everywhere(v1: V1) -> None:
    for method, body in (("GET", None), ("PATCH", {"forced_down": True}), ("DELETE", None)):
        assert_v1_error(v1.request(method, "/hosts/ghost", json=body), 404, code="host_not_found")


def test_delete_a_host_and_its_provider(v1: V1, store: Store) -> None:
    host = v1.report("cn1")
    v1.aggregate("agg")
    v1.add("agg", "cn1")
    consumer = allocate(store, host["provider_uuid"], {"VCPU": 1})
    assert_v1_error(v1.delete("/hosts/cn1"), 409, code="host_in_use", message="allocations")
    given_back = v1.client.delete(f"/allocations/{consumer}", headers={"x-auth-token": "admin"})
    assert given_back.status_code == 204, given_back.text
    r = v1.delete("/hosts/cn1")
    assert r.status_code == 204
    assert_v1_error(v1.get("/hosts/cn1"), 404)
    assert v1.client.get(f"/resource_providers/{host['provider_uuid']}",
                         headers={"x-auth-token": "admin"}).status_code == 404
    assert v1.ok("GET", "/aggregates/agg")["hosts"] == []
    # The name may be reported again: the same provider UUID comes back.
    assert v1.report("cn1")["provider_uuid"] == host["provider_uuid"]


# -- who may ------------------------------------------------------------------------------------

ROUTES = [("GET", "/hosts", None), ("GET", "/hosts/cn1", None),
          ("PUT", "/hosts/cn1", HOST), ("POST", "/hosts/cn1/heartbeat", None),
          ("POST", "/hosts/heartbeats", {"hosts": ["cn1"]}),
          ("PATCH", "/hosts/cn1", {"forced_down": True}), ("DELETE", "/hosts/cn1", None)]


@SQLITE_ONLY
@pytest.mark.parametrize(("method", "path", "body"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_policy(v1: V1, method: str, path: str, body: Any) -> None:
    v1.report("cn1")
    assert_v1_error(v1.as_("").request(method, path, json=body), 401, code="unauthenticated")
    assert_v1_error(v1.as_("alice:p1", "member").request(method, path, json=body), 403,
                    code="forbidden")
    service = v1.as_("nova:service", "service").request(method, path, json=body)
    assert service.status_code in (200, 204), service.text
