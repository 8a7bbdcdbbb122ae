"""Arbitrary JSON, queries and paths at both APIs: never a 500, every 4xx is the API's
error body, and a refused request writes nothing.

Numbers sit at and past every boundary (2^31, 2^53, 2^63, 2^64, 5,000 digits) and include
what is not a finite number once parsed (1e400, NaN, Infinity, -0.0, 1e-400); strings
include non-ASCII and NUL (on /v1 in a test of their own, test_fuzz_nul_and_non_ascii:
those are branch edge's). The app and database live for the whole test (hypothesis
runs many examples against one fixture), so state accumulates; the assertions hold
whatever the state is.
"""

from __future__ import annotations

import hashlib
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from corral.domain import errors
from corral.domain import hosts as host_rules
from corral.domain.capacity import MAX_INT
from corral.persistence import Store, tables

FIXED = "7a2f4f4a-5a5d-4d6c-9d7e-2f0f6a0e0b11"
CONSUMER = "7a2f4f4a-5a5d-4d6c-9d7e-2f0f6a0e0b12"
FIELDS = ["allocations", "consumer_generation", "project_id", "user_id", "generation",
          "resources", "name", "uuid", "parent_provider_uuid", "resource_provider_generation",
          "inventories", "total", "reserved", "min_unit", "max_unit", "step_size",
          "allocation_ratio", "resource_class", "traits", "aggregates", "VCPU", "DISK_GB"]

#: Integers at and past what a 32-bit column, a float64, an int64 and a uint64 hold.
BOUNDARY_INTS = [0, 1, -1, MAX_INT, MAX_INT + 1, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1,
                 2**63, 2**64, -(2**31) - 1, -(2**63) - 1, 10**30]
#: Numbers json.dumps cannot write, sent as they are: past Python's 4,300-digit limit,
#: infinite or zero once parsed, and the constants Python's json reads (not JSON).
RAW_NUMBERS = ["9" * 5000, "-" + "9" * 4301, "1e400", "-1e400", "1e-400", "-0.0", "NaN",
               "Infinity", "-Infinity", "1" + "0" * 400]
raw_numbers = st.sampled_from([f"@RAW:{n}" for n in RAW_NUMBERS])
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from(BOUNDARY_INTS),
    st.floats(allow_nan=False, allow_infinity=False), raw_numbers)
plain_text = st.one_of(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"),
                               max_size=30),
                       st.sampled_from(["VCPU", "CUSTOM_X", FIXED, "", "NaN", "1e400",
                                        "x" * 300, str(2**63)]))
any_text = st.one_of(st.text(max_size=30), st.text(alphabet=st.characters(codec="utf-8"),
                                                   max_size=10),
                     st.sampled_from(["\x00", "\ud800", "agg-\u65e5\u672c", "a\x00b"]))
plain_scalars = st.one_of(st.none(), st.booleans(), numbers, plain_text)
scalars = st.one_of(plain_scalars, st.floats(allow_nan=True, allow_infinity=True), any_text)


def dumps(body: Any) -> bytes:
    """JSON text with every "@RAW:..." string written as the bare number it holds."""
    text = json.dumps(body)
    for number in RAW_NUMBERS:
        text = text.replace(f'"@RAW:{number}"', number)
    return text.encode()


#: Tables a refused request may still write: the record of a scheduling decision.
_JOURNALS = {"decisions", "provider_changes"}


def digest(store: Store) -> str:
    """A hash of every row of every table: equal before and after means nothing written.
    Heartbeats are hashed as every reader sees them (the later of a host's row and the
    log), since the log is folded into the rows in the background at any time."""
    h = hashlib.sha256()
    with store.read() as repo:
        for table in tables.metadata.sorted_tables:
            if table.name in _JOURNALS or table is tables.heartbeat_flushes:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            columns = [c for c in table.columns if c is not tables.hosts.c.last_heartbeat]
            for row in repo.conn.execute(select(*columns).order_by(*order)):
                h.update(repr(tuple(row)).encode())
        h.update(repr(sorted(_heartbeats(repo).items())).encode())
    return h.hexdigest()


