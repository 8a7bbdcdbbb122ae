"""/traits, /traits/{name} and /resource_providers/{uuid}/traits (1.6+)."""

from __future__ import annotations

from typing import Any

import os_traits
import pytest

from .helpers import absolute, assert_cache_headers, assert_error, generation, new_uuid, put_traits

T = "/traits"


def _names(resp: Any) -> list[str]:
    """The trait names, sorted here: the order depends on the database's collation."""
    assert resp.status_code == 200, resp.text
    names: list[str] = resp.json()["traits"]
    assert len(names) == len(set(names))
    return sorted(names)


def _rp_traits(rp: str) -> str:
    return f"/resource_providers/{rp}/traits"


# -- /traits/{name} ------------------------------------------------------------------------

def test_put_get_delete_custom_trait(api: Any) -> None:
    r = api.put(f"{T}/CUSTOM_TRAIT_1", version="1.6")
    assert r.status_code == 201
    assert r.headers["location"] == absolute("/traits/CUSTOM_TRAIT_1")
    assert "content-type" not in r.headers
    assert_cache_headers(r, False)
    r = api.put(f"{T}/CUSTOM_TRAIT_1", version="1.6")
    assert r.status_code == 204
    assert r.headers["location"] == absolute("/traits/CUSTOM_TRAIT_1")
    r = api.get(f"{T}/CUSTOM_TRAIT_1", version="1.6")
    assert r.status_code == 204
    assert r.content == b""
    assert "content-type" not in r.headers
    r = api.delete(f"{T}/CUSTOM_TRAIT_1")
    assert r.status_code == 204
    assert_error(api.get(f"{T}/CUSTOM_TRAIT_1"), 404, detail="CUSTOM_TRAIT_1")
    assert_error(api.delete(f"{T}/CUSTOM_TRAIT_1"), 404)


@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True)])
def test_trait_cache_headers(api: Any, version: str, cached: bool) -> None:
    assert_cache_headers(api.put(f"{T}/CUSTOM_TRAIT_1", version=version), cached)
    assert_cache_headers(api.put(f"{T}/CUSTOM_TRAIT_1", version=version), cached)
    assert_cache_headers(api.get(f"{T}/CUSTOM_TRAIT_1", version=version), cached)
    assert_cache_headers(api.get(T, version=version), cached)
    rp = api.create_provider("rp")["uuid"]
    assert_cache_headers(api.get(_rp_traits(rp), version=version), cached)
    r = api.put(_rp_traits(rp), version=version,
                json={"resource_provider_generation": 0, "traits": ["CUSTOM_TRAIT_1"]})
    assert_cache_headers(r, cached)


def test_standard_trait_exists(api: Any) -> None:
    assert api.get(f"{T}/HW_CPU_X86_SSE").status_code == 204
    assert_error(api.get(f"{T}/NON_EXISTED"), 404)
    # no body, so no 406 whatever the client accepts
    assert api.get(f"{T}/HW_CPU_X86_SSE", headers={"accept": "text/plain"}).status_code == 204


def test_put_refuses_non_custom_names(api: Any) -> None:
    for name in ("TRAIT_X", "CUSTOM_ABC:1", "CUSTOM_", "custom_x", "CUSTOM_" + "A" * 249,
                 "HW_CPU_X86_SSE"):
        assert_error(api.put(f"{T}/{name}"), 400)


def test_255_character_trait_is_fine(api: Any) -> None:
    name = "CUSTOM_" + "A" * 248
    assert api.put(f"{T}/{name}").status_code == 201


def test_delete_standard_trait_is_400(api: Any) -> None:
    assert_error(api.delete(f"{T}/HW_CPU_X86_SSE"), 400, detail="Cannot delete standard trait")
    assert api.get(f"{T}/HW_CPU_X86_SSE").status_code == 204


def test_delete_associated_trait_is_409(api: Any) -> None:
    api.put(f"{T}/CUSTOM_TRAIT_1")
    rp = api.create_provider("rp")["uuid"]
    put_traits(api, rp, ["CUSTOM_TRAIT_1"])
    assert_error(api.delete(f"{T}/CUSTOM_TRAIT_1"), 409,
                 detail="The trait CUSTOM_TRAIT_1 is in use by a resource provider.")
    put_traits(api, rp, [])
    assert api.delete(f"{T}/CUSTOM_TRAIT_1").status_code == 204


# -- GET /traits -----------------------------------------------------------------------------

def test_list_has_standard_and_custom_traits(api: Any) -> None:
    api.put(f"{T}/CUSTOM_TRAIT_1")
    api.put(f"{T}/CUSTOM_TRAIT_2")
    names = _names(api.get(T, version="1.6"))
    assert set(names) == set(os_traits.get_traits()) | {"CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"}


