"""Numbers past what storage and the engine hold: a 400 naming the field and the range,
never a 500, and nothing written (issue 11, point 2).

One scenario per boundary: the Placement query string, the microversion header, Placement
and /v1 JSON bodies, /v1 query parameters, and the configuration. Refusals made before
any storage is touched run on SQLite only; what reaches a column or the engine (limits,
generations, the largest ratio) runs on both backends. The ranges themselves
live in corral.domain.bounds; these tests use the numbers from the issue, not the module.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from starlette.testclient import TestClient

from corral.config import ConfigError, load_settings

from .v1.helpers import SQLITE_ONLY, V1, assert_v1_error

RP = "7a2f4f4a-5a5d-4d6c-9d7e-2f0f6a0e0b11"
CONSUMER = "7a2f4f4a-5a5d-4d6c-9d7e-2f0f6a0e0b12"
#: Past a signed 32-bit column, past what a float64 holds exactly, past int64, past uint64,
#: far past, and longer than Python converts (4,300 digits).
BIG = [2**31, 2**53 + 1, 2**63, 2**64, 10**30]
HUGE_TEXT = "9" * 5000
#: Floats that are not numbers once parsed, or not above 0: as JSON text.
BAD_FLOATS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0.0", "1e-400", "0"]
JSON = {"content-type": "application/json"}


def send_raw(v1: V1, method: str, path: str, body: bytes) -> Any:
    """A /v1 request whose JSON text is given as is."""
    return v1.client.request(method, "/v1" + path, content=body,
                             headers={"x-auth-token": v1.token, **JSON})


def raw(body: Any, number: str) -> bytes:
    """``body`` as JSON text with the string "@" replaced by ``number`` written as is (a
    number json.dumps cannot write: 1e400, NaN, 5000 digits)."""
    return json.dumps(body).replace('"@"', number).encode()


def _placement_error(r: Any, *fragments: str) -> str:
    assert r.status_code == 400, (r.status_code, r.text)
    detail: str = r.json()["errors"][0]["detail"]
    for fragment in fragments:
        assert fragment in detail, (fragment, detail)
    return detail


@pytest.fixture
def v1(client: TestClient) -> V1:
    return V1(client)


@pytest.fixture
def fleet(api: Any) -> Any:
    """One provider with VCPU, so the candidate engine has rows to search."""
    api.create_provider("bounds-rp", uuid=RP)
    api.set_inventory(RP, {"VCPU": {"total": 8}})
    return api


@SQLITE_ONLY
# -- Placement: the query string ----------------------------------------------------------

@pytest.mark.parametrize("amount", BIG)
@pytest.mark.parametrize("path", ["/allocation_candidates", "/resource_providers"])
def test_requested_amount_past_32_bits_is_400(fleet: Any, path: str, amount: int) -> None:
    r = fleet.get(path, params={"resources": f"VCPU:{amount}"})
    _placement_error(r, "resources", "from 1 to 2147483647", str(amount))


@SQLITE_ONLY
@pytest.mark.parametrize("path", ["/allocation_candidates", "/resource_providers"])
def test_requested_amount_of_5000_digits_is_400(fleet: Any, path: str) -> None:
    r = fleet.get(path, params={"resources": f"VCPU:{HUGE_TEXT}"})
    _placement_error(r, "resources", "from 1 to 2147483647", "5000 characters")


@SQLITE_ONLY
@pytest.mark.parametrize("raw", [str(2**31), str(2**63), HUGE_TEXT, "\u00b2", "\u0661"])
def test_candidate_limit_out_of_range_is_400(fleet: Any, raw: str) -> None:
    r = fleet.get("/allocation_candidates", params={"resources": "VCPU:1", "limit": raw})
    _placement_error(r, "limit", "from 1 to 2147483647")


def test_largest_amount_is_served(fleet: Any) -> None:
    r = fleet.get("/allocation_candidates", params={"resources": "VCPU:2147483647"})
    assert r.status_code == 200, r.text
    assert r.json()["allocation_requests"] == []


@SQLITE_ONLY
# -- Placement: the microversion header, before authentication ----------------------------

@pytest.mark.parametrize("token", ["admin", None])
@pytest.mark.parametrize("number", ["1." + HUGE_TEXT, HUGE_TEXT + ".1", "1.9999999999"])
def test_version_header_with_a_long_number_is_400(client: TestClient, token: str | None,
                                                  number: str) -> None:
    headers = {"openstack-api-version": f"placement {number}"}
    if token:
        headers["x-auth-token"] = token
    r = client.get("/resource_providers", headers=headers)
    assert r.status_code == 400, (r.status_code, r.text)
    detail = r.json()["errors"][0]["detail"]
    assert "invalid version string" in detail and "at most 9 digits" in detail
    assert len(detail) < 300  # the number is not echoed whole


@SQLITE_ONLY
# -- Placement: JSON bodies ---------------------------------------------------------------

def test_placement_body_with_a_5000_digit_number_is_400(api: Any) -> None:
    body = raw({"name": "x", "uuid": RP, "extra": "@"}, HUGE_TEXT)
    r = api.post("/resource_providers", content=body, headers=JSON)
    _placement_error(r, "Malformed JSON")
    assert api.get(f"/resource_providers/{RP}").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize("value", BAD_FLOATS)
def test_allocation_ratio_not_a_finite_positive_number_is_400(fleet: Any, value: str) -> None:
    body = raw({"resource_provider_generation": 1,
                "inventories": {"VCPU": {"total": 4, "allocation_ratio": "@"}}}, value)
    r = fleet.put(f"/resource_providers/{RP}/inventories", content=body, headers=JSON)
    assert r.status_code == 400, (r.status_code, r.text)
    inventory = fleet.get(f"/resource_providers/{RP}/inventories").json()["inventories"]
    assert inventory["VCPU"]["total"] == 8  # nothing written


def test_largest_allocation_ratio_is_held_by_the_engine(fleet: Any) -> None:
    """Placement's largest ratio makes a capacity no int64 holds; the engine keeps
    serving (it held the provider's capacity past its arrays before: every search 500)."""
    fleet.set_inventory(RP, {"VCPU": {"total": 2147483647, "allocation_ratio": 3.40282e38}})
    r = fleet.get("/allocation_candidates", params={"resources": "VCPU:2147483647"})
    assert r.status_code == 200, r.text
    (summary,) = r.json()["provider_summaries"].values()
    assert summary["resources"]["VCPU"]["capacity"] >= 2**63  # reported as Placement does
    assert fleet.get("/allocation_candidates",
                     params={"resources": "VCPU:1"}).status_code == 200


@pytest.mark.parametrize("generation", [-1, 2**63, 2**64])
def test_provider_generation_past_64_bits_is_400(fleet: Any, generation: int) -> None:
    r = fleet.put(f"/resource_providers/{RP}/inventories/VCPU",
                  json={"resource_provider_generation": generation, "total": 4})
    _placement_error(r, "resource_provider_generation")
    r = fleet.put(f"/resource_providers/{RP}/traits",
                  json={"resource_provider_generation": generation, "traits": []})
    _placement_error(r, "resource_provider_generation")


@pytest.mark.parametrize("generation", [2**63, 2**64])
def test_consumer_generation_past_64_bits_is_400(fleet: Any, generation: int) -> None:
    body = {"allocations": {RP: {"resources": {"VCPU": 1}}}, "project_id": "p",
            "user_id": "u", "consumer_generation": generation, "consumer_type": "INSTANCE"}
    _placement_error(fleet.put(f"/allocations/{CONSUMER}", json=body), "consumer_generation")
    body["consumer_generation"] = None
    body["allocations"] = {RP: {"generation": generation, "resources": {"VCPU": 1}}}
    _placement_error(fleet.put(f"/allocations/{CONSUMER}", json=body), "generation")
    assert fleet.get(f"/allocations/{CONSUMER}").json()["allocations"] == {}


# -- /v1: JSON bodies ---------------------------------------------------------------------

@pytest.mark.parametrize("limit", [2**53, 2**63, 10**20, -2])
def test_limit_past_what_clients_read_is_400_and_not_written(v1: V1, limit: int) -> None:
    v1.ok("POST", "/projects", 201, json={"id": "org2"})
    err = assert_v1_error(v1.put("/limits/org2", json={"limits": {"cores": limit}}), 400,
                          field="limits.cores")
    assert "from -1 to 9007199254740991" in err["message"]
    assert v1.ok("GET", "/limits/org2")["limits"] == {}
    assert_v1_error(v1.put("/limits/defaults", json={"limits": {"cores": limit}}), 400,
                    field="limits.cores")
    assert_v1_error(v1.post("/projects", json={"id": "org3", "limits": {"cores": limit}}),
                    400, field="limits.cores")
    assert v1.get("/projects/org3").status_code == 404


def test_largest_limit_is_taken(v1: V1) -> None:
    v1.ok("POST", "/projects", 201, json={"id": "org2"})
    v1.ok("PUT", "/limits/org2", json={"limits": {"cores": 2**53 - 1}})
    assert v1.ok("GET", "/limits/org2")["limits"] == {"cores": 2**53 - 1}


@SQLITE_ONLY
def test_v1_body_with_a_5000_digit_number_is_400(v1: V1) -> None:
    body = raw({"id": "org4", "limits": {"cores": "@"}}, HUGE_TEXT)
    r = send_raw(v1, "POST", "/projects", body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_json" and error["field"] == "(body)"
    assert "4,300 digits" in error["message"]
    assert v1.get("/projects/org4").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize("value", [*BAD_FLOATS, "1" + "0" * 400])
@pytest.mark.parametrize("field", ["cpu_allocation_ratio", "ram_allocation_ratio",
                                   "disk_allocation_ratio"])
def test_host_ratio_not_a_finite_positive_number_is_400(v1: V1, field: str,
                                                        value: str) -> None:
    v1.report("cn1")
    r = send_raw(v1, "PATCH", "/hosts/cn1", raw({field: "@"}, value))
    err = assert_v1_error(r, 400, field=field)
    assert "above 0 and at most 1000" in err["message"]
    assert v1.host("cn1")["overrides"][field] is None  # nothing written


@SQLITE_ONLY
@pytest.mark.parametrize("value", ["1e400", "NaN", "Infinity", "-0.0", "1e-400", "1e308"])
@pytest.mark.parametrize("as_text", [True, False])
def test_aggregate_metadata_numbers_out_of_range_are_400(v1: V1, value: str,
                                                         as_text: bool) -> None:
    shown = f'"{value}"' if as_text else value
    key = "cpu_allocation_ratio" if value != "1e308" else "ram_weight_multiplier"
    body = raw({"name": "agg", "metadata": {key: "@"}}, shown)
    r = send_raw(v1, "POST", "/aggregates", body)
    err = assert_v1_error(r, 400, field=f"metadata.{key}")
    assert "finite number" in err["message"]
    assert v1.get("/aggregates/agg").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize("body", [
    {"vcpus": 2**31, "memory_mb": 1, "disk_gb": 0},
    {"vcpus": 1, "memory_mb": 2**63, "disk_gb": 0},
    {"vcpus": 1, "memory_mb": 1, "disk_gb": 0, "resources": {"CUSTOM_GPU": 2**53}},
])
def test_host_report_past_32_bits_is_400(v1: V1, body: dict[str, Any]) -> None:
    err = assert_v1_error(v1.put("/hosts/cn9", json=body), 400)
    assert "2147483647" in err["message"] and err["field"]
    assert v1.get("/hosts/cn9").status_code == 404


@SQLITE_ONLY
@pytest.mark.parametrize(("field", "value"), [
    ("vcpus", 2**31), ("ram_mb", 2**63), ("disk_gb", 10**20), ("swap_mb", -1),
    ("vcpus", 1.5),
])
def test_flavor_sizes_past_32_bits_are_400(v1: V1, field: str, value: Any) -> None:
    body = {"name": "f1", "vcpus": 1, "ram_mb": 512, field: value}
    err = assert_v1_error(v1.post("/flavors", json=body), 400, field=field)
    assert "2147483647" in err["message"]
    assert v1.get("/flavors/f1").status_code == 404


@SQLITE_ONLY
# -- /v1: the query string ----------------------------------------------------------------

@pytest.mark.parametrize("raw", [str(2**31), str(2**63), str(2**64), HUGE_TEXT, "\u0661"])
@pytest.mark.parametrize("param", ["vcpus", "ram_mb"])
def test_capacity_shape_past_32_bits_is_400(v1: V1, param: str, raw: str) -> None:
    v1.report("cn1")
    params = {"vcpus": "1", "ram_mb": "1", param: raw}
    err = assert_v1_error(v1.get("/capacity", params=params), 400, field=param)
    assert "from 1 to 2147483647" in err["message"]


@SQLITE_ONLY
@pytest.mark.parametrize(("path", "param"), [
    ("/instances", "limit"), ("/decisions", "limit"), ("/projects", "depth"),
    ("/flavors", "min_vcpus"), ("/capacity/stranded", "top")])
def test_integer_query_parameters_of_5000_digits_are_400(v1: V1, path: str,
                                                         param: str) -> None:
    err = assert_v1_error(v1.get(path, params={param: HUGE_TEXT}), 400, field=param)
    assert "whole number from" in err["message"] and len(err["message"]) < 300


@SQLITE_ONLY
def test_openapi_publishes_the_bounds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    limit = schemas["LimitsUpdate"]["properties"]["limits"]["additionalProperties"]
    assert (limit["minimum"], limit["maximum"]) == (-1, 2**53 - 1)
    vcpus = schemas["FlavorCreate"]["properties"]["vcpus"]
    assert (vcpus["minimum"], vcpus["maximum"]) == (1, 2**31 - 1)
    ratio = schemas["HostPatchBody"]["properties"]["cpu_allocation_ratio"]["anyOf"][0]
    assert (ratio["exclusiveMinimum"], ratio["maximum"]) == (0, 1000)


# -- configuration ------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value", "allowed"), [
    ("host_down_after_s", HUGE_TEXT, "from 1 to 2147483647"),
    ("host_down_after_s", str(2**31), "from 1 to 2147483647"),
    ("decision_retention_hours", str(10**7), "from 0 to 596523"),
    ("reserved_host_memory_mb", str(2**31), "from 0 to 2147483647"),
    ("max_instances_per_host", str(2**63), "from 1 to 2147483647"),
    ("max_allocation_candidates", str(2**31), "from -1 to 2147483647"),
    ("cpu_allocation_ratio", "1e400", "above 0 and at most 1000"),
    ("cpu_allocation_ratio", "nan", "above 0 and at most 1000"),
    ("ram_allocation_ratio", "-0.0", "above 0 and at most 1000"),
    ("ram_weight_multiplier", "inf", "from -1e+09 to 1e+09"),
    ("build_failure_weight_multiplier", "1e308", "from -1e+09 to 1e+09"),
    ("soft_affinity_weight_multiplier", "nan", "from 0 to 1e+09"),
])
def test_configuration_out_of_range_names_option_source_and_range(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, option: str, value: str,
        allowed: str) -> None:
    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(f"CORRAL_{option.upper()}", value)
    with pytest.raises(ConfigError) as raised:
        load_settings(data_dir=str(tmp_path))
    text = str(raised.value)
    assert f"CORRAL_{option.upper()}" in text and allowed in text, text
    assert len(text) < 400
    ini = tmp_path / "corral.conf"
    monkeypatch.delenv(f"CORRAL_{option.upper()}")
    ini.write_text(f"[scheduler]\n{option} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(str(ini), data_dir=str(tmp_path))
    assert f"{ini} [scheduler] {option}" in str(raised.value)


# -- strings storage cannot hold ----------------------------------------------------------

@pytest.mark.parametrize(("path", "field", "body"), [
    ("/projects", "id", b'{"id": "org\\ud800"}'),
    ("/aggregates", "name", b'{"name": "agg\\udfff"}'),
    ("/flavors", "name", b'{"name": "f\\ud83d", "vcpus": 1, "ram_mb": 512}'),
])
def test_lone_surrogate_in_a_v1_string_is_400(v1: V1, path: str, field: str,
                                              body: bytes) -> None:
    """JSON can spell half a surrogate pair; UTF-8 (so no database) cannot store it."""
    err = assert_v1_error(send_raw(v1, "POST", path, body), 400, field=field)
    assert "lone surrogates" in err["message"]
    assert v1.ok("GET", path)  # the listing still answers