def _heartbeats(repo: Any) -> dict[str, Any]:
    logged = repo.logged_heartbeats()
    return {r.name: host_rules.later(r.last_heartbeat, logged.get(r.id)) for r in repo.host_rows()}
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
    st.fixed_dictionaries({"allocations": st.fixed_dictionaries({FIXED: st.fixed_dictionaries(
        {"resources": st.dictionaries(st.sampled_from(["VCPU", "DISK_GB"]), scalars,
                                      max_size=2)}, optional={"generation": scalars})}),
        "project_id": scalars, "user_id": scalars, "consumer_generation": scalars,
        "consumer_type": st.sampled_from(["INSTANCE", "MIGRATION"])}),
    st.lists(scalars, max_size=3),
)
bodies = st.one_of(json_values, near_valid)

ENDPOINTS = [
    ("POST", "/resource_providers"),
    ("PUT", "/allocations/" + CONSUMER),
    ("POST", "/allocations"),
    ("POST", "/reshaper"),
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
def test_arbitrary_json_never_breaks_the_api(api: Any, store: Store,
                                             endpoint: tuple[str, str], version: str,
                                             body: Any) -> None:
    rp = api.get(f"/resource_providers/{FIXED}")
    if rp.status_code == 404:
        api.post("/resource_providers", json={"name": "fuzz-target", "uuid": FIXED})
    method, path = endpoint
    before = digest(store)
    r = api.request(method, path.format(rp=FIXED), version=version, content=dumps(body),
                    headers={"content-type": "application/json"})
    _check(r)
    if r.status_code >= 400:
        assert digest(store) == before, (r.status_code, r.text)


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
    "HW_CPU_X86_SSE,!HW_CPU_X86_SSE2", "in:HW_CPU_X86_SSE", "VCPU:1,VCPU:1", "VCPU:99999999999",
    "none", "isolate", "\u00b2", "\u0661"]),
    st.sampled_from(BOUNDARY_INTS).map(str),
    st.sampled_from(BOUNDARY_INTS).map(lambda n: f"VCPU:{n}"),
    st.sampled_from(RAW_NUMBERS), st.sampled_from(RAW_NUMBERS).map(lambda n: f"VCPU:{n}"))


@fuzz
@given(params=st.lists(st.tuples(st.sampled_from(["name", "uuid", "member_of", "resources",
                                                  "in_tree", "required", "associated",
                                                  "limit", "group_policy", "resources1",
                                                  "project_id", "bogus"]), query_values),
                       max_size=4),
       version=st.sampled_from(VERSIONS),
       path=st.sampled_from(["/resource_providers", "/traits", "/allocation_candidates",
                             "/usages"]))
def test_arbitrary_queries_never_break_the_api(api: Any, params: list[tuple[str, str]],
                                               version: str, path: str) -> None:
    if api.get(f"/resource_providers/{FIXED}").status_code == 404:
        # A provider with Placement's largest ratio: the engine must hold its capacity.
        api.post("/resource_providers", json={"name": "fuzz-target", "uuid": FIXED})
        api.set_inventory(FIXED, {"VCPU": {"total": MAX_INT, "allocation_ratio": 3.40282e38},
                                  "DISK_GB": {"total": 100}})
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


# -- /v1 ---------------------------------------------------------------------------------

V1_HEADERS = {"x-auth-token": "admin", "content-type": "application/json"}


