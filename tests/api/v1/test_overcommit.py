"""Effective overcommit: host -> smallest aggregate value -> default, with its source, and
every change reaching the next candidates query and claim with no restart."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from .helpers import V1


def placement(v1: V1, method: str, path: str, **kw: Any) -> Any:
    return v1.client.request(method, path, headers={
        "x-auth-token": "admin", "openstack-api-version": "placement latest"}, **kw)


def candidates(v1: V1, query: str) -> list[str]:
    r = placement(v1, "GET", f"/allocation_candidates?{query}")
    assert r.status_code == 200, r.text
    return sorted(r.json()["provider_summaries"])


def claim(v1: V1, provider: str, resources: dict[str, int]) -> Any:
    return placement(v1, "PUT", f"/allocations/{uuidlib.uuid4()}", json={
        "allocations": {provider: {"resources": resources}}, "project_id": "p",
        "user_id": "u", "consumer_generation": None, "consumer_type": "INSTANCE"})


def effective(v1: V1, host: str, key: str) -> dict[str, Any]:
    found: dict[str, Any] = v1.host(host)["effective"][key]
    return found


def test_a_ratio_change_reaches_the_next_query_and_claim(v1: V1) -> None:
    uuid = v1.report("cn1", vcpus=4)["provider_uuid"]  # 4 x 4.0 = 16 units
    assert candidates(v1, "resources=VCPU:3") == [uuid]
    v1.aggregate("tight", cpu_allocation_ratio="2.0")
    v1.add("tight", "cn1")  # 4 x 2.0 = 8 units
    assert claim(v1, uuid, {"VCPU": 3}).status_code == 204
    assert claim(v1, uuid, {"VCPU": 3}).status_code == 204  # 6 of 8 used
    assert candidates(v1, "resources=VCPU:3") == []
    r = claim(v1, uuid, {"VCPU": 3})
    assert r.status_code == 409, r.text
    v1.ok("PATCH", "/hosts/cn1", json={"cpu_allocation_ratio": 8.0})  # 32 units
    assert candidates(v1, "resources=VCPU:3") == [uuid]
    assert claim(v1, uuid, {"VCPU": 3}).status_code == 204  # 9 used
    # Clearing the host's value falls back to the aggregate: 8 units, 9 used, nothing fits.
    v1.ok("PATCH", "/hosts/cn1", json={"cpu_allocation_ratio": None})
    assert candidates(v1, "resources=VCPU:1") == []
    # Raising the aggregate's value reaches its member at once.
    v1.set_metadata("tight", cpu_allocation_ratio=3)  # 12 units, 9 used
    assert candidates(v1, "resources=VCPU:3") == [uuid]
    assert candidates(v1, "resources=VCPU:4") == []
    # Leaving the aggregate: back to the default 4.0, 16 units.
    v1.ok("DELETE", "/aggregates/tight/hosts/cn1")
    assert candidates(v1, "resources=VCPU:4") == [uuid]
    assert claim(v1, uuid, {"VCPU": 4}).status_code == 204


def test_no_ratio_lets_one_instance_exceed_the_physical_host(v1: V1) -> None:
    uuid = v1.report("cn1", vcpus=4)["provider_uuid"]
    v1.ok("PATCH", "/hosts/cn1", json={"cpu_allocation_ratio": 16.0})  # 64 units
    inv = placement(v1, "GET", f"/resource_providers/{uuid}/inventories/VCPU").json()
    assert inv["max_unit"] == 4 and inv["allocation_ratio"] == 16.0
    assert candidates(v1, "resources=VCPU:4") == [uuid]
    assert candidates(v1, "resources=VCPU:5") == []
    assert claim(v1, uuid, {"VCPU": 5}).status_code == 409


def test_reserved_memory_reaches_the_inventory(v1: V1) -> None:
    uuid = v1.report("cn1", memory_mb=4096)["provider_uuid"]
    assert candidates(v1, "resources=MEMORY_MB:3584") == [uuid]  # 4096 - 512
    v1.aggregate("big-hypervisor", reserved_host_memory_mb=1024)
    v1.add("big-hypervisor", "cn1")
    inv = placement(v1, "GET", f"/resource_providers/{uuid}/inventories/MEMORY_MB").json()
    assert inv["reserved"] == 1024 and inv["allocation_ratio"] == 1.0
    assert candidates(v1, "resources=MEMORY_MB:3584") == []
    assert claim(v1, uuid, {"MEMORY_MB": 3584}).status_code == 409
    v1.ok("PATCH", "/hosts/cn1", json={"reserved_host_memory_mb": 0})
    assert claim(v1, uuid, {"MEMORY_MB": 4096}).status_code == 204


def test_resolution_order_and_source(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    key = "ram_allocation_ratio"
    assert effective(v1, "cn1", key) == {"value": 1.0, "source": "default"}
    v1.aggregate("b-loose", ram_allocation_ratio="1.5")
    v1.aggregate("a-looser", ram_allocation_ratio="3")
    v1.aggregate("c-other", disk_allocation_ratio="2")
    v1.add("a-looser", "cn1")
    assert effective(v1, "cn1", key) == {"value": 3.0, "source": "aggregate:a-looser"}
    v1.add("b-loose", "cn1")
    v1.add("c-other", "cn1")
    # The smallest of the aggregates' values wins, naming its aggregate.
    assert effective(v1, "cn1", key) == {"value": 1.5, "source": "aggregate:b-loose"}
    assert effective(v1, "cn1", "disk_allocation_ratio") == {"value": 2.0,
                                                             "source": "aggregate:c-other"}
    assert effective(v1, "cn2", key) == {"value": 1.0, "source": "default"}  # not a member
    # The host's own value beats every aggregate, even a smaller one.
    host = v1.ok("PATCH", "/hosts/cn1", json={key: 1.25})
    assert host["effective"][key] == {"value": 1.25, "source": "host"}
    assert host["overrides"][key] == 1.25
    assert host["resources"]["MEMORY_MB"]["allocation_ratio"] == 1.25
    v1.set_metadata("b-loose", ram_allocation_ratio=0.5)
    assert effective(v1, "cn1", key) == {"value": 1.25, "source": "host"}
    # Cleared: back to the smallest aggregate value; unset there: the next one.
    v1.ok("PATCH", "/hosts/cn1", json={key: None})
    assert effective(v1, "cn1", key) == {"value": 0.5, "source": "aggregate:b-loose"}
    v1.set_metadata("b-loose", ram_allocation_ratio=None)
    assert effective(v1, "cn1", key) == {"value": 3.0, "source": "aggregate:a-looser"}
    # Reserved memory resolves the same way.
    v1.set_metadata("c-other", reserved_host_memory_mb=2048)
    v1.set_metadata("a-looser", reserved_host_memory_mb=1024)
    host = v1.host("cn1")
    assert host["effective"]["reserved_host_memory_mb"] == {"value": 1024,
                                                            "source": "aggregate:a-looser"}
    assert host["resources"]["MEMORY_MB"]["reserved"] == 1024


def test_only_a_real_change_moves_the_generation(v1: V1) -> None:
    uuid = v1.report("cn1")["provider_uuid"]
    v1.aggregate("a")
    v1.add("a", "cn1")

    def gen() -> int:
        value: int = placement(v1, "GET", f"/resource_providers/{uuid}").json()["generation"]
        return value

    before = gen()
    v1.set_metadata("a", ssd="true", availability_zone="z")  # no overcommit key
    v1.set_metadata("a", cpu_allocation_ratio="4.0")  # the default already
    assert gen() == before
    v1.set_metadata("a", cpu_allocation_ratio="5.0")
    assert gen() == before + 1
