"""/v1/aggregates: metadata by key, hosts in and out, Placement mirroring, one zone per host."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import SQLITE_ONLY, V1, assert_v1_error


def provider(v1: V1, uuid: str, what: str = "") -> Any:
    r = v1.client.get(f"/resource_providers/{uuid}{what}",
                      headers={"x-auth-token": "admin", "openstack-api-version": "placement latest"})
    assert r.status_code == 200, r.text
    return r.json()


def test_create_list_show_patch_delete(v1: V1) -> None:
    r = v1.post("/aggregates", json={"name": "fast", "metadata": {"ssd": "true",
                                                                  "cpu_allocation_ratio": 2}})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"].endswith("/v1/aggregates/fast")
    assert created["name"] == "fast" and created["hosts"] == []
    assert created["metadata"] == {"cpu_allocation_ratio": "2", "ssd": "true"}
    assert created["availability_zone"] is None and len(created["uuid"]) == 36
    v1.aggregate("az1", availability_zone="zone-1")
    listed = v1.ok("GET", "/aggregates")["aggregates"]
    assert [a["name"] for a in listed] == ["az1", "fast"]
    assert listed[0]["availability_zone"] == "zone-1"
    assert v1.ok("GET", "/aggregates/fast") == created
    patched = v1.set_metadata("fast", ssd=None, gpu="yes", cpu_allocation_ratio=1.5, gone=None)
    assert patched["metadata"] == {"cpu_allocation_ratio": "1.5", "gpu": "yes"}
    assert patched["uuid"] == created["uuid"]
    assert v1.delete("/aggregates/fast").status_code == 204
    assert_v1_error(v1.get("/aggregates/fast"), 404, code="aggregate_not_found")
    assert [a["name"] for a in v1.ok("GET", "/aggregates")["aggregates"]] == ["az1"]


def test_hosts_in_and_out_mirror_the_placement_aggregate(v1: V1) -> None:
    host = v1.report("cn1")
    uuid = host["provider_uuid"]
    agg = v1.aggregate("rack1")
    gen = provider(v1, uuid)["generation"]
    assert v1.add("rack1", "cn1")["hosts"] == ["cn1"]
    assert provider(v1, uuid, "/aggregates")["aggregates"] == [agg["uuid"]]
    assert provider(v1, uuid)["generation"] == gen + 1
    assert v1.host("cn1")["aggregates"] == ["rack1"]
    members = v1.client.get(f"/resource_providers?member_of={agg['uuid']}",
                            headers={"x-auth-token": "admin",
                                     "openstack-api-version": "placement latest"}).json()
    assert [p["name"] for p in members["resource_providers"]] == ["cn1"]
    assert_v1_error(v1.post("/aggregates/rack1/hosts", json={"host": "cn1"}), 409,
                    code="host_already_in_aggregate")
    assert_v1_error(v1.delete("/aggregates/rack1"), 409, code="aggregate_not_empty",
                    message="cn1")
    removed = v1.ok("DELETE", "/aggregates/rack1/hosts/cn1")
    assert removed["hosts"] == []
    assert provider(v1, uuid, "/aggregates")["aggregates"] == []
    assert provider(v1, uuid)["generation"] == gen + 2
    assert_v1_error(v1.delete("/aggregates/rack1/hosts/cn1"), 404, code="host_not_in_aggregate")
    assert v1.delete("/aggregates/rack1").status_code == 204


def test_placement_aggregates_set_directly_are_kept(v1: V1) -> None:
    host = v1.report("cn1")
    other = "11111111-2222-3333-4444-555555555555"
    gen = provider(v1, host["provider_uuid"])["generation"]
    r = v1.client.put(f"/resource_providers/{host['provider_uuid']}/aggregates",
                      json={"aggregates": [other], "resource_provider_generation": gen},
                      headers={"x-auth-token": "admin", "openstack-api-version": "placement latest"})
    assert r.status_code == 200, r.text
    agg = v1.aggregate("rack1")
    v1.add("rack1", "cn1")
    assert sorted(provider(v1, host["provider_uuid"], "/aggregates")["aggregates"]) == sorted(
        [other, agg["uuid"]])
    v1.ok("DELETE", "/aggregates/rack1/hosts/cn1")
    assert provider(v1, host["provider_uuid"], "/aggregates")["aggregates"] == [other]


def test_a_host_is_in_one_availability_zone(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    v1.aggregate("az1", availability_zone="zone-1")
    v1.aggregate("az1-ssd", availability_zone="zone-1")
    v1.aggregate("az2", availability_zone="zone-2")
    v1.aggregate("plain")
    v1.add("az1", "cn1")
    v1.add("az1-ssd", "cn1")  # the same zone twice is fine
    v1.add("plain", "cn1")
    v1.add("plain", "cn2")
    assert v1.host("cn1")["availability_zone"] == "zone-1"
    assert v1.host("cn2")["availability_zone"] is None
    # Adding the host to an aggregate of another zone.
    error = assert_v1_error(v1.post("/aggregates/az2/hosts", json={"host": "cn1"}), 409,
                            code="availability_zone_conflict")
    for fragment in ("cn1", "zone-1", "zone-2"):
        assert fragment in error["message"]
    # Giving an aggregate a zone its hosts are not in.
    error = assert_v1_error(v1.patch("/aggregates/plain",
                                     json={"metadata": {"availability_zone": "zone-2"}}),
                            409, code="availability_zone_conflict")
    for fragment in ("cn1", "zone-1", "zone-2"):
        assert fragment in error["message"]
    assert "availability_zone" not in v1.ok("GET", "/aggregates/plain")["metadata"]
    # The same zone is fine, and moving a zone works once nothing else holds the host.
    v1.set_metadata("plain", availability_zone="zone-1")
    assert v1.host("cn2")["availability_zone"] == "zone-1"
    v1.ok("DELETE", "/aggregates/az1/hosts/cn1")
    v1.ok("DELETE", "/aggregates/az1-ssd/hosts/cn1")
    v1.set_metadata("plain", availability_zone="zone-2")
    v1.add("az2", "cn1")
    zones = {h["name"]: h["availability_zone"] for h in v1.ok("GET", "/hosts")["hosts"]}
    assert zones == {"cn1": "zone-2", "cn2": "zone-2"}
    assert [h["name"] for h in v1.ok("GET", "/hosts?availability_zone=zone-2")["hosts"]] == [
        "cn1", "cn2"]
    assert v1.ok("GET", "/hosts?availability_zone=zone-1")["hosts"] == []


def test_duplicate_names_and_unknown_names(v1: V1) -> None:
    v1.aggregate("a")
    assert_v1_error(v1.post("/aggregates", json={"name": "a"}), 409, code="duplicate_name")
    assert_v1_error(v1.post("/aggregates/a/hosts", json={"host": "ghost"}), 404,
                    code="host_not_found")
    v1.report("cn1")
    assert_v1_error(v1.post("/aggregates/nope/hosts", json={"host": "cn1"}), 404,
                    code="aggregate_not_found")
    for method, path, body in (("PATCH", "/aggregates/nope", {"metadata": {}}),
                               ("DELETE", "/aggregates/nope", None),
                               ("DELETE", "/aggregates/nope/hosts/cn1", None)):
        assert_v1_error(v1.request(method, path, json=body), 404, code="aggregate_not_found")


BAD_METADATA = [
    ("cpu_allocation_ratio", "fast"), ("cpu_allocation_ratio", 0), ("ram_allocation_ratio", -1),
    ("disk_allocation_ratio", 1000.5), ("cpu_allocation_ratio", "nan"),
    ("reserved_host_memory_mb", "1.5"), ("reserved_host_memory_mb", -1),
    ("availability_zone", ""), ("availability_zone", "   "), ("scheduler_strategy", "random"),
    ("ram_weight_multiplier", "heavy"), ("max_instances_per_host", "-3"),
    ("max_instances_per_host", "many"), ("filter_tenant_id", ""), ("filter_tenant_id2", " "),
    ("k" * 256, "v"), ("free", "v" * 256), ("free", ""), ("free", ["a", "list"]),
    ("free", True), ("free", {"a": 1}),
]
GOOD_METADATA = [
    ("cpu_allocation_ratio", "16"), ("ram_allocation_ratio", 1.5),
    ("disk_allocation_ratio", "1000"), ("reserved_host_memory_mb", 0),
    ("availability_zone", "zone a"), ("scheduler_strategy", "pack"),
    ("scheduler_strategy", "spread"), ("cpu_weight_multiplier", "-2.5"),
    ("max_instances_per_host", "0"), ("filter_tenant_id", "p1"), ("filter_tenant_id_2", "p2"),
    ("ssd", "true"), ("k" * 255, "v" * 255),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("key", "value"), BAD_METADATA,
                         ids=[f"{k[:24]}={str(v)[:8]}" for k, v in BAD_METADATA])
def test_bad_metadata_is_400_naming_the_key(v1: V1, key: str, value: Any) -> None:
    field = f"metadata.{key}"
    assert_v1_error(v1.post("/aggregates", json={"name": "a", "metadata": {key: value}}), 400,
                    field=field)
    assert v1.ok("GET", "/aggregates")["aggregates"] == []
    v1.aggregate("a", ssd="true")
    assert_v1_error(v1.patch("/aggregates/a", json={"metadata": {key: value, "x": "y"}}), 400,
                    field=field)
    assert v1.ok("GET", "/aggregates/a")["metadata"] == {"ssd": "true"}  # nothing half-written


@SQLITE_ONLY
@pytest.mark.parametrize(("key", "value"), GOOD_METADATA,
                         ids=[f"{k[:24]}={str(v)[:8]}" for k, v in GOOD_METADATA])
def test_good_metadata_is_stored_as_text(v1: V1, key: str, value: Any) -> None:
    created = v1.aggregate("a", **{key: value})
    assert created["metadata"] == {key: value if isinstance(value, str) else repr(value)}


@SQLITE_ONLY
@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "n" * 256}, "name"),
    ({"name": "a/b"}, "name"), ({"name": "tab\there"}, "name"), ({"name": 5}, "name"),
    ({"name": "a", "metadata": "ssd=true"}, "metadata"), ({"name": "a", "hosts": []}, "hosts"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_create_bodies_are_400(v1: V1, body: dict[str, Any], field: str) -> None:
    assert_v1_error(v1.post("/aggregates", json=body), 400, field=field)


@SQLITE_ONLY
def test_bad_host_bodies_are_400(v1: V1) -> None:
    v1.aggregate("a")
    assert_v1_error(v1.post("/aggregates/a/hosts", json={}), 400, field="host")
    assert_v1_error(v1.post("/aggregates/a/hosts", json={"host": 1}), 400, field="host")
    assert_v1_error(v1.patch("/aggregates/a", json={}), 400, field="metadata")


ROUTES = [("GET", "/aggregates", None), ("GET", "/aggregates/a", None),
          ("POST", "/aggregates", {"name": "b"}),
          ("PATCH", "/aggregates/a", {"metadata": {"k": "v"}}),
          ("POST", "/aggregates/a/hosts", {"host": "cn1"}),
          ("DELETE", "/aggregates/a/hosts/cn1", None), ("DELETE", "/aggregates/b", None)]


@SQLITE_ONLY
def test_policy(v1: V1) -> None:
    v1.report("cn1")
    v1.aggregate("a")
    for method, path, body in ROUTES:
        assert_v1_error(v1.as_("").request(method, path, json=body), 401)
        assert_v1_error(v1.as_("bob:p1", "member,reader").request(method, path, json=body), 403,
                        code="forbidden")
    for method, path, body in ROUTES:  # in this order each one succeeds
        r = v1.as_("nova:service", "service").request(method, path, json=body)
        assert r.status_code in (200, 201, 204), (method, path, r.text)
