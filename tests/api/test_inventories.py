"""/resource_providers/{uuid}/inventories and .../inventories/{resource_class}."""

from __future__ import annotations

from typing import Any

import pytest

from corral.persistence import Store

from .helpers import absolute, allocate, assert_cache_headers, assert_error, generation, new_uuid

DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
            "allocation_ratio": 1.0}


@pytest.fixture
def rp(api: Any) -> str:
    uuid: str = api.create_provider("rp")["uuid"]
    return uuid


def _inv(rp: str, rc: str | None = None) -> str:
    return f"/resource_providers/{rp}/inventories" + (f"/{rc}" if rc else "")


def _put_all(api: Any, rp: str, inventories: dict[str, Any], gen: int | None = None,
             version: str = "latest") -> Any:
    if gen is None:
        gen = generation(api, rp)
    return api.put(_inv(rp), json={"resource_provider_generation": gen,
                                   "inventories": inventories}, version=version)


# -- read ---------------------------------------------------------------------------------

def test_empty_inventory(api: Any, rp: str) -> None:
    r = api.get(_inv(rp))
    assert r.status_code == 200
    assert r.json() == {"inventories": {}, "resource_provider_generation": 0}


def test_missing_provider_is_404(api: Any) -> None:
    uuid = new_uuid()
    body = {"resource_provider_generation": 0, "inventories": {}, "total": 1,
            "resource_class": "VCPU"}
    for method, path in (("GET", "/inventories"), ("PUT", "/inventories"),
                         ("POST", "/inventories"), ("DELETE", "/inventories"),
                         ("GET", "/inventories/VCPU"), ("PUT", "/inventories/VCPU"),
                         ("DELETE", "/inventories/VCPU")):
        r = api.request(method, f"/resource_providers/{uuid}{path}", json=body)
        assert_error(r, 404, code="placement.resource_provider.not_found",
                     detail=f"No resource provider with uuid {uuid} found")


def test_get_one_missing_class_is_404(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 10}})
    for rc in ("IPV4_ADDRESS", "HOUSE"):
        assert_error(api.get(_inv(rp, rc)), 404, detail=rc)


@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True)])
def test_cache_headers(api: Any, rp: str, version: str, cached: bool) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 10}})
    assert_cache_headers(api.get(_inv(rp), version=version), cached)
    assert_cache_headers(api.get(_inv(rp, "DISK_GB"), version=version), cached)
    assert_cache_headers(_put_all(api, rp, {"DISK_GB": {"total": 11}}, version=version), cached)
    r = api.put(_inv(rp, "DISK_GB"), version=version,
                json={"resource_provider_generation": generation(api, rp), "total": 12})
    assert_cache_headers(r, cached)
    r = api.post(_inv(rp), version=version, json={"resource_class": "VCPU", "total": 1})
    assert_cache_headers(r, cached)


# -- PUT all ------------------------------------------------------------------------------

def test_put_all_fills_defaults_and_bumps_generation(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"IPV4_ADDRESS": {"total": 253},
                           "DISK_GB": {"total": 1024, "reserved": 24, "min_unit": 2,
                                       "max_unit": 512, "step_size": 2,
                                       "allocation_ratio": 1.5}}, gen=0)
    assert r.status_code == 200
    expected = {"resource_provider_generation": 1, "inventories": {
        "IPV4_ADDRESS": {"total": 253, **DEFAULTS},
        "DISK_GB": {"total": 1024, "reserved": 24, "min_unit": 2, "max_unit": 512,
                    "step_size": 2, "allocation_ratio": 1.5}}}
    assert r.json() == expected
    assert api.get(_inv(rp)).json() == expected
    assert api.get(_inv(rp, "IPV4_ADDRESS")).json() == {
        "total": 253, **DEFAULTS, "resource_provider_generation": 1}
    assert generation(api, rp) == 1


def test_put_all_replaces(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})
    r = _put_all(api, rp, {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 1024}})
    assert set(r.json()["inventories"]) == {"VCPU", "MEMORY_MB"}
    assert r.json()["inventories"]["VCPU"]["total"] == 16
    r = _put_all(api, rp, {})
    assert r.json() == {"inventories": {}, "resource_provider_generation": 3}


def test_put_all_tolerates_a_generation_inside_a_record(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"VCPU": {"total": 8, "resource_provider_generation": 0}})
    assert r.status_code == 200


def test_put_all_stale_generation_is_409(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}})
    r = _put_all(api, rp, {"VCPU": {"total": 4}}, gen=0)
    assert_error(r, 409, code="placement.concurrent_update",
                 detail="resource provider generation conflict")
    r = _put_all(api, rp, {"VCPU": {"total": 4}}, gen=99)
    assert_error(r, 409, code="placement.concurrent_update")
    assert api.get(_inv(rp, "VCPU")).json()["total"] == 8