def _v1_bodies(text: st.SearchStrategy[Any]) -> dict[tuple[str, str], st.SearchStrategy[Any]]:
    """Near-valid bodies of every /v1 write, with ``text`` for strings."""
    value = st.one_of(st.none(), st.booleans(), numbers, text)
    n = st.one_of(numbers, value)
    ratios = {k: n for k in ("cpu_allocation_ratio", "ram_allocation_ratio",
                             "disk_allocation_ratio", "reserved_host_memory_mb")}
    metadata = st.dictionaries(st.one_of(st.sampled_from([
        "cpu_allocation_ratio", "ram_weight_multiplier", "reserved_host_memory_mb",
        "max_instances_per_host", "availability_zone"]), text), value, max_size=3)
    limits = st.dictionaries(st.one_of(st.sampled_from(["cores", "ram", "instances",
                                                        "CUSTOM_GPU"]), text), n, max_size=3)
    return {
        ("POST", "/v1/projects"): st.fixed_dictionaries(
            {"id": text}, optional={"limits": limits, "parent_id": text, "name": value}),
        ("PUT", "/v1/limits/fuzz-p"): st.fixed_dictionaries({"limits": limits}),
        ("PUT", "/v1/limits/defaults"): st.fixed_dictionaries({"limits": limits}),
        ("PUT", "/v1/hosts/fuzz-h"): st.fixed_dictionaries(
            {"vcpus": n, "memory_mb": n, "disk_gb": n},
            optional={"resources": st.dictionaries(st.one_of(st.just("CUSTOM_GPU"), text), n,
                                                   max_size=2),
                      "traits": st.lists(text, max_size=2)}),
        ("PATCH", "/v1/hosts/fuzz-h"): st.fixed_dictionaries(
            {}, optional={**ratios, "enabled": value, "disabled_reason": value}),
        ("POST", "/v1/aggregates"): st.fixed_dictionaries({"name": text},
                                                          optional={"metadata": metadata}),
        ("PATCH", "/v1/aggregates/fuzz-a"): st.fixed_dictionaries({"metadata": metadata}),
        ("POST", "/v1/flavors"): st.fixed_dictionaries(
            {"name": text, "vcpus": n, "ram_mb": n},
            optional={"disk_gb": n, "swap_mb": n, "ephemeral_gb": n, "id": text,
                      "extra_specs": st.dictionaries(st.sampled_from(
                          ["resources:VCPU", "hw:numa_nodes", "trait:CUSTOM_X"]), text,
                          max_size=2)}),
        ("POST", "/v1/server-groups"): st.fixed_dictionaries(
            {"name": text, "policy": st.sampled_from(["anti-affinity", "affinity"]),
             "project_id": st.just("fuzz-p")},
            optional={"rules": st.fixed_dictionaries({"max_server_per_host": n})}),
        ("POST", "/v1/instances"): st.fixed_dictionaries(
            {"name": text, "flavor": st.one_of(st.just("fuzz-f"), text),
             "project_id": st.just("fuzz-p")},
            optional={"count": n, "dry_run": st.booleans(), "availability_zone": value}),
        ("POST", "/v1/tokens"): st.fixed_dictionaries(
            {"role": st.sampled_from(["member", "reader"]), "project_id": st.just("fuzz-p")},
            optional={"expires_in_days": n, "name": text}),
    }


V1_PLAIN = _v1_bodies(plain_text)
V1_ANY_TEXT = _v1_bodies(any_text)


def _seed_v1(client: Any) -> None:
    if client.get("/v1/projects/fuzz-p", headers=V1_HEADERS).status_code == 200:
        return
    for method, path, body in [
            ("POST", "/v1/projects", {"id": "fuzz-p"}),
            ("PUT", "/v1/hosts/fuzz-h", {"vcpus": 8, "memory_mb": 8192, "disk_gb": 80}),
            ("POST", "/v1/aggregates", {"name": "fuzz-a"}),
            ("POST", "/v1/flavors", {"name": "fuzz-f", "id": "fuzz-f", "vcpus": 1,
                                     "ram_mb": 256})]:
        r = client.request(method, path, headers=V1_HEADERS, json=body)
        assert r.status_code in (200, 201), r.text


def _check_v1(resp: Any) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if 400 <= resp.status_code < 500:
        error = resp.json()["error"]
        assert error["status"] == resp.status_code
        assert isinstance(error["message"], str) and error["message"]
        assert error["request_id"] == resp.headers["x-openstack-request-id"]


