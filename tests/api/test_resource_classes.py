"""/resource_classes and /resource_classes/{name} (1.2+; PUT is create-or-verify from 1.7)."""

from __future__ import annotations

from typing import Any

import os_resource_classes
import pytest

from corral.persistence import Store

from .helpers import absolute, allocate, assert_cache_headers, assert_error

RC = "/resource_classes"
TOO_LONG = "CUSTOM_" + "S" * 249  # 256 characters


def _link(name: str) -> dict[str, Any]:
    return {"name": name, "links": [{"rel": "self", "href": f"/resource_classes/{name}"}]}


def test_list_has_every_standard_class(api: Any) -> None:
    r = api.get(RC, version="1.2")
    assert r.status_code == 200
    listed = r.json()["resource_classes"]
    assert {c["name"] for c in listed} == set(os_resource_classes.STANDARDS)
    assert _link("VCPU") in listed


def test_create_show_list_delete(api: Any) -> None:
    r = api.post(RC, json={"name": "CUSTOM_NFV_FOO"}, version="1.2")
    assert r.status_code == 201
    assert r.headers["location"] == absolute("/resource_classes/CUSTOM_NFV_FOO")
    assert r.content == b""
    assert "content-type" not in r.headers
    r = api.get(f"{RC}/CUSTOM_NFV_FOO")
    assert r.status_code == 200
    assert r.json() == _link("CUSTOM_NFV_FOO")
    names = [c["name"] for c in api.get(RC).json()["resource_classes"]]
    assert "CUSTOM_NFV_FOO" in names
    assert len(names) == len(os_resource_classes.STANDARDS) + 1
    r = api.delete(f"{RC}/CUSTOM_NFV_FOO")
    assert r.status_code == 204
    assert_error(api.get(f"{RC}/CUSTOM_NFV_FOO"), 404, detail="CUSTOM_NFV_FOO")
    assert_error(api.delete(f"{RC}/CUSTOM_NFV_FOO"), 404)


def test_show_standard_class(api: Any) -> None:
    assert api.get(f"{RC}/VCPU").json() == _link("VCPU")


@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True)])
def test_cache_headers(api: Any, version: str, cached: bool) -> None:
    assert_cache_headers(api.get(RC, version=version), cached)
    assert_cache_headers(api.get(f"{RC}/VCPU", version=version), cached)


def test_create_existing_is_409(api: Any) -> None:
    assert api.post(RC, json={"name": "CUSTOM_X"}).status_code == 201
    assert_error(api.post(RC, json={"name": "CUSTOM_X"}), 409,
                 detail="Conflicting resource class already exists")


def test_create_refuses_bad_names(api: Any) -> None:
    for body in ({"name": "FOO"}, {"name": "VCPU"}, {"name": "CUSTOM_Illegal&@!Name?"},
                 {"name": "CUSTOM_"}, {"name": "custom_lower"}, {"name": TOO_LONG},
                 {"name": "CUSTOM_X", "extra": 1}, {"name": 5}, {}, ["CUSTOM_X"]):
        assert_error(api.post(RC, json=body), 400, detail="JSON does not validate")
    assert len(api.get(RC).json()["resource_classes"]) == len(os_resource_classes.STANDARDS)


def test_255_characters_is_the_limit(api: Any) -> None:
    name = TOO_LONG[:255]
    assert api.post(RC, json={"name": name}).status_code == 201
    assert api.get(f"{RC}/{name}").status_code == 200


def test_missing_class_is_404(api: Any) -> None:
    assert_error(api.get(f"{RC}/CUSTOM_NOPE"), 404, detail="No such resource class CUSTOM_NOPE")


# -- PUT, 1.2-1.6: rename ------------------------------------------------------------------

def test_rename_before_1_7(api: Any) -> None:
    api.post(RC, json={"name": "CUSTOM_NFV_FOO"})
    r = api.put(f"{RC}/CUSTOM_NFV_FOO", json={"name": "CUSTOM_NFV_BAR"}, version="1.6")
    assert r.status_code == 200
    assert r.json() == _link("CUSTOM_NFV_BAR")
    assert_error(api.get(f"{RC}/CUSTOM_NFV_FOO"), 404)
    assert api.get(f"{RC}/CUSTOM_NFV_BAR").status_code == 200


def test_rename_standard_class_is_400(api: Any) -> None:
    r = api.put(f"{RC}/VCPU", json={"name": "CUSTOM_VCPU"}, version="1.6")
    assert_error(r, 400, version="1.6", detail="Cannot update standard resource class VCPU")
    assert api.get(f"{RC}/VCPU").status_code == 200