def test_put_all_unknown_class_is_400(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"HOUSE": {"total": 253}})
    assert_error(r, 400, detail="Unknown resource class")
    r = _put_all(api, rp, {"VCPU": {"total": 1}, "CUSTOM_NOPE": {"total": 1}})
    assert_error(r, 400, detail="CUSTOM_NOPE")
    assert api.get(_inv(rp)).json() == {"inventories": {}, "resource_provider_generation": 0}


def test_put_all_custom_class(api: Any, rp: str) -> None:
    assert api.put("/resource_classes/CUSTOM_GPU").status_code == 201
    r = _put_all(api, rp, {"CUSTOM_GPU": {"total": 2}})
    assert r.json()["inventories"]["CUSTOM_GPU"]["total"] == 2


BAD_PUT_ALL = [
    {"inventories": {}},
    {"resource_provider_generation": 0},
    {"resource_provider_generation": 0, "inventories": {"VCPU": {}}},
    {"resource_provider_generation": 0, "inventories": {"vcpu": {"total": 1}}},
    {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 1, "color": "x"}}},
    {"resource_provider_generation": 0, "inventories": {"VCPU": 8}},
    {"resource_provider_generation": 0, "inventories": [{"VCPU": {"total": 1}}]},
    {"resource_provider_generation": 0, "inventories": {}, "extra": 1},
    {"resource_provider_generation": -1, "inventories": {}},
    {"resource_provider_generation": None, "inventories": {}},
    {"resource_provider_generation": 0,
     "inventories": {"DISK_GB": {"total": 2147483648, "reserved": 512}}},
    {"resource_provider_generation": 0,
     "inventories": {"DISK_GB": {"total": 1024, "allocation_ratio": 3.40282e+39}}},
]


def test_put_all_refuses_bad_bodies(api: Any, rp: str) -> None:
    for body in BAD_PUT_ALL:
        assert_error(api.put(_inv(rp), json=body), 400, detail="JSON does not validate")
    assert generation(api, rp) == 0


# -- capacity rules -----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.0", "1.25"])
def test_reserved_equal_to_total_refused_before_1_26(api: Any, rp: str, version: str) -> None:
    r = _put_all(api, rp, {"IPV4_ADDRESS": {"total": 253, "reserved": 253}}, version=version)
    assert_error(r, 400, version=version, detail="greater than or equal to total")
    api.set_inventory(rp, {"IPV4_ADDRESS": {"total": 253}})
    r = api.put(_inv(rp, "IPV4_ADDRESS"), version=version,
                json={"resource_provider_generation": 1, "total": 253, "reserved": 253})
    assert_error(r, 400, version=version, detail="greater than or equal to total")
    r = api.post(_inv(rp), version=version,
                 json={"resource_class": "VCPU", "total": 4, "reserved": 4})
    assert_error(r, 400, version=version, detail="greater than or equal to total")


@pytest.mark.parametrize("version", ["1.26", "latest"])
def test_reserved_equal_to_total_allowed_from_1_26(api: Any, rp: str, version: str) -> None:
    r = _put_all(api, rp, {"IPV4_ADDRESS": {"total": 253, "reserved": 253}}, version=version)
    assert r.status_code == 200, r.text
    r = api.put(_inv(rp, "IPV4_ADDRESS"), version=version,
                json={"resource_provider_generation": 1, "total": 512, "reserved": 512})
    assert r.status_code == 200, r.text
    assert r.json()["reserved"] == 512
    r = api.post(_inv(rp), version=version,
                 json={"resource_class": "VCPU", "total": 4, "reserved": 4})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("version", ["1.0", "1.26", "latest"])
def test_reserved_above_total_always_400(api: Any, rp: str, version: str) -> None:
    r = _put_all(api, rp, {"IPV4_ADDRESS": {"total": 253, "reserved": 512}}, version=version)
    assert_error(r, 400, version=version, detail="greater than")
    r = api.post(_inv(rp), version=version,
                 json={"resource_class": "DISK_GB", "total": 256, "reserved": 512})
    assert_error(r, 400, version=version, detail="DISK_GB")


def test_rounding_to_no_capacity_before_1_26(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"VCPU": {"total": 1, "allocation_ratio": 0.5}}, version="1.25")
    assert_error(r, 400, version="1.25")
    r = _put_all(api, rp, {"VCPU": {"total": 1, "allocation_ratio": 0.5}}, version="1.26")
    assert r.status_code == 200


