"""The HTTP edge of /v1: every error is the /v1 JSON body and says what to send instead.

Wrong methods (405 with Allow), trailing slashes (404 naming the path without it),
malformed JSON (line and column), bodies that are not JSON (415), NUL characters in the
path, query or body (400 naming the field), and names in any script in Location headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from .helpers import SQLITE_ONLY, V1, assert_v1_error

# -- names in any script ---------------------------------------------------------------------


def test_a_non_ascii_name_is_created_once_and_its_location_works(v1: V1) -> None:
    r = v1.post("/aggregates", json={"name": "agg-日本"})
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location.isascii()
    assert unquote(location).endswith("/v1/aggregates/agg-日本")
    assert v1.client.get(location, headers={"x-auth-token": "admin"}).json()["name"] == "agg-日本"
    # The client was told it worked: a retry is a conflict, not a second aggregate.
    assert_v1_error(v1.post("/aggregates", json={"name": "agg-日本"}), 409)
    names = [a["name"] for a in v1.ok("GET", "/aggregates")["aggregates"]]
    assert names.count("agg-日本") == 1


# -- NUL characters ----------------------------------------------------------------------------

NUL_QUERIES = [
    ("/hosts", "zone"),
    ("/instances", "project_id"),
    ("/decisions", "instance_id"),
    ("/server-groups", "project_id"),
    ("/tokens", "project_id"),
    ("/capacity", "zone"),
]


@pytest.mark.parametrize(("path", "name"), NUL_QUERIES)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(v1: V1, path: str, name: str) -> None:
    r = v1.get(f"{path}?{name}=a%00b")
    assert_v1_error(r, 400, code="invalid_input", field=name, message="NUL")


NUL_PATHS = ["/hosts/a%00b", "/server-groups/a%00b", "/instances/a%00b", "/tokens/a%00b",
             "/decisions/a%00b", "/projects/a%00b", "/flavors/a%00b", "/aggregates/a%00b"]


@pytest.mark.parametrize("path", NUL_PATHS)
def test_a_nul_in_the_path_is_a_400(v1: V1, path: str) -> None:
    error = assert_v1_error(v1.get(path), 400, code="invalid_input", message="NUL")
    assert error["field"]


NUL_BODIES = [
    ("POST", "/projects", {"id": "p\u0000", "name": "p"}, "id"),
    ("POST", "/aggregates", {"name": "a\u0000"}, "name"),
    ("POST", "/aggregates", {"name": "a", "metadata": {"k": "v\u0000"}}, "metadata.k"),
    ("POST", "/server-groups", {"name": "g\u0000", "policy": "anti-affinity",
                                "project_id": "demo"}, "name"),
    ("PUT", "/hosts/h1", {"vcpus": 1, "memory_mb": 1024, "disk_gb": 1,
                          "zone": "z\u0000"}, "zone"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_BODIES)
def test_a_nul_in_a_json_string_is_a_400_naming_the_field(
        v1: V1, method: str, path: str, body: dict[str, Any], field: str) -> None:
    assert_v1_error(v1.request(method, path, json=body), 400, code="invalid_input",
                    field=field, message="NUL")
    # nothing was written
    assert v1.get("/aggregates").json()["aggregates"] == []
    assert v1.get("/hosts").json()["hosts"] == []


# -- methods, slashes, bodies ------------------------------------------------------------------

WRONG_METHODS = [
    ("DELETE", "/hosts", "GET"),
    ("POST", "/hosts/h1", "DELETE, GET, PATCH, PUT"),
    ("PUT", "/instances", "GET, POST"),
    ("PATCH", "/limits/defaults", "GET, PUT"),
    ("GET", "/quota/audit", "POST"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
def test_a_wrong_method_is_a_405_listing_the_right_ones(v1: V1, method: str, path: str,
                                                        allow: str) -> None:
    r = v1.request(method, path, json={})
    error = assert_v1_error(r, 405, code="method_not_allowed")
    assert r.headers["allow"] == allow
    assert f"send one of: {allow}" in error["message"]


@SQLITE_ONLY
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_a_trailing_slash_is_a_404_naming_the_path_without_it(v1: V1, method: str) -> None:
    for path in ("/hosts/", "/aggregates/", "/flavors/"):
        r = v1.request(method, path, json={"name": "x"})
        error = assert_v1_error(r, 404, code="not_found")
        assert f"Drop the trailing slash: /v1{path.rstrip('/')}" in error["message"]
        assert "location" not in r.headers


@SQLITE_ONLY
def test_an_unknown_path_is_a_v1_404(v1: V1) -> None:
    assert_v1_error(v1.get("/no-such-noun"), 404, code="not_found", message="/v1/no-such-noun")


def _send(v1: V1, method: str, path: str, content: bytes, ctype: str | None) -> Any:
    headers = {"x-auth-token": "admin"}
    if ctype:
        headers["content-type"] = ctype
    return v1.client.request(method, "/v1" + path, content=content, headers=headers)


@SQLITE_ONLY
def test_malformed_json_says_where(v1: V1) -> None:
    r = _send(v1, "POST", "/aggregates", b'{"name": "x",\n  oops}', "application/json")
    error = assert_v1_error(r, 400, code="invalid_json", field="(body)")
    assert "The body is not valid JSON" in error["message"]
    assert "at line 2 column 3" in error["message"]


@SQLITE_ONLY
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415_saying_what_to_send(v1: V1,
                                                               ctype: str | None) -> None:
    r = _send(v1, "POST", "/aggregates", b'{"name": "x"}', ctype)
    error = assert_v1_error(r, 415, code="unsupported_media_type", field="(body)")
    assert "send application/json" in error["message"]
    assert v1.get("/aggregates").json()["aggregates"] == []


@SQLITE_ONLY
def test_a_missing_body_says_to_send_one(v1: V1) -> None:
    error = assert_v1_error(v1.post("/aggregates"), 400, field="(body)")
    assert "application/json" in error["message"]