def test_list_filters(api: Any) -> None:
    for name in ("CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2", "CUSTOM_ANOTHER_TRAIT", "CUSTOM_TRAITX"):
        api.put(f"{T}/{name}")
    assert _names(api.get(T, params={"name": "in:CUSTOM_TRAIT_1,CUSTOM_TRAIT_2"})) == [
        "CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]
    assert _names(api.get(T, params={"name": "in:CUSTOM_TRAIT_1,CUSTOM_NOPE,HW_CPU_X86_SSE"})
                  ) == ["CUSTOM_TRAIT_1", "HW_CPU_X86_SSE"]
    assert _names(api.get(T, params={"name": "startswith:CUSTOM_TRAIT_"})) == [
        "CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]
    # '_' is not a wildcard
    assert _names(api.get(T, params={"name": "startswith:CUSTOM_TRAIT"})) == [
        "CUSTOM_TRAITX", "CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]
    assert _names(api.get(T, params={"name": "startswith:CUSTOM%"})) == []
    custom = _names(api.get(T, params={"name": "startswith:CUSTOM_"}))
    assert custom == sorted(["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2", "CUSTOM_ANOTHER_TRAIT",
                             "CUSTOM_TRAITX"])


def test_list_associated(api: Any) -> None:
    api.put(f"{T}/CUSTOM_TRAIT_1")
    api.put(f"{T}/CUSTOM_TRAIT_2")
    rp = api.create_provider("rp")["uuid"]
    put_traits(api, rp, ["CUSTOM_TRAIT_1", "HW_CPU_X86_SSE"])
    assert _names(api.get(T, params={"associated": "true"})) == ["CUSTOM_TRAIT_1",
                                                                 "HW_CPU_X86_SSE"]
    assert _names(api.get(T, params={"associated": "True"})) == ["CUSTOM_TRAIT_1",
                                                                 "HW_CPU_X86_SSE"]
    unassociated = _names(api.get(T, params={"associated": "false"}))
    assert "CUSTOM_TRAIT_2" in unassociated
    assert "CUSTOM_TRAIT_1" not in unassociated and "HW_CPU_X86_SSE" not in unassociated
    assert _names(api.get(T, params={"associated": "false", "name": "startswith:CUSTOM_"})
                  ) == ["CUSTOM_TRAIT_2"]


@pytest.mark.parametrize("query,detail", [
    ("name=in_abc", 'Badly formatted name parameter. Expected name query string parameter '
                    'in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: "in_abc"'),
    ("associated=xyz", 'The query parameter "associated" only accepts "true" or "false"'),
    ("invalid=abc", "Invalid query string parameters: Additional properties are not allowed"),
])
def test_list_refuses_bad_query(api: Any, query: str, detail: str) -> None:
    assert_error(api.get(f"{T}?{query}"), 400, detail=detail, code="placement.query.bad_value")


# -- /resource_providers/{uuid}/traits ----------------------------------------------------

def test_provider_traits(api: Any) -> None:
    api.put(f"{T}/CUSTOM_TRAIT_1")
    api.put(f"{T}/CUSTOM_TRAIT_2")
    rp = api.create_provider("rp")["uuid"]
    assert api.get(_rp_traits(rp), version="1.6").json() == {
        "traits": [], "resource_provider_generation": 0}
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 0,
                                      "traits": ["CUSTOM_TRAIT_2", "CUSTOM_TRAIT_1"]})
    assert r.status_code == 200
    assert sorted(r.json()["traits"]) == ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]
    assert r.json()["resource_provider_generation"] == 1
    got = api.get(_rp_traits(rp)).json()
    assert sorted(got["traits"]) == ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]
    assert got["resource_provider_generation"] == 1
    # replace, not add
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 1,
                                      "traits": ["HW_CPU_X86_SSE"]})
    assert r.json() == {"traits": ["HW_CPU_X86_SSE"], "resource_provider_generation": 2}
    # the same set again is still a write
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 2,
                                      "traits": ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE"]})
    assert r.json() == {"traits": ["HW_CPU_X86_SSE"], "resource_provider_generation": 3}
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 3, "traits": []})
    assert r.json() == {"traits": [], "resource_provider_generation": 4}


def test_provider_traits_stale_generation_is_409(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    put_traits(api, rp, ["HW_CPU_X86_SSE"])
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 5,
                                      "traits": ["HW_CPU_X86_SSE2"]})
    assert_error(r, 409, code="placement.concurrent_update")
    assert api.get(_rp_traits(rp)).json()["traits"] == ["HW_CPU_X86_SSE"]


def test_provider_traits_unknown_trait_is_400(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    r = api.put(_rp_traits(rp), json={"resource_provider_generation": 0, "traits": [
        "NON_EXISTED_TRAIT1", "NON_EXISTED_TRAIT2", "HW_CPU_X86_SSE"]})
    entry = assert_error(r, 400, detail="No such trait")
    assert "NON_EXISTED_TRAIT1" in entry["detail"] and "NON_EXISTED_TRAIT2" in entry["detail"]
    assert api.get(_rp_traits(rp)).json() == {"traits": [], "resource_provider_generation": 0}


BAD_TRAIT_BODIES = [
    {"traits": ["CUSTOM_TRAIT_1"]},
    {"resource_provider_generation": "invalid_generation", "traits": ["HW_CPU_X86_SSE"]},
    {"resource_provider_generation": 0, "traits": "invalid_type"},
    {"resource_provider_generation": 0, "traits": ["HW_CPU_X86_SSE"], "extra": 1},
    {"resource_provider_generation": 0},
    {"resource_provider_generation": 0, "traits": [1]},
    {"resource_provider_generation": 0, "traits": [""]},
    {"resource_provider_generation": True, "traits": []},
]


def test_provider_traits_refuse_bad_bodies(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    for body in BAD_TRAIT_BODIES:
        assert_error(api.put(_rp_traits(rp), json=body), 400)
    assert generation(api, rp) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_provider_traits_of_missing_provider_are_404(api: Any, method: str) -> None:
    for uuid in (new_uuid(), "non_existed"):
        r = api.request(method, _rp_traits(uuid),
                        json={"resource_provider_generation": 0, "traits": []})
        assert_error(r, 404, code="placement.resource_provider.not_found",
                     detail=f"No resource provider with uuid {uuid} found")


def test_delete_provider_traits(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    put_traits(api, rp, ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"])
    r = api.delete(_rp_traits(rp))
    assert r.status_code == 204
    assert "content-type" not in r.headers
    assert api.get(_rp_traits(rp)).json() == {"traits": [], "resource_provider_generation": 2}