def test_min_unit_above_max_unit_is_400(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"DISK_GB": {"total": 100, "min_unit": 20, "max_unit": 10}})
    assert_error(r, 400, detail="min_unit")
    r = api.post(_inv(rp), json={"resource_class": "DISK_GB", "total": 100, "min_unit": 20,
                                 "max_unit": 10})
    assert_error(r, 400, detail="min_unit")
    assert api.get(_inv(rp)).json()["inventories"] == {}


def test_max_int_values_are_accepted(api: Any, rp: str) -> None:
    r = _put_all(api, rp, {"DISK_GB": {"total": 2147483647, "reserved": 2147483646,
                                       "min_unit": 2147483647, "max_unit": 2147483647,
                                       "step_size": 2147483647, "allocation_ratio": 3.4e38}})
    assert r.status_code == 200, r.text
    assert api.get(_inv(rp, "DISK_GB")).json()["total"] == 2147483647


# -- POST one -----------------------------------------------------------------------------

def test_post_one(api: Any, rp: str) -> None:
    r = api.post(_inv(rp), json={"resource_class": "DISK_GB", "total": 2048, "reserved": 512,
                                 "min_unit": 10, "max_unit": 1024, "step_size": 10,
                                 "allocation_ratio": 1.0})
    assert r.status_code == 201
    assert r.headers["location"] == absolute(f"/resource_providers/{rp}/inventories/DISK_GB")
    assert r.json() == {"total": 2048, "reserved": 512, "min_unit": 10, "max_unit": 1024,
                        "step_size": 10, "allocation_ratio": 1.0,
                        "resource_provider_generation": 1}
    r = api.post(_inv(rp), json={"resource_class": "IPV4_ADDRESS", "total": 255, "reserved": 2})
    assert r.status_code == 201
    body = api.get(_inv(rp)).json()
    assert body["resource_provider_generation"] == 2
    assert set(body["inventories"]) == {"DISK_GB", "IPV4_ADDRESS"}


def test_post_one_accepts_a_generation(api: Any, rp: str) -> None:
    r = api.post(_inv(rp), json={"resource_class": "VCPU", "total": 4,
                                 "resource_provider_generation": 0})
    assert r.status_code == 201, r.text


def test_post_existing_class_is_409(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 10}})
    r = api.post(_inv(rp), json={"resource_class": "DISK_GB", "total": 2048})
    assert_error(r, 409, detail="Update conflict")
    assert api.get(_inv(rp, "DISK_GB")).json()["total"] == 10


def test_post_unknown_class_is_400(api: Any, rp: str) -> None:
    r = api.post(_inv(rp), json={"resource_class": "NO_CLASS_14", "total": 2048})
    assert_error(r, 400, detail="NO_CLASS_14")


BAD_POST = [
    {"resource_class": "DISK_GB"},
    {"total": 1},
    {"resource_class": "bad_class", "total": 2048},
    {"resource_class": "DISK_GB", "total": -1},
    {"resource_class": "DISK_GB", "total": 0, "reserved": 512},
    {"resource_class": "DISK_GB", "total": 2048, "min_unit": 0},
    {"resource_class": "DISK_GB", "total": 2048, "max_unit": 0},
    {"resource_class": "DISK_GB", "total": 2048, "step_size": 0},
    {"resource_class": "DISK_GB", "total": 2147483648},
    {"resource_class": "DISK_GB", "total": 1024, "reserved": 2147483648},
    {"resource_class": "DISK_GB", "total": 1024, "min_unit": 2147483648},
    {"resource_class": "DISK_GB", "total": 1024, "max_unit": 2147483648},
    {"resource_class": "DISK_GB", "total": 1024, "step_size": 2147483648},
    {"resource_class": "DISK_GB", "total": 1024, "allocation_ratio": 3.40282e+39},
    {"resource_class": "DISK_GB", "total": 1024, "house": "red"},
]


def test_post_refuses_bad_bodies(api: Any, rp: str) -> None:
    for body in BAD_POST:
        assert_error(api.post(_inv(rp), json=body), 400, detail="JSON does not validate")
    assert api.get(_inv(rp)).json() == {"inventories": {}, "resource_provider_generation": 0}


# -- PUT / DELETE one ---------------------------------------------------------------------

def test_put_one(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048, "reserved": 512}, "VCPU": {"total": 2}})
    r = api.put(_inv(rp, "DISK_GB"), json={"resource_provider_generation": 1, "total": 2048,
                                           "reserved": 1024})
    assert r.status_code == 200
    assert r.json() == {"total": 2048, **DEFAULTS, "reserved": 1024,
                        "resource_provider_generation": 2}
    # other classes untouched
    assert api.get(_inv(rp, "VCPU")).json()["total"] == 2