def _v1_write(client: Any, store: Store, method: str, path: str, body: Any) -> None:
    _seed_v1(client)
    before = digest(store)
    r = client.request(method, path, headers=V1_HEADERS, content=dumps(body))
    _check_v1(r)
    if r.status_code >= 400:
        assert digest(store) == before, (r.status_code, r.text)


v1_fuzz = settings(max_examples=100, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])


@v1_fuzz
@given(data=st.data(), endpoint=st.sampled_from(sorted(V1_PLAIN)))
def test_v1_bodies_at_every_boundary(client: Any, store: Store, data: st.DataObject,
                                     endpoint: tuple[str, str]) -> None:
    _v1_write(client, store, *endpoint, data.draw(V1_PLAIN[endpoint]))


V1_QUERIES: dict[str, list[str]] = {
    "/v1/capacity": ["vcpus", "ram_mb", "disk_gb", "group_by", "flavor", "project"],
    "/v1/capacity/stranded": ["top"],
    "/v1/instances": ["limit", "project_id", "state"],
    "/v1/decisions": ["limit", "project_id"],
    "/v1/projects": ["depth", "root"],
    "/v1/flavors": ["min_vcpus", "min_ram_mb", "min_disk_gb"],
    "/v1/hosts": ["availability_zone", "state", "enabled"],
}


def _v1_query_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(text, st.sampled_from(BOUNDARY_INTS).map(str), st.sampled_from(
        RAW_NUMBERS + ["1", "0", "-1", "\u00b2", "\u0661", "fleet", "host", "true"]))


@settings(v1_fuzz, max_examples=60)
@given(data=st.data(), path=st.sampled_from(sorted(V1_QUERIES)))
def test_v1_queries_at_every_boundary(client: Any, data: st.DataObject, path: str) -> None:
    _seed_v1(client)
    params = data.draw(st.lists(st.tuples(st.sampled_from(V1_QUERIES[path]),
                                          _v1_query_values(plain_text)), max_size=3))
    _check_v1(client.get(path, params=params, headers=V1_HEADERS))


@settings(v1_fuzz, max_examples=60)
@given(data=st.data(), endpoint=st.sampled_from(sorted(V1_ANY_TEXT)),
       path=st.sampled_from(sorted(V1_QUERIES)))
def test_fuzz_nul_and_non_ascii(client: Any, store: Store, data: st.DataObject,
                                endpoint: tuple[str, str], path: str) -> None:
    """NUL and any Unicode character in every /v1 string, body and query: the classes
    branch ``edge`` fixes (NUL on PostgreSQL; a header built from a non-ASCII name)."""
    _v1_write(client, store, *endpoint, data.draw(V1_ANY_TEXT[endpoint]))
    url_text = any_text.filter(lambda t: "\ud800" not in t)  # a URL holds no lone surrogate
    params = data.draw(st.lists(st.tuples(st.sampled_from(V1_QUERIES[path]),
                                          _v1_query_values(url_text)), max_size=3))
    _check_v1(client.get(path, params=params, headers=V1_HEADERS))


# -- heartbeats (issue 13) ---------------------------------------------------------------

#: Hosts of the heartbeat fuzz besides the seed's fuzz-h: a name of non-ASCII letters and
#: one of the longest a host may have.
BEATING = ["fuzz-h", "hb-\u65e5\u672c", "h" * 200]
odd_names = st.one_of(
    st.sampled_from(BEATING + ["\x00", "a\x00b", "\ud800", "a/b", "/", "", " ", "..", "%00",
                               "h" * 201, "x" * 100_000, "\u2028", "\x7f", "\t", "\U0001f600",
                               "fuzz-h ", "FUZZ-H"]),
    any_text)
