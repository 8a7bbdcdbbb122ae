"""The error contract: body shape, codes from 1.23, 404/405/406/415/400 at the edge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .helpers import REQUEST_ID, assert_error, new_uuid


def test_unknown_route_is_404_with_code_from_1_23(api: Any) -> None:
    for version in ("1.0", "1.22", "1.23", "latest"):
        r = api.get("/barnabas", version=version)
        assert_error(r, 404, version=version, detail="The resource could not be found.")


def test_error_responses_carry_version_headers(api: Any) -> None:
    r = api.get("/barnabas", version="1.23")
    assert r.headers["openstack-api-version"] == "placement 1.23"
    assert r.headers["vary"] == "openstack-api-version"
    assert REQUEST_ID.match(r.headers["x-openstack-request-id"])


def test_unknown_subresource_of_provider_is_404(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    assert_error(api.get(f"/resource_providers/{uuid}/cows"), 404)


def test_missing_provider_is_404_with_not_found_code(api: Any) -> None:
    uuid = new_uuid()
    r = api.get(f"/resource_providers/{uuid}")
    assert_error(r, 404, code="placement.resource_provider.not_found",
                 detail=f"No resource provider with uuid {uuid} found")


def test_error_detail_in_html_when_only_html_is_accepted(api: Any) -> None:
    r = api.get("/barnabas", headers={"accept": "text/html"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "404 Not Found" in r.text
    assert REQUEST_ID.match(r.headers["x-openstack-request-id"])


def test_error_is_json_for_a_wildcard_accept(api: Any) -> None:
    r = api.get("/resource_providers/foo", headers={"accept": "*/*"})
    assert_error(r, 404, code="placement.resource_provider.not_found")


WRONG_METHODS = [
    ("DELETE", "/resource_providers", "GET, POST"),
    ("OPTIONS", "/resource_providers", "GET, POST"),
    ("PATCH", "/resource_providers/{uuid}", "DELETE, GET, PUT"),
    ("POST", "/resource_providers/{uuid}/usages", "GET"),
    ("DELETE", "/resource_providers/{uuid}/aggregates", "GET, PUT"),
    ("POST", "/traits", "GET"),
    ("POST", "/traits/CUSTOM_X", "DELETE, GET, PUT"),
    ("PATCH", "/resource_classes", "GET, POST"),
    ("POST", "/resource_providers/{uuid}/inventories/VCPU", "DELETE, GET, PUT"),
]


def test_wrong_method_is_405_with_allow(api: Any) -> None:
    for method, path, allow in WRONG_METHODS:
        r = api.request(method, path.format(uuid=new_uuid()))
        entry = assert_error(r, 405)
        assert r.headers["allow"] == allow, (method, path)
        assert f"The method {method} is not allowed for this resource." in entry["detail"]


BELOW_MICROVERSION = [
    ("GET", "/traits", "1.5"),
    ("GET", "/traits/CUSTOM_X", "1.5"),
    ("PUT", "/traits/CUSTOM_X", "1.5"),
    ("DELETE", "/traits/CUSTOM_X", "1.5"),
    ("GET", "/resource_classes", "1.1"),
    ("POST", "/resource_classes", "1.1"),
    ("GET", "/resource_classes/VCPU", "1.1"),
    ("PUT", "/resource_classes/CUSTOM_X", "1.1"),
    ("DELETE", "/resource_classes/CUSTOM_X", "1.1"),
    ("GET", "/resource_providers/{uuid}/aggregates", "1.0"),
    ("PUT", "/resource_providers/{uuid}/aggregates", "1.0"),
    ("GET", "/resource_providers/{uuid}/traits", "1.5"),
    ("PUT", "/resource_providers/{uuid}/traits", "1.5"),
    ("DELETE", "/resource_providers/{uuid}/traits", "1.5"),
]


def test_routes_below_their_microversion_are_404(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    for method, path, version in BELOW_MICROVERSION:
        r = api.request(method, path.format(uuid=uuid), version=version,
                        headers={"content-type": "application/json"}, content=b"{}")
        assert_error(r, 404, version=version)


def test_delete_all_inventories_below_1_5_is_405(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.delete(f"/resource_providers/{uuid}/inventories", version="1.4")
    assert_error(r, 405, version="1.4")
    r = api.delete(f"/resource_providers/{uuid}/inventories", version="1.5")
    assert r.status_code == 204


def test_wrong_content_type_is_415(api: Any) -> None:
    for ctype in ("text/plain", "application/xml", "application/jsonx", "multipart/form-data"):
        r = api.post("/resource_providers", content=b'{"name": "rp"}',
                     headers={"content-type": ctype})
        entry = assert_error(r, 415)
        assert "is not supported, use application/json" in entry["detail"]


def test_content_type_with_charset_is_json(api: Any) -> None:
    r = api.post("/resource_providers", content=b'{"name": "rp"}',
                 headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_put_without_body_or_content_type_is_415(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.put(f"/resource_providers/{uuid}")
    assert_error(r, 415, detail="The media type None is not supported, use application/json")


def test_a_body_that_is_not_json_is_415_before_the_provider_is_looked_up(api: Any) -> None:
    # As Placement: the media type is checked first, so an unknown provider written to
    # without a JSON body is a 415, not a 404 (issue 11, basic-http.yaml).
    missing = new_uuid()
    for path in (f"/resource_providers/{missing}", f"/resource_providers/{missing}/inventories",
                 f"/resource_providers/{missing}/inventories/VCPU",
                 f"/resource_providers/{missing}/aggregates",
                 f"/resource_providers/{missing}/traits"):
        assert_error(api.put(path), 415)
        assert_error(api.put(path, content=b"{}", headers={"content-type": "text/plain"}), 415)
    assert_error(api.post(f"/resource_providers/{missing}/inventories"), 415)
    # with a JSON body, bad or good, an unknown provider is still a 404
    r = api.put(f"/resource_providers/{missing}", content=b"{",
                headers={"content-type": "application/json"})
    assert_error(r, 404, code="placement.resource_provider.not_found")


def test_body_without_content_type_is_400(api: Any) -> None:
    r = api.post("/resource_providers", content=b"I want a resource provider please")
    assert_error(r, 400, detail="content-type header required")


def test_malformed_json_is_400(api: Any) -> None:
    for body in (b'{"foo": }', b"{", b"[1, 2", b"\xff\xfe", b"", b'{"name": "a"} trailing'):
        r = api.post("/resource_providers", content=body,
                     headers={"content-type": "application/json"})
        assert_error(r, 400, detail="Malformed JSON")


def test_deeply_nested_json_is_400(api: Any) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    r = api.post("/resource_providers", content=body,
                 headers={"content-type": "application/json"})
    assert_error(r, 400, detail="Malformed JSON")


def test_nul_characters_in_json_are_400(api: Any) -> None:
    for body in ({"name": "a\x00b"}, {"name": "rp", "a\x00": 1}, {"name": ["\x00"]}, "\x00"):
        r = api.post("/resource_providers", json=body)
        assert_error(r, 400, detail="Malformed JSON")
    assert api.get("/resource_providers").json() == {"resource_providers": []}


def test_nul_characters_in_the_url_are_400(api: Any) -> None:
    for path in ("/resource_providers?name=a%00b", "/resource_providers/abc%00def",
                 "/traits/CUSTOM_X%00", "/resource_classes/CUSTOM_X%00", "/traits?name=in:A%00"):
        assert_error(api.get(path), 400, detail="NUL")


def test_nan_and_infinity_are_not_json(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = ('{"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8, '
                '"allocation_ratio": ' + constant + '}}}').encode()
        r = api.put(f"/resource_providers/{uuid}/inventories", content=body,
                    headers={"content-type": "application/json"})
        assert_error(r, 400, detail="Malformed JSON")


INVALID_PROVIDER_BODIES = [
    {"transport": "car", "color": "blue"},
    {"name": "rp", "color": "blue"},
    {"name": 5},
    {"name": None},
    {"name": ["rp"]},
    {"name": True},
    {"name": "x" * 201},
    {"name": "rp", "uuid": "not a uuid"},
    {"name": "rp", "uuid": 12},
    [{"name": "rp"}],
    "rp",
    None,
    12,
]


def test_body_that_does_not_validate_is_400(api: Any) -> None:
    for body in INVALID_PROVIDER_BODIES:
        r = api.post("/resource_providers", content=json.dumps(body).encode(),
                     headers={"content-type": "application/json"})
        assert_error(r, 400, detail="JSON does not validate")


BAD_NUMBERS = [
    ("total", True), ("total", "8"), ("total", 8.5), ("total", None), ("total", [8]),
    ("total", -1), ("total", 0), ("total", 2147483648), ("total", 10**30),
    ("reserved", -1), ("reserved", False), ("reserved", 2147483648),
    ("min_unit", 0), ("max_unit", 0), ("step_size", 0), ("step_size", True),
    ("allocation_ratio", "1.0"), ("allocation_ratio", 3.40282e39), ("allocation_ratio", True),
    ("resource_provider_generation", "0"), ("resource_provider_generation", True),
]


def test_inventory_numbers_are_typed_and_bounded(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    for field, value in BAD_NUMBERS:
        record = {"total": 8, "resource_provider_generation": 0, field: value}
        r = api.put(f"/resource_providers/{uuid}/inventories/VCPU", json=record)
        # VCPU is not in the inventory yet: body validation must come first
        entry = assert_error(r, 400)
        assert "JSON does not validate" in entry["detail"], (field, value)


def test_stale_generation_is_409_concurrent_update(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.put(f"/resource_providers/{uuid}/inventories",
                json={"resource_provider_generation": 5, "inventories": {}})
    assert_error(r, 409, code="placement.concurrent_update",
                 detail="resource provider generation conflict")
    r = api.put(f"/resource_providers/{uuid}/inventories", version="1.22",
                json={"resource_provider_generation": 5, "inventories": {}})
    assert_error(r, 409, version="1.22")


GET_PATHS = ["/resource_providers", "/resource_providers/{uuid}",
             "/resource_providers/{uuid}/inventories",
             "/resource_providers/{uuid}/inventories/VCPU",
             "/resource_providers/{uuid}/usages", "/resource_providers/{uuid}/allocations",
             "/resource_providers/{uuid}/aggregates", "/resource_providers/{uuid}/traits",
             "/traits", "/resource_classes", "/resource_classes/VCPU"]


@pytest.mark.parametrize("accept", ["text/plain", "application/xml",
                                    "text/html,application/xhtml+xml,application/xml;q=0.9"])
def test_accept_without_json_is_406(api: Any, accept: str) -> None:
    uuid = api.create_provider("rp")["uuid"]
    api.set_inventory(uuid, {"VCPU": {"total": 1}})
    for path in GET_PATHS:
        r = api.get(path.format(uuid=uuid), headers={"accept": accept})
        assert r.status_code == 406, (path, r.text)
        assert "Only application/json is provided" in r.text


def test_accept_that_allows_json_is_served(api: Any) -> None:
    for accept in ("application/json", "*/*", "application/*",
                   "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"):
        r = api.get("/resource_providers", headers={"accept": accept})
        assert r.status_code == 200
        assert r.json() == {"resource_providers": []}


def test_newline_in_path_still_gets_a_placement_error(api: Any) -> None:
    assert_error(api.get("/resource_providers/%0A"), 404,
                 code="placement.resource_provider.not_found")
    assert_error(api.get("/no%0Aroute"), 404)
