"""/resource_providers/{uuid}/aggregates: a list body before 1.19, generation-checked after."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import assert_cache_headers, assert_error, generation, new_uuid

AGG1 = "f918801a-5e54-4bee-9095-09a9d0c786b8"
AGG2 = "a893eb5c-e2a0-4251-ab26-f71d3b0cfc0b"


@pytest.fixture
def rp(api: Any) -> str:
    uuid: str = api.create_provider("rp")["uuid"]
    return uuid


def _aggs(rp: str) -> str:
    return f"/resource_providers/{rp}/aggregates"


@pytest.mark.parametrize("version", ["1.1", "1.18"])
def test_list_body_before_1_19(api: Any, rp: str, version: str) -> None:
    assert api.get(_aggs(rp), version=version).json() == {"aggregates": []}
    r = api.put(_aggs(rp), json=[AGG1, AGG2], version=version)
    assert r.status_code == 200
    assert r.json() == {"aggregates": [AGG1, AGG2]}
    got = api.get(_aggs(rp), version=version).json()
    assert set(got) == {"aggregates"}
    assert sorted(got["aggregates"]) == sorted([AGG1, AGG2])
    # no generation change before 1.19
    assert generation(api, rp) == 0
    r = api.put(_aggs(rp), json=[], version=version)
    assert r.json() == {"aggregates": []}
    assert api.get(_aggs(rp)).json() == {"aggregates": [], "resource_provider_generation": 0}


def test_object_body_from_1_19(api: Any, rp: str) -> None:
    r = api.get(_aggs(rp), version="1.19")
    assert r.json() == {"aggregates": [], "resource_provider_generation": 0}
    r = api.put(_aggs(rp), version="1.19",
                json={"aggregates": [AGG1, AGG2], "resource_provider_generation": 0})
    assert r.status_code == 200
    assert r.json() == {"aggregates": [AGG1, AGG2], "resource_provider_generation": 1}
    got = api.get(_aggs(rp)).json()
    assert sorted(got["aggregates"]) == sorted([AGG1, AGG2])
    assert got["resource_provider_generation"] == 1
    assert generation(api, rp) == 1
    r = api.put(_aggs(rp), json={"aggregates": [], "resource_provider_generation": 1})
    assert r.json() == {"aggregates": [], "resource_provider_generation": 2}


def test_stale_generation_is_409(api: Any, rp: str) -> None:
    api.put(_aggs(rp), json={"aggregates": [AGG1], "resource_provider_generation": 0})
    r = api.put(_aggs(rp), json={"aggregates": [], "resource_provider_generation": 0})
    assert_error(r, 409, code="placement.concurrent_update")
    assert api.get(_aggs(rp)).json() == {"aggregates": [AGG1], "resource_provider_generation": 1}


def test_wrong_body_for_the_microversion_is_400(api: Any, rp: str) -> None:
    r = api.put(_aggs(rp), json=[AGG1, AGG2], version="1.19")
    assert_error(r, 400, version="1.19", detail="JSON does not validate")
    r = api.put(_aggs(rp), json={"aggregates": [AGG1], "resource_provider_generation": 0},
                version="1.18")
    assert_error(r, 400, version="1.18", detail="JSON does not validate")


@pytest.mark.parametrize("version", ["1.18", "1.19"])
def test_bad_aggregate_lists_are_400(api: Any, rp: str, version: str) -> None:
    for aggregates in (["harry", "sally"], [AGG1, AGG1], [1], [None]):
        body: Any = aggregates
        if version == "1.19":
            body = {"aggregates": aggregates, "resource_provider_generation": 0}
        r = api.put(_aggs(rp), json=body, version=version)
        assert_error(r, 400, version=version, detail="JSON does not validate")
    assert api.get(_aggs(rp)).json()["aggregates"] == []


def test_duplicates_say_so(api: Any, rp: str) -> None:
    r = api.put(_aggs(rp), json={"aggregates": [AGG1, AGG1], "resource_provider_generation": 0})
    assert_error(r, 400, detail="non-unique")


def test_bad_objects_are_400(api: Any, rp: str) -> None:
    for body in ({"aggregates": [AGG1]}, {"resource_provider_generation": 0},
                 {"aggregates": [AGG1], "resource_provider_generation": 0, "extra": 1},
                 {"aggregates": AGG1, "resource_provider_generation": 0}):
        assert_error(api.put(_aggs(rp), json=body), 400, detail="JSON does not validate")


def test_malformed_json_is_400(api: Any, rp: str) -> None:
    r = api.put(_aggs(rp), content=b'{"bad", "not json"}',
                headers={"content-type": "application/json"})
    assert_error(r, 400, detail="Malformed JSON")


def test_aggregate_uuids_are_normalised(api: Any, rp: str) -> None:
    r = api.put(_aggs(rp), json={"aggregates": [AGG1.replace("-", "").upper()],
                                 "resource_provider_generation": 0})
    assert r.json()["aggregates"] == [AGG1]
    assert api.get(_aggs(rp)).json()["aggregates"] == [AGG1]


def test_aggregates_are_shared_between_providers(api: Any, rp: str) -> None:
    other = api.create_provider("other")["uuid"]
    api.put(_aggs(rp), json={"aggregates": [AGG1], "resource_provider_generation": 0})
    api.put(_aggs(other), json={"aggregates": [AGG1, AGG2], "resource_provider_generation": 0})
    api.put(_aggs(rp), json={"aggregates": [], "resource_provider_generation": 1})
    assert sorted(api.get(_aggs(other)).json()["aggregates"]) == sorted([AGG1, AGG2])


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_missing_provider_is_404(api: Any, method: str) -> None:
    r = api.request(method, _aggs(new_uuid()), json=[], version="1.18")
    assert_error(r, 404, version="1.18")


@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True), ("1.19", True)])
def test_cache_headers(api: Any, rp: str, version: str, cached: bool) -> None:
    assert_cache_headers(api.get(_aggs(rp), version=version), cached)
    body: Any = [AGG1]
    if version == "1.19":
        body = {"aggregates": [AGG1], "resource_provider_generation": 0}
    assert_cache_headers(api.put(_aggs(rp), json=body, version=version), cached)