def test_rename_to_bad_name_is_400(api: Any) -> None:
    api.post(RC, json={"name": "CUSTOM_NFV_FOO"})
    for body in ({"name": "VCPU"}, {"name": "VCPU_ALTERNATE"}, {"name": "CUSTOM_X", "extra": 1},
                 {"name": TOO_LONG}):
        r = api.put(f"{RC}/CUSTOM_NFV_FOO", json=body, version="1.6")
        assert_error(r, 400, version="1.6", detail="JSON does not validate")
    assert api.get(f"{RC}/CUSTOM_NFV_FOO").status_code == 200


def test_rename_onto_existing_class_is_409(api: Any) -> None:
    api.post(RC, json={"name": "CUSTOM_A"})
    api.post(RC, json={"name": "CUSTOM_B"})
    r = api.put(f"{RC}/CUSTOM_A", json={"name": "CUSTOM_B"}, version="1.6")
    assert_error(r, 409, version="1.6", detail="CUSTOM_B")


def test_rename_missing_class_is_404(api: Any) -> None:
    r = api.put(f"{RC}/CUSTOM_NOPE", json={"name": "CUSTOM_B"}, version="1.2")
    assert_error(r, 404, version="1.2")


def test_bodiless_put_before_1_7_is_400(api: Any) -> None:
    api.post(RC, json={"name": "CUSTOM_COW"})
    r = api.put(f"{RC}/CUSTOM_COW", version="1.6", content=b"",
                headers={"content-type": "application/json"})
    assert_error(r, 400, version="1.6", detail="Malformed JSON")
    assert_error(api.put(f"{RC}/CUSTOM_COW", version="1.6"), 415, version="1.6")


# -- PUT, 1.7+: create or verify -----------------------------------------------------------

def test_put_creates_then_verifies(api: Any) -> None:
    r = api.put(f"{RC}/CUSTOM_COW", version="1.7")
    assert r.status_code == 201
    assert r.headers["location"] == absolute("/resource_classes/CUSTOM_COW")
    assert r.content == b""
    r = api.put(f"{RC}/CUSTOM_COW", version="1.7")
    assert r.status_code == 204
    assert r.headers["location"] == absolute("/resource_classes/CUSTOM_COW")
    assert api.get(f"{RC}/CUSTOM_COW").status_code == 200
    for status in (201, 204):
        r = api.put(f"{RC}/CUSTOM_PIG", version="latest")
        assert r.status_code == status
        assert "content-type" not in r.headers
        assert_cache_headers(r, False)


def test_put_refuses_non_custom_names(api: Any) -> None:
    for name in ("COW", "VCPU", "MEMORY_MB", TOO_LONG, "CUSTOM_", "custom_x"):
        assert_error(api.put(f"{RC}/{name}", version="1.7"), 400, version="1.7")
        assert_error(api.put(f"{RC}/{name}"), 400)


def test_post_still_creates_at_1_7(api: Any) -> None:
    r = api.post(RC, json={"name": "CUSTOM_SHEEP"}, version="1.7")
    assert r.status_code == 201
    assert r.headers["location"] == absolute("/resource_classes/CUSTOM_SHEEP")


# -- DELETE --------------------------------------------------------------------------------

def test_delete_standard_class_is_400(api: Any) -> None:
    assert_error(api.delete(f"{RC}/VCPU"), 400, detail="Cannot delete standard resource class")
    assert api.get(f"{RC}/VCPU").status_code == 200


def test_delete_class_in_use_is_409(api: Any, store: Store) -> None:
    api.put(f"{RC}/CUSTOM_GPU")
    rp = api.create_provider("rp")["uuid"]
    api.set_inventory(rp, {"CUSTOM_GPU": {"total": 2}})
    assert_error(api.delete(f"{RC}/CUSTOM_GPU"), 409, detail="CUSTOM_GPU")
    allocate(store, rp, {"CUSTOM_GPU": 1})
    assert_error(api.delete(f"{RC}/CUSTOM_GPU"), 409)
    assert api.get(f"{RC}/CUSTOM_GPU").status_code == 200


def test_delete_class_after_inventory_goes(api: Any) -> None:
    api.put(f"{RC}/CUSTOM_GPU")
    rp = api.create_provider("rp")["uuid"]
    api.set_inventory(rp, {"CUSTOM_GPU": {"total": 2}})
    api.set_inventory(rp, {})
    assert api.delete(f"{RC}/CUSTOM_GPU").status_code == 204
