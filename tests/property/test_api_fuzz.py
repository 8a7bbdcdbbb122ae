"""Arbitrary JSON at the provider and inventory endpoints: never a 500, and every 4xx
is a Placement error body.

The app and database live for the whole test (hypothesis runs many examples against
one fixture), so state accumulates; the assertions hold whatever the state is.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.domain.capacity import MAX_INT

FIXED = "7a2f4f4a-5a5d-4d6c-9d7e-2f0f6a0e0b11"
FIELDS = ["name", "uuid", "parent_provider_uuid", "resource_provider_generation",
          "inventories", "total", "reserved", "min_unit", "max_unit", "step_size",
          "allocation_ratio", "resource_class", "traits", "aggregates", "VCPU", "DISK_GB"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, MAX_INT, MAX_INT + 1, 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    st.sampled_from(["VCPU", "CUSTOM_X", FIXED, "", "\x00", "\ud800", "NaN", "x" * 300]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=12,
)
# Bodies close to valid ones reach the deeper validation and the services.
inventory_record = st.fixed_dictionaries({"total": scalars}, optional={
    k: scalars for k in ("reserved", "min_unit", "max_unit", "step_size", "allocation_ratio",
                         "resource_provider_generation")})
near_valid = st.one_of(
    st.fixed_dictionaries({"name": scalars}, optional={"uuid": scalars,
                                                       "parent_provider_uuid": scalars}),
    st.fixed_dictionaries({"resource_provider_generation": scalars,
                           "inventories": st.dictionaries(
                               st.sampled_from(["VCPU", "DISK_GB", "CUSTOM_NOPE", "bad"]),
                               inventory_record, max_size=3)}),
    st.fixed_dictionaries({"resource_class": scalars}, optional={
        k: scalars for k in ("total", "reserved", "min_unit", "max_unit", "step_size",
                             "allocation_ratio", "resource_provider_generation")}),
    st.fixed_dictionaries({"resource_provider_generation": scalars,
                           "traits": st.lists(scalars, max_size=3)}),
    st.fixed_dictionaries({"resource_provider_generation": scalars,
                           "aggregates": st.lists(scalars, max_size=3)}),
    st.lists(scalars, max_size=3),
)
bodies = st.one_of(json_values, near_valid)

ENDPOINTS = [
    ("POST", "/resource_providers"),
    ("PUT", "/resource_providers/{rp}"),
    ("PUT", "/resource_providers/{rp}/inventories"),
    ("POST", "/resource_providers/{rp}/inventories"),
    ("PUT", "/resource_providers/{rp}/inventories/VCPU"),
    ("PUT", "/resource_providers/{rp}/inventories/DISK_GB"),
    ("PUT", "/resource_providers/{rp}/traits"),
    ("PUT", "/resource_providers/{rp}/aggregates"),
    ("POST", "/resource_classes"),
    ("PUT", "/resource_classes/CUSTOM_X"),
]
VERSIONS = ["1.0", "1.6", "1.14", "1.18", "1.19", "1.20", "1.23", "1.25", "1.26", "latest"]


def _check(resp: Any) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if 400 <= resp.status_code < 500:
        body = resp.json()
        assert list(body) == ["errors"], body
        (entry,) = body["errors"]
        assert entry["status"] == resp.status_code
        assert entry["title"] == HTTPStatus(resp.status_code).phrase
        assert isinstance(entry["detail"], str) and entry["detail"]
        assert entry["request_id"] == resp.headers["x-openstack-request-id"]


fuzz = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@fuzz
@given(endpoint=st.sampled_from(ENDPOINTS), version=st.sampled_from(VERSIONS), body=bodies)
def test_arbitrary_json_never_breaks_the_api(api: Any, endpoint: tuple[str, str],
                                             version: str, body: Any) -> None:
    rp = api.get(f"/resource_providers/{FIXED}")
    if rp.status_code == 404:
        api.post("/resource_providers", json={"name": "fuzz-target", "uuid": FIXED})
    method, path = endpoint
    r = api.request(method, path.format(rp=FIXED), version=version,
                    content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"})
    _check(r)


@fuzz
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode),
       endpoint=st.sampled_from(ENDPOINTS))
def test_arbitrary_bytes_never_break_the_api(api: Any, raw: bytes,
                                             endpoint: tuple[str, str]) -> None:
    method, path = endpoint
    r = api.request(method, path.format(rp=FIXED), content=raw,
                    headers={"content-type": "application/json"})
    _check(r)


query_values = st.one_of(st.text(max_size=40), st.sampled_from([
    "VCPU:1", "in:", "!", "!in:" + FIXED, FIXED, "in:" + FIXED + "," + FIXED,
    "HW_CPU_X86_SSE,!HW_CPU_X86_SSE2", "in:HW_CPU_X86_SSE", "VCPU:1,VCPU:1", "VCPU:99999999999"]))


@fuzz
@given(params=st.lists(st.tuples(st.sampled_from(["name", "uuid", "member_of", "resources",
                                                  "in_tree", "required", "associated",
                                                  "bogus"]), query_values), max_size=4),
       version=st.sampled_from(VERSIONS), path=st.sampled_from(["/resource_providers",
                                                                "/traits"]))
def test_arbitrary_queries_never_break_the_api(api: Any, params: list[tuple[str, str]],
                                               version: str, path: str) -> None:
    _check(api.get(path, params=params, version=version))


PATHS = ["/resource_providers/{x}", "/resource_providers/{x}/inventories",
         "/resource_providers/{rp}/inventories/{x}", "/resource_providers/{x}/traits",
         "/resource_providers/{x}/aggregates", "/resource_providers/{x}/usages",
         "/resource_providers/{x}/allocations", "/resource_classes/{x}", "/traits/{x}"]
# A newline never reaches the Placement app: see test_errors.test_newline_in_path_*.
segments = st.one_of(st.text(min_size=1, max_size=40).filter(lambda t: "\n" not in t),
                     st.sampled_from(["CUSTOM_" + "A" * 300, "VCPU", "CUSTOM_X", FIXED, "..",
                                      "%", "a/b", "HW_CPU_X86_SSE"]))


@fuzz
@given(path=st.sampled_from(PATHS), segment=segments,
       method=st.sampled_from(["GET", "PUT", "DELETE"]), version=st.sampled_from(VERSIONS))
def test_arbitrary_path_segments_never_break_the_api(api: Any, path: str, segment: str,
                                                     method: str, version: str) -> None:
    url = path.format(rp=FIXED, x=quote(segment, safe=""))
    r = api.request(method, url, version=version, content=b"{}",
                    headers={"content-type": "application/json"})
    _check(r)