def test_put_one_stale_generation_is_409(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048}})
    r = api.put(_inv(rp, "DISK_GB"), json={"resource_provider_generation": 5, "total": 2048})
    assert_error(r, 409, code="placement.concurrent_update",
                 detail="resource provider generation conflict")
    r = api.put(_inv(rp, "DISK_GB"), json={"resource_provider_generation": 5, "total": 2048},
                version="1.22")
    assert_error(r, 409, version="1.22")


def test_put_one_class_not_in_inventory_is_400(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048}})
    r = api.put(_inv(rp, "MEMORY_MB"), json={"resource_provider_generation": 1, "total": 2048})
    assert_error(r, 400, detail="No inventory record with resource class")
    r = api.put(_inv(rp, "HOUSE"), json={"resource_provider_generation": 1, "total": 2048})
    assert_error(r, 400)
    assert set(api.get(_inv(rp)).json()["inventories"]) == {"DISK_GB"}


def test_put_one_refuses_bad_bodies(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048}})
    for body in ({"house": "red", "car": "blue"}, {"total": 2048},
                 {"resource_provider_generation": 1},
                 {"resource_provider_generation": 1, "total": 2048, "resource_class": "DISK_GB"}):
        assert_error(api.put(_inv(rp, "DISK_GB"), json=body), 400,
                     detail="JSON does not validate")


def test_delete_one(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048}, "IPV4_ADDRESS": {"total": 255}})
    r = api.delete(_inv(rp, "IPV4_ADDRESS"))
    assert r.status_code == 204
    assert "content-type" not in r.headers
    assert api.get(_inv(rp)).json() == {
        "inventories": {"DISK_GB": {"total": 2048, **DEFAULTS}},
        "resource_provider_generation": 2}
    assert_error(api.delete(_inv(rp, "IPV4_ADDRESS")), 404, detail="IPV4_ADDRESS")
    assert_error(api.delete(_inv(rp, "HOUSE")), 404)


def test_delete_all_from_1_5(api: Any, rp: str) -> None:
    api.set_inventory(rp, {"DISK_GB": {"total": 2048}, "VCPU": {"total": 4}})
    r = api.delete(_inv(rp), version="1.5")
    assert r.status_code == 204
    assert api.get(_inv(rp)).json() == {"inventories": {}, "resource_provider_generation": 2}
    # deleting nothing still succeeds, and is a change of the provider
    assert api.delete(_inv(rp), version="1.5").status_code == 204
    assert generation(api, rp) == 3
    assert_error(api.delete(_inv(rp), version="1.4"), 405, version="1.4")


# -- in use -------------------------------------------------------------------------------

def test_removing_a_class_in_use_is_409(api: Any, rp: str, store: Store) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})
    allocate(store, rp, {"VCPU": 3})
    allocate(store, rp, {"VCPU": 2})
    r = _put_all(api, rp, {"DISK_GB": {"total": 100}})
    entry = assert_error(r, 409, code="placement.inventory.inuse")
    assert "VCPU" in entry["detail"] and "5" in entry["detail"]
    assert rp in entry["detail"]
    r = _put_all(api, rp, {})
    assert_error(r, 409, code="placement.inventory.inuse", detail="VCPU")
    r = api.delete(_inv(rp, "VCPU"))
    assert_error(r, 409, code="placement.inventory.inuse", detail="VCPU")
    r = api.delete(_inv(rp))
    assert_error(r, 409, code="placement.inventory.inuse", detail="VCPU")
    assert set(api.get(_inv(rp)).json()["inventories"]) == {"VCPU", "DISK_GB"}
    assert generation(api, rp) == 1
    # classes without allocations may still go
    r = _put_all(api, rp, {"VCPU": {"total": 8}})
    assert r.status_code == 200
    assert api.delete(_inv(rp, "VCPU"), version="1.22").status_code == 409


def test_lowering_total_below_usage_is_allowed(api: Any, rp: str, store: Store) -> None:
    api.set_inventory(rp, {"VCPU": {"total": 8}})
    allocate(store, rp, {"VCPU": 6})
    r = _put_all(api, rp, {"VCPU": {"total": 2}})
    assert r.status_code == 200, r.text
    r = api.put(_inv(rp, "VCPU"), json={"resource_provider_generation": 2, "total": 1,
                                        "reserved": 0})
    assert r.status_code == 200, r.text
    usages = api.get(f"/resource_providers/{rp}/usages").json()
    assert usages == {"usages": {"VCPU": 6}, "resource_provider_generation": 3}
