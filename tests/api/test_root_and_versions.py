"""Version discovery and the microversion header: GET /, 400/406, latest, vary."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import REQUEST_ID, absolute, assert_cache_headers, assert_error

VERSION_DOC = {"versions": [{
    "id": "v1.0", "min_version": "1.0", "max_version": "1.39", "status": "CURRENT",
    "links": [{"rel": "self", "href": ""}],
}]}


def test_root_needs_no_token(client: Any) -> None:
    for path in ("/", "/placement", "/placement/"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.json() == VERSION_DOC
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["openstack-api-version"] == "placement 1.0"
        assert r.headers["vary"] == "openstack-api-version"
        assert REQUEST_ID.match(r.headers["x-openstack-request-id"])


def test_root_with_a_token_is_the_same_document(api: Any) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.json() == VERSION_DOC


def test_latest_is_the_maximum(client: Any) -> None:
    r = client.get("/", headers={"openstack-api-version": "placement latest"})
    assert r.status_code == 200
    assert r.headers["openstack-api-version"] == "placement 1.39"
    assert r.headers["vary"] == "openstack-api-version"


VERSION_ECHOES = [
    ("placement 1.0", "placement 1.0"),
    ("placement 1.23", "placement 1.23"),
    ("placement 1.39", "placement 1.39"),
    ("PLACEMENT 1.7", "placement 1.7"),
    ("compute 2.1, placement 1.14", "placement 1.14"),
    ("compute 2.1", "placement 1.0"),
    ("placement LATEST", "placement 1.39"),
]


def test_version_header_is_echoed(client: Any) -> None:
    for header, expected in VERSION_ECHOES:
        r = client.get("/", headers={"openstack-api-version": header})
        assert r.status_code == 200
        assert r.headers["openstack-api-version"] == expected


def test_malformed_version_is_400(client: Any) -> None:
    for value in ("pony.horse", "1.2.3", "1", "1.", ".1", "1.a", "v1.2", "", "1.2 3"):
        r = client.get("/resource_providers", headers={
            "openstack-api-version": f"placement {value}", "x-auth-token": "admin"})
        entry = assert_error(r, 400, version="1.0")
        assert "invalid version string" in entry["detail"]


def test_out_of_range_version_is_406(client: Any) -> None:
    for value in ("1.40", "0.9", "0.5", "2.0", "1.100"):
        r = client.get("/", headers={"openstack-api-version": f"placement {value}"})
        entry = assert_error(r, 406, version="1.0",
                             extra=frozenset({"min_version", "max_version"}))
        assert f"Unacceptable version header: {value}" in entry["detail"]


def test_406_for_version_names_supported_range(client: Any) -> None:
    r = client.get("/", headers={"openstack-api-version": "placement 1.40"})
    assert r.status_code == 406
    entry = r.json()["errors"][0]
    assert entry["min_version"] == "1.0"
    assert entry["max_version"] == "1.39"


def test_version_errors_carry_request_id(client: Any) -> None:
    r = client.get("/", headers={"openstack-api-version": "placement 9.9"})
    assert REQUEST_ID.match(r.headers["x-openstack-request-id"])
    r = client.get("/", headers={"openstack-api-version": "placement x"})
    assert REQUEST_ID.match(r.headers["x-openstack-request-id"])


def test_bad_version_in_html_when_asked(client: Any) -> None:
    r = client.get("/", headers={"openstack-api-version": "placement 0.5", "accept": "text/html"})
    assert r.status_code == 406
    assert r.headers["content-type"].startswith("text/html")
    assert "Unacceptable version header: 0.5" in r.text


def test_request_ids_differ_per_request(client: Any) -> None:
    ids = {client.get("/").headers["x-openstack-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_root_cache_headers_from_1_15(client: Any) -> None:
    for version, cached in (("1.14", False), ("1.15", True), ("latest", True)):
        r = client.get("/", headers={"openstack-api-version": f"placement {version}"})
        assert r.status_code == 200
        assert_cache_headers(r, cached)


def test_root_only_answers_get(client: Any) -> None:
    r = client.delete("/", headers={"x-auth-token": "admin"})
    assert_error(r, 405, version="1.0")
    assert r.headers["allow"] == "GET"
    assert r.headers["openstack-api-version"] == "placement 1.0"


def test_healthz_is_outside_placement(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize("prefix", ["", "/placement"])
def test_links_follow_the_mount_point(api: Any, prefix: str) -> None:
    r = api.post(f"{prefix}/resource_providers", json={"name": "rp"})
    assert r.status_code == 200
    uuid = r.json()["uuid"]
    assert r.headers["location"] == absolute(f"{prefix}/resource_providers/{uuid}")
    self_link = next(link for link in r.json()["links"] if link["rel"] == "self")
    assert self_link["href"] == f"{prefix}/resource_providers/{uuid}"
    r = api.get(f"{prefix}/resource_providers/{uuid}")
    assert r.status_code == 200
    assert r.json()["uuid"] == uuid
