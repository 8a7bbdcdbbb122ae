"""/resource_providers/{uuid}/usages and /resource_providers/{uuid}/allocations."""

from __future__ import annotations

from typing import Any

import pytest

from corral.persistence import Store

from .helpers import allocate, assert_cache_headers, assert_error, new_uuid


@pytest.fixture
def rp(api: Any) -> str:
    uuid: str = api.create_provider("rp")["uuid"]
    return uuid


def test_usages_of_a_new_provider(api: Any, rp: str) -> None:
    r = api.get(f"/resource_providers/{rp}/usages", version="1.0")
    assert r.status_code == 200
    assert r.json() == {"usages": {}, "resource_provider_generation": 0}


def test_usages_list_every_inventory_class(api: Any, rp: str, store: Store) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096},
                           "DISK_GB": {"total": 100}})
    other = api.create_provider("other")["uuid"]
    api.set_inventory(other, {"VCPU": {"total": 8}})
    assert api.get(f"/resource_providers/{rp}/usages").json() == {
        "usages": {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0},
        "resource_provider_generation": 1}
    allocate(store, rp, {"VCPU": 2, "MEMORY_MB": 512})
    allocate(store, rp, {"VCPU": 1})
    allocate(store, other, {"VCPU": 7})
    assert api.get(f"/resource_providers/{rp}/usages").json() == {
        "usages": {"VCPU": 3, "MEMORY_MB": 512, "DISK_GB": 0},
        "resource_provider_generation": 1}


def test_allocations_of_a_provider(api: Any, rp: str, store: Store) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}})
    assert api.get(f"/resource_providers/{rp}/allocations").json() == {
        "allocations": {}, "resource_provider_generation": 1}
    c1 = allocate(store, rp, {"VCPU": 2, "MEMORY_MB": 512})
    c2 = allocate(store, rp, {"VCPU": 1})
    r = api.get(f"/resource_providers/{rp}/allocations", version="1.27")
    assert r.status_code == 200
    assert r.json() == {"allocations": {c1: {"resources": {"VCPU": 2, "MEMORY_MB": 512}},
                                        c2: {"resources": {"VCPU": 1}}},
                        "resource_provider_generation": 1}


def test_allocations_carry_consumer_generation_from_1_28(api: Any, rp: str,
                                                         store: Store) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}})
    consumer = allocate(store, rp, {"VCPU": 2})
    r = api.get(f"/resource_providers/{rp}/allocations", version="1.28")
    assert r.json()["allocations"] == {
        consumer: {"resources": {"VCPU": 2}, "consumer_generation": 1}}


@pytest.mark.parametrize("what", ["usages", "allocations"])
def test_missing_provider_is_404(api: Any, what: str) -> None:
    r = api.get(f"/resource_providers/{new_uuid()}/{what}")
    assert_error(r, 404, code="placement.resource_provider.not_found")


@pytest.mark.parametrize("what", ["usages", "allocations"])
@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True)])
def test_cache_headers(api: Any, rp: str, what: str, version: str, cached: bool) -> None:
    assert_cache_headers(api.get(f"/resource_providers/{rp}/{what}", version=version), cached)