name_lists = st.one_of(
    st.lists(odd_names, max_size=6),
    st.lists(st.sampled_from(BEATING), min_size=1, max_size=4).map(lambda n: n * 300),
    st.sampled_from([["fuzz-h"] * 1000, ["fuzz-h"] * 1001, [f"n{i}" for i in range(1001)]]),
    st.lists(st.one_of(odd_names, json_values), min_size=1, max_size=4))
beat_bodies = st.one_of(
    st.fixed_dictionaries({"hosts": name_lists}),
    st.fixed_dictionaries({"hosts": name_lists}, optional={"extra": json_values,
                                                            "Hosts": name_lists}),
    st.fixed_dictionaries({"hosts": json_values}),
    json_values)
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", None]


def _beats_expected(body: Any) -> list[str] | None:
    """The names a bulk heartbeat body names when it is one to record, else None."""
    if not isinstance(body, dict) or set(body) != {"hosts"}:
        return None
    names = body["hosts"]
    if not isinstance(names, list) or len(names) > 1000:
        return None
    for name in names:
        if not isinstance(name, str) or "\ud800" in name or name.startswith("@RAW:"):
            return None  # "@RAW:..." goes on the wire as a bare number
        try:
            host_rules.check_host_name(name)
        except errors.InvalidInput:
            return None
    return names


def _seed_beats(client: Any) -> None:
    _seed_v1(client)
    for name in BEATING[1:]:
        r = client.put(f"/v1/hosts/{quote(name, safe='')}", headers=V1_HEADERS,
                       json={"vcpus": 8, "memory_mb": 8192, "disk_gb": 80})
        assert r.status_code in (200, 201), r.text


def _refused_naming_a_field(r: Any) -> None:
    _check_v1(r)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json", r.headers
    field = r.json()["error"]["field"]
    assert isinstance(field, str) and field, r.text


@v1_fuzz
@given(body=beat_bodies, content_type=st.sampled_from(CONTENT_TYPES))
def test_bulk_heartbeats_record_exactly_the_hosts_named_or_refuse_naming_the_field(
        client: Any, store: Store, body: Any, content_type: str | None) -> None:
    _seed_beats(client)
    headers = {"x-auth-token": "admin"}
    if content_type is not None:
        headers["content-type"] = content_type
    before = digest(store)
    r = client.post("/v1/hosts/heartbeats", headers=headers, content=dumps(body))
    names = _beats_expected(body) if content_type in CONTENT_TYPES[:2] else None
    if names is None:
        _refused_naming_a_field(r)
        assert digest(store) == before, (r.status_code, r.text)
        return
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["recorded"] == len(set(names) & set(BEATING)), answer
    assert answer["unknown"] == sorted(set(names) - set(BEATING)), answer
    for name in set(names) & set(BEATING):
        shown = client.get(f"/v1/hosts/{quote(name, safe='')}", headers=V1_HEADERS).json()
        assert shown["last_heartbeat"] >= answer["last_heartbeat"], (name, shown, answer)


@v1_fuzz
@given(name=st.one_of(odd_names, st.just("x" * 5000)).filter(  # httpx sends no longer URL
    lambda n: 0 < len(n) <= 5000 and "\ud800" not in n and n not in (".", "..")),
       # The route reads no body; the router still refuses NUL in one (not tested here).
       body=st.one_of(st.none(), st.recursive(plain_scalars, lambda inner: st.lists(
           inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3),
           max_leaves=6)))
def test_a_single_heartbeat_is_204_for_a_host_and_a_json_4xx_for_anything_else(
        client: Any, store: Store, name: str, body: Any) -> None:
    _seed_beats(client)
    before = digest(store)
    r = client.post(f"/v1/hosts/{quote(name, safe='')}/heartbeat", headers=V1_HEADERS,
                    content=b"" if body is None else dumps(body))
    if name in BEATING:
        assert r.status_code == 204, r.text
        return
    _check_v1(r)
    assert r.status_code in (400, 404), (r.status_code, r.text)
    if "\x00" in name:
        assert r.json()["error"]["field"] == "name", r.text
    assert digest(store) == before, (r.status_code, r.text)
