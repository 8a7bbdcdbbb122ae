"""/resource_providers and /resource_providers/{uuid}: create, show, list, update, delete."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from corral.persistence import Store, tables

from .helpers import (
    absolute,
    allocate,
    assert_cache_headers,
    assert_error,
    generation,
    new_uuid,
    put_aggregates,
    put_traits,
)

RP = "/resource_providers"


def _uuids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {p["uuid"] for p in resp.json()["resource_providers"]}


# -- create -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.0", "1.14", "1.19"])
def test_create_before_1_20_is_201_with_location_and_no_body(api: Any, version: str) -> None:
    uuid = new_uuid()
    r = api.post(RP, json={"name": "rp", "uuid": uuid}, version=version)
    assert r.status_code == 201
    assert r.headers["location"] == absolute(f"/resource_providers/{uuid}")
    assert r.content == b""
    assert "content-type" not in r.headers
    assert api.get(r.headers["location"]).json()["name"] == "rp"


@pytest.mark.parametrize("version", ["1.20", "latest"])
def test_create_from_1_20_is_200_with_the_provider(api: Any, version: str) -> None:
    uuid = new_uuid()
    r = api.post(RP, json={"name": "rp", "uuid": uuid}, version=version)
    assert r.status_code == 200
    assert r.headers["location"] == absolute(f"/resource_providers/{uuid}")
    assert_cache_headers(r, True)
    body = r.json()
    assert body["uuid"] == uuid
    assert body["name"] == "rp"
    assert body["generation"] == 0
    assert body["parent_provider_uuid"] is None
    assert body["root_provider_uuid"] == uuid
    assert api.get(f"{RP}/{uuid}").json() == body


def test_create_without_uuid_makes_one(api: Any) -> None:
    r = api.post(RP, json={"name": "a name"})
    assert r.status_code == 200
    uuid = r.json()["uuid"]
    assert r.headers["location"] == absolute(f"/resource_providers/{uuid}")
    assert api.get(f"{RP}/{uuid}").status_code == 200


def test_uuid_is_normalised(api: Any) -> None:
    for n, form in enumerate(["2290D4AF-9E6E-400B-9D65-1EE01376F71{}",
                              "2290d4af9e6e400b9d651ee01376f71{}",
                              "{{2290d4af-9e6e-400b-9d65-1ee01376f71{}}}"]):
        r = api.post(RP, json={"name": f"rp{n}", "uuid": form.format(n)})
        assert r.status_code == 200, r.text
        assert r.json()["uuid"] == f"2290d4af-9e6e-400b-9d65-1ee01376f71{n}"
        assert api.get(f"{RP}/2290d4af-9e6e-400b-9d65-1ee01376f71{n}").status_code == 200


def test_duplicate_uuid_in_another_form_is_409(api: Any) -> None:
    assert api.post(RP, json={"name": "dashed", "uuid": "2290d4af-9e6e-400b-9d65-1ee01376f71a"}
                    ).status_code == 200
    r = api.post(RP, json={"name": "dashless", "uuid": "2290d4af9e6e400b9d651ee01376f71a"})
    assert_error(r, 409, code="placement.duplicate_name",
                 detail="Conflicting resource provider uuid: "
                        "2290d4af-9e6e-400b-9d65-1ee01376f71a already exists")


def test_duplicate_name_is_409(api: Any) -> None:
    api.create_provider("rp")
    r = api.post(RP, json={"name": "rp", "uuid": new_uuid()})
    assert_error(r, 409, code="placement.duplicate_name",
                 detail="Conflicting resource provider name: rp already exists")
    r = api.post(RP, json={"name": "rp"}, version="1.22")
    assert_error(r, 409, version="1.22")


def test_duplicate_name_and_uuid_is_409(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.post(RP, json={"name": "rp", "uuid": uuid})
    assert_error(r, 409, code="placement.duplicate_name", detail="Conflicting resource provider")
    assert len(api.get(RP).json()["resource_providers"]) == 1


def test_create_refuses_bad_bodies(api: Any) -> None:
    for body in ({"name": "x" * 201}, {}, {"uuid": new_uuid()},
                 {"name": "rp", "uuid": "this is not a uuid"},
                 {"name": "rp", "root_provider_uuid": new_uuid()},
                 {"name": "rp", "generation": 0}):
        assert_error(api.post(RP, json=body), 400, detail="JSON does not validate")
    assert api.get(RP).json() == {"resource_providers": []}


def test_name_of_200_characters_is_fine(api: Any) -> None:
    assert api.post(RP, json={"name": "x" * 200}).status_code == 200


def test_unicode_names(api: Any) -> None:
    p = api.create_provider("nœud-ñ 東京")
    assert api.get(f"{RP}/{p['uuid']}").json()["name"] == "nœud-ñ 東京"
    assert _uuids(api.get(RP, params={"name": "nœud-ñ 東京"})) == {p["uuid"]}


# -- show -------------------------------------------------------------------------------------

LINKS = [
    ("1.0", ["self", "inventories", "usages"]),
    ("1.1", ["self", "inventories", "usages", "aggregates"]),
    ("1.5", ["self", "inventories", "usages", "aggregates"]),
    ("1.6", ["self", "inventories", "usages", "aggregates", "traits"]),
    ("1.10", ["self", "inventories", "usages", "aggregates", "traits"]),
    ("1.11", ["self", "inventories", "usages", "aggregates", "traits", "allocations"]),
    ("latest", ["self", "inventories", "usages", "aggregates", "traits", "allocations"]),
]


def test_links_per_microversion(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    base = f"/resource_providers/{uuid}"
    for version, rels in LINKS:
        expected = [{"rel": "self", "href": base}] + [
            {"rel": rel, "href": f"{base}/{rel}"} for rel in rels[1:]]
        assert api.get(base, version=version).json()["links"] == expected, version
        listed = api.get(RP, version=version).json()["resource_providers"][0]
        assert listed["links"] == expected, version


@pytest.mark.parametrize("version,keys", [
    ("1.0", {"uuid", "name", "generation", "links"}),
    ("1.13", {"uuid", "name", "generation", "links"}),
    ("1.14", {"uuid", "name", "generation", "links", "parent_provider_uuid",
              "root_provider_uuid"}),
])
def test_fields_per_microversion(api: Any, version: str, keys: set[str]) -> None:
    uuid = api.create_provider("rp")["uuid"]
    assert set(api.get(f"{RP}/{uuid}", version=version).json()) == keys
    assert set(api.get(RP, version=version).json()["resource_providers"][0]) == keys
    r = api.put(f"{RP}/{uuid}", json={"name": "renamed"}, version=version)
    assert set(r.json()) == keys


@pytest.mark.parametrize("version,cached", [("1.14", False), ("1.15", True)])
def test_show_and_list_cache_headers(api: Any, version: str, cached: bool) -> None:
    uuid = api.create_provider("rp")["uuid"]
    assert_cache_headers(api.get(f"{RP}/{uuid}", version=version), cached)
    assert_cache_headers(api.get(RP, version=version), cached)
    assert_cache_headers(api.put(f"{RP}/{uuid}", json={"name": "x"}, version=version), cached)


def test_empty_list_has_cache_headers(api: Any) -> None:
    r = api.get(RP, version="1.15")
    assert r.json() == {"resource_providers": []}
    assert_cache_headers(r, True)


def test_show_missing_is_404(api: Any) -> None:
    for uuid in (new_uuid(), "random_sauce"):
        assert_error(api.get(f"{RP}/{uuid}"), 404, code="placement.resource_provider.not_found",
                     detail=f"No resource provider with uuid {uuid} found")


# -- list filters ---------------------------------------------------------------------------

def test_list_by_name_and_uuid(api: Any) -> None:
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    assert _uuids(api.get(RP)) == {a, b}
    assert _uuids(api.get(RP, params={"name": "a"})) == {a}
    assert _uuids(api.get(RP, params={"name": "flubblebubble"})) == set()
    assert _uuids(api.get(RP, params={"uuid": b})) == {b}
    assert _uuids(api.get(RP, params={"uuid": b.replace("-", "").upper()})) == {b}
    assert _uuids(api.get(RP, params={"uuid": new_uuid()})) == set()
    assert _uuids(api.get(RP, params={"uuid": a, "name": "b"})) == set()


def test_list_is_ordered_by_creation(api: Any) -> None:
    made = [api.create_provider(name)["uuid"] for name in ("z", "a", "m")]
    got = [p["uuid"] for p in api.get(RP).json()["resource_providers"]]
    assert got == made


def test_list_refuses_bad_query(api: Any) -> None:
    for query in ("uuid=spameggs", "in_tree=spameggs", "spam=eggs", "member_of=not-a-uuid",
                  "resources=", "required="):
        entry = assert_error(api.get(f"{RP}?{query}"), 400, code="placement.query.bad_value")
        assert ("Invalid query string parameters" in entry["detail"]
                or "resources" in entry["detail"]), query


@pytest.mark.parametrize("param,value,before", [
    ("member_of", "{agg}", "1.2"),
    ("resources", "VCPU:1", "1.3"),
    ("in_tree", "{rp}", "1.13"),
    ("required", "HW_CPU_X86_SSE", "1.17"),
])
def test_filters_do_not_exist_below_their_microversion(api: Any, param: str, value: str,
                                                       before: str) -> None:
    rp = api.create_provider("rp")["uuid"]
    value = value.format(agg=new_uuid(), rp=rp)
    r = api.get(RP, params={param: value}, version=before)
    entry = assert_error(r, 400, version=before, code="placement.query.bad_value")
    assert "Invalid query string parameters" in entry["detail"]
    assert param in entry["detail"]


def test_member_of(api: Any) -> None:
    agg1, agg2, agg3 = new_uuid(), new_uuid(), new_uuid()
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    c = api.create_provider("c")["uuid"]
    put_aggregates(api, a, [agg1])
    put_aggregates(api, b, [agg1, agg2])
    put_aggregates(api, c, [agg3])
    assert _uuids(api.get(RP, params={"member_of": agg1}, version="1.3")) == {a, b}
    assert _uuids(api.get(RP, params={"member_of": agg2})) == {b}
    assert _uuids(api.get(RP, params={"member_of": f"in:{agg2},{agg3}"})) == {b, c}
    assert _uuids(api.get(RP, params={"member_of": agg1.replace("-", "")})) == {a, b}
    assert _uuids(api.get(RP, params={"member_of": new_uuid()})) == set()
    # repeated: all of (1.24)
    assert _uuids(api.get(RP, params=[("member_of", agg1), ("member_of", agg2)])) == {b}
    assert _uuids(api.get(RP, params=[("member_of", f"in:{agg1},{agg3}"),
                                      ("member_of", f"in:{agg2},{agg3}")])) == {b, c}


def test_repeated_member_of_needs_1_24(api: Any) -> None:
    r = api.get(RP, params=[("member_of", new_uuid()), ("member_of", new_uuid())],
                version="1.23")
    assert_error(r, 400, version="1.23", code="placement.query.bad_value",
                 detail="Multiple member_of parameters are not supported")
    r = api.get(RP, params=[("member_of", new_uuid()), ("member_of", new_uuid())],
                version="1.24")
    assert r.status_code == 200


def test_member_of_with_commas_needs_in(api: Any) -> None:
    r = api.get(RP, params={"member_of": f"{new_uuid()},{new_uuid()}"})
    assert_error(r, 400, code="placement.query.bad_value")


def test_forbidden_member_of_from_1_32(api: Any) -> None:
    agg1, agg2 = new_uuid(), new_uuid()
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    c = api.create_provider("c")["uuid"]
    put_aggregates(api, a, [agg1])
    put_aggregates(api, b, [agg2])
    assert _uuids(api.get(RP, params={"member_of": f"!{agg1}"})) == {b, c}
    assert _uuids(api.get(RP, params={"member_of": f"!in:{agg1},{agg2}"})) == {c}
    assert _uuids(api.get(RP, params=[("member_of", f"in:{agg1},{agg2}"),
                                      ("member_of", f"!{agg2}")])) == {a}
    for value in (f"!{agg1}", f"!in:{agg1},{agg2}"):
        r = api.get(RP, params={"member_of": value}, version="1.31")
        assert_error(r, 400, version="1.31", code="placement.query.bad_value")
    # a wholly forbidden group matches nothing; it is not an error
    assert _uuids(api.get(RP, params=[("member_of", agg1), ("member_of", f"!{agg1}")])) == set()


def test_resources_filter_uses_capacity(api: Any, store: Store) -> None:
    big = api.create_provider("big")["uuid"]
    small = api.create_provider("small")["uuid"]
    api.set_inventory(big, {"VCPU": {"total": 8, "allocation_ratio": 4.0, "reserved": 2},
                            "MEMORY_MB": {"total": 4096}})
    api.set_inventory(small, {"VCPU": {"total": 4}, "DISK_GB": {"total": 100}})
    # big: VCPU capacity (8-2)*4 = 24; small: VCPU capacity 4
    assert _uuids(api.get(RP, params={"resources": "VCPU:4"}, version="1.4")) == {big, small}
    assert _uuids(api.get(RP, params={"resources": "VCPU:5"})) == {big}
    assert _uuids(api.get(RP, params={"resources": "VCPU:24"})) == {big}
    assert _uuids(api.get(RP, params={"resources": "VCPU:25"})) == set()
    assert _uuids(api.get(RP, params={"resources": "VCPU:1,DISK_GB:100"})) == {small}
    assert _uuids(api.get(RP, params={"resources": "VCPU:1,MEMORY_MB:1,DISK_GB:1"})) == set()
    assert _uuids(api.get(RP, params={"resources": "IPV4_ADDRESS:1"})) == set()
    # usage counts against capacity
    allocate(store, big, {"VCPU": 20})
    assert _uuids(api.get(RP, params={"resources": "VCPU:4"})) == {big, small}
    assert _uuids(api.get(RP, params={"resources": "VCPU:5"})) == set()


def test_resources_filter_honours_unit_rules(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    api.set_inventory(rp, {"DISK_GB": {"total": 1000, "min_unit": 10, "max_unit": 500,
                                       "step_size": 10}})
    for amount, found in [(5, False), (10, True), (15, False), (500, True), (510, False)]:
        assert _uuids(api.get(RP, params={"resources": f"DISK_GB:{amount}"})) == (
            {rp} if found else set()), amount


def test_reserved_equal_total_has_no_capacity(api: Any) -> None:
    rp = api.create_provider("rp")["uuid"]
    api.set_inventory(rp, {"VCPU": {"total": 4, "reserved": 4}})
    assert _uuids(api.get(RP, params={"resources": "VCPU:1"})) == set()


def test_resources_filter_sums_every_consumer_and_combines_with_other_filters(
        api: Any, store: Store) -> None:
    agg = new_uuid()
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    for rp in (a, b):
        api.set_inventory(rp, {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 1024}})
    put_aggregates(api, a, [agg])
    allocate(store, a, {"VCPU": 3}, consumer=new_uuid())
    allocate(store, a, {"VCPU": 3, "MEMORY_MB": 512}, consumer=new_uuid())
    assert _uuids(api.get(RP, params={"resources": "VCPU:2"})) == {a, b}
    assert _uuids(api.get(RP, params={"resources": "VCPU:3"})) == {b}
    assert _uuids(api.get(RP, params={"resources": "VCPU:2,MEMORY_MB:513"})) == {b}
    assert _uuids(api.get(RP, params={"resources": "VCPU:2", "member_of": agg})) == {a}
    assert _uuids(api.get(RP, params={"resources": "VCPU:3", "member_of": agg})) == set()
    assert _uuids(api.get(RP, params={"resources": "VCPU:2", "name": "b"})) == {b}


def test_resources_filter_on_more_providers_than_one_statement_can_name(
        api: Any, store: Store) -> None:
    """PostgreSQL takes at most 65,535 parameters in a statement: a fleet larger than
    that is still filtered whole (it was a 500 when the filter named every provider)."""
    n = 66_000
    rp, inv = tables.resource_providers, tables.inventories
    now = datetime.now(UTC)
    with store.write() as repo:
        vcpu = repo.resource_class_ids(["VCPU"])["VCPU"]
        for start in range(0, n, 10_000):
            repo.conn.execute(insert(rp), [
                {"uuid": str(uuidlib.UUID(int=i + 1)), "name": f"cn{i}", "generation": 1,
                 "created_at": now, "updated_at": now} for i in range(start, min(n, start + 10_000))])
        repo.conn.execute(update(rp).values(root_provider_id=rp.c.id))
        ids = list(repo.conn.scalars(select(rp.c.id).order_by(rp.c.id)))
        for start in range(0, n, 10_000):
            repo.conn.execute(insert(inv), [
                {"resource_provider_id": rp_id, "resource_class_id": vcpu,
                 "total": 1 + k % 2, "reserved": 0, "min_unit": 1, "max_unit": 2,
                 "step_size": 1, "allocation_ratio": 1.0, "created_at": now, "updated_at": now}
                for k, rp_id in enumerate(ids[start:start + 10_000], start)])
    found = api.get(RP, params={"resources": "VCPU:2"})
    assert len(_uuids(found)) == n // 2
    assert len(_uuids(api.get(RP, params={"resources": "VCPU:1"}))) == n


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.6", "1.11", "1.14", "1.15", "latest"])
def test_listing_shows_each_provider_as_its_own_page_does(api: Any, version: str) -> None:
    root = api.create_provider('quote " backslash \\ slash / ünï€ode 🐄')["uuid"]
    child = api.create_provider("child", parent_provider_uuid=root)["uuid"]
    api.set_inventory(child, {"VCPU": {"total": 2}})
    r = api.get(RP, version=version)
    assert r.status_code == 200, r.text
    listed = r.json()["resource_providers"]
    assert [p["uuid"] for p in listed] == [root, child]
    for entry in listed:
        assert entry == api.get(f"{RP}/{entry['uuid']}", version=version).json()
    assert _uuids(api.get(RP, params={"resources": "VCPU:1"})) == {child}


RESOURCES_SYNTAX = [
    ("VCPU", "Badly formed resources parameter"),
    ("VCPU:", "expected positive integer amount"),
    ("VCPU:x", "expected positive integer amount"),
    ("VCPU:0", "requires amount >= 1"),
    ("VCPU:-1", "requires amount >= 1"),
    ("VCPU:1,", "Badly formed resources parameter"),
    ("VCPU:1:2", "expected positive integer amount"),
]


def test_resources_filter_syntax(api: Any) -> None:
    for value, detail in RESOURCES_SYNTAX:
        assert_error(api.get(RP, params={"resources": value}), 400, detail=detail,
                     code="placement.query.bad_value")


def test_resources_filter_unknown_class_is_400(api: Any) -> None:
    r = api.get(RP, params={"resources": "CUSTOM_NOPE:1"})
    assert_error(r, 400, detail="CUSTOM_NOPE")


def test_resources_filter_repeated_class_is_400(api: Any) -> None:
    r = api.get(RP, params={"resources": "VCPU:1,VCPU:2"})
    assert_error(r, 400, code="placement.query.duplicate_key")


def test_in_tree(api: Any) -> None:
    root = api.create_provider("root")["uuid"]
    child = api.create_provider("child", parent_provider_uuid=root)["uuid"]
    grandchild = api.create_provider("gc", parent_provider_uuid=child)["uuid"]
    other = api.create_provider("other")["uuid"]
    for member in (root, child, grandchild):
        assert _uuids(api.get(RP, params={"in_tree": member})) == {root, child, grandchild}
    assert _uuids(api.get(RP, params={"in_tree": other})) == {other}
    assert _uuids(api.get(RP, params={"in_tree": new_uuid()})) == set()
    assert _uuids(api.get(RP, params={"in_tree": child, "name": "gc"})) == {grandchild}


def test_required_traits(api: Any) -> None:
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    c = api.create_provider("c")["uuid"]
    put_traits(api, a, ["HW_CPU_X86_SGX", "STORAGE_DISK_SSD"])
    put_traits(api, b, ["MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_SSD"])
    assert _uuids(api.get(RP, params={"required": "STORAGE_DISK_SSD"}, version="1.18")) == {a, b}
    assert _uuids(api.get(RP, params={"required": "HW_CPU_X86_SGX,STORAGE_DISK_SSD"})) == {a}
    assert _uuids(api.get(RP, params={"required": "HW_CPU_X86_SGX,MISC_SHARES_VIA_AGGREGATE"})
                  ) == set()
    assert _uuids(api.get(RP, params={"required": "HW_CPU_X86_VMX"})) == set()
    # forbidden (1.22)
    assert _uuids(api.get(RP, params={"required": "!STORAGE_DISK_SSD"})) == {c}
    assert _uuids(api.get(RP, params={"required": "!HW_CPU_X86_SGX,STORAGE_DISK_SSD"})) == {b}
    assert _uuids(api.get(RP, params={"required": "!HW_CPU_X86_VMX"})) == {a, b, c}
    assert _uuids(api.get(RP, params={"required": "!MISC_SHARES_VIA_AGGREGATE,!HW_CPU_X86_SGX"})
                  ) == {c}


def test_forbidden_traits_need_1_22(api: Any) -> None:
    r = api.get(RP, params={"required": "!STORAGE_DISK_SSD"}, version="1.21")
    assert_error(r, 400, version="1.21", detail="Got: !STORAGE_DISK_SSD")
    r = api.get(RP, params={"required": "HW_CPU_X86_SSE,!STORAGE_DISK_SSD"}, version="1.21")
    assert_error(r, 400, version="1.21", detail="Got: HW_CPU_X86_SSE,!STORAGE_DISK_SSD")


def test_any_of_traits_from_1_39(api: Any) -> None:
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b")["uuid"]
    api.create_provider("c")
    put_traits(api, a, ["HW_CPU_X86_SGX", "STORAGE_DISK_SSD"])
    put_traits(api, b, ["HW_CPU_X86_AVX", "STORAGE_DISK_SSD"])
    q = {"required": "in:HW_CPU_X86_SGX,HW_CPU_X86_AVX"}
    assert _uuids(api.get(RP, params=q, version="1.39")) == {a, b}
    assert_error(api.get(RP, params=q, version="1.38"), 400, version="1.38",
                 code="placement.query.bad_value")
    # repeated: all of them (1.39)
    both = [("required", "in:HW_CPU_X86_SGX,HW_CPU_X86_AVX"), ("required", "HW_CPU_X86_SGX")]
    assert _uuids(api.get(RP, params=both, version="1.39")) == {a}
    repeated = [("required", "HW_CPU_X86_AVX"), ("required", "!HW_CPU_X86_SGX")]
    assert _uuids(api.get(RP, params=repeated, version="1.39")) == {b}
    # before 1.39 only the last one counts
    assert _uuids(api.get(RP, params=repeated, version="1.38")) == {b, _third(api)}


def _third(api: Any) -> str:
    return next(p["uuid"] for p in api.get(RP).json()["resource_providers"] if p["name"] == "c")


def test_required_syntax(api: Any) -> None:
    for value in ("in:HW_CPU_X86_SGX,!HW_CPU_X86_AVX", "in:", "in:A,,B",
                  "STORAGE_DISK_SSD,,MISC_SHARES_VIA_AGGREGATE", ",", " "):
        assert_error(api.get(RP, params={"required": value}), 400,
                     code="placement.query.bad_value")


def test_required_unknown_trait_is_400(api: Any) -> None:
    r = api.get(RP, params={"required": "STORAGE_DISK_SSD,BOGUS_TRAIT"})
    assert_error(r, 400, detail="No such trait(s): BOGUS_TRAIT")
    r = api.get(RP, params={"required": "!CUSTOM_BOGUS"})
    assert_error(r, 400, detail="CUSTOM_BOGUS")


def test_filters_combine(api: Any) -> None:
    agg = new_uuid()
    a = api.create_provider("a")["uuid"]
    b = api.create_provider("b", parent_provider_uuid=a)["uuid"]
    c = api.create_provider("c")["uuid"]
    for rp in (a, b, c):
        put_traits(api, rp, ["STORAGE_DISK_SSD"])
        api.set_inventory(rp, {"DISK_GB": {"total": 100}})
    put_aggregates(api, b, [agg])
    put_aggregates(api, c, [agg])
    q = {"required": "STORAGE_DISK_SSD", "in_tree": a, "member_of": agg,
         "resources": "DISK_GB:100"}
    assert _uuids(api.get(RP, params=q)) == {b}


# -- update ---------------------------------------------------------------------------------

def test_rename(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.put(f"{RP}/{uuid}", json={"name": "new name"}, version="1.15")
    assert r.status_code == 200
    assert "location" not in r.headers
    body = r.json()
    assert body["name"] == "new name"
    assert body["uuid"] == uuid
    assert api.get(f"{RP}/{uuid}").json()["name"] == "new name"


def test_rename_and_reparent_leave_the_generation(api: Any) -> None:
    """As Placement: the generation guards inventories, traits, aggregates and
    allocations, not the name or the place in a tree (issue 11, resource-provider.yaml,
    whose later steps write with the generation a rename did not move)."""
    parent = api.create_provider("parent")["uuid"]
    uuid = api.create_provider("rp")["uuid"]
    r = api.put(f"{RP}/{uuid}", json={"name": "new name"})
    assert r.json()["generation"] == 0
    r = api.put(f"{RP}/{uuid}", json={"name": "new name", "parent_provider_uuid": parent})
    assert (r.json()["generation"], r.json()["parent_provider_uuid"]) == (0, parent)
    r = api.put(f"{RP}/{uuid}", json={"name": "new name", "parent_provider_uuid": None})
    assert (r.json()["generation"], r.json()["parent_provider_uuid"]) == (0, None)
    assert api.get(f"{RP}/{uuid}").json()["generation"] == 0
    assert api.get(f"{RP}/{parent}").json()["generation"] == 0


def test_rename_to_taken_name_is_409(api: Any) -> None:
    api.create_provider("child")
    uuid = api.create_provider("cow")["uuid"]
    r = api.put(f"{RP}/{uuid}", json={"name": "child"})
    assert_error(r, 409, code="placement.duplicate_name")
    assert api.get(f"{RP}/{uuid}").json()["name"] == "cow"


def test_rename_to_own_name_is_fine(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    assert api.put(f"{RP}/{uuid}", json={"name": "rp"}).status_code == 200


def test_update_refuses_bad_bodies(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    for body in ({"badfield": "new name"}, {"name": "n", "uuid": new_uuid()},
                 {"name": "x" * 201}, {"name": "n", "root_provider_uuid": new_uuid()},
                 {"name": "n", "generation": 0}, {"name": 1}, {},
                 {"parent_provider_uuid": None}):
        assert_error(api.put(f"{RP}/{uuid}", json=body), 400, detail="JSON does not validate")
    assert api.get(f"{RP}/{uuid}").json()["name"] == "rp"


def test_update_missing_provider_is_404(api: Any) -> None:
    r = api.put(f"{RP}/{new_uuid()}", json={"name": "x"})
    assert_error(r, 404, code="placement.resource_provider.not_found")
    r = api.put(f"{RP}/{new_uuid()}", json={"bad": "body"})
    assert_error(r, 404, code="placement.resource_provider.not_found")


# -- nested providers -----------------------------------------------------------------------

def test_parent_needs_1_14(api: Any) -> None:
    parent = api.create_provider("parent")["uuid"]
    r = api.post(RP, json={"name": "child", "parent_provider_uuid": parent}, version="1.13")
    assert_error(r, 400, version="1.13", detail="JSON does not validate")
    child = api.create_provider("child")["uuid"]
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": parent},
                version="1.13")
    assert_error(r, 400, version="1.13", detail="JSON does not validate")


def test_create_child(api: Any) -> None:
    parent = api.create_provider("parent")["uuid"]
    child = api.create_provider("child", parent_provider_uuid=parent)
    assert child["parent_provider_uuid"] == parent
    assert child["root_provider_uuid"] == parent
    gc = api.create_provider("gc", parent_provider_uuid=child["uuid"].replace("-", ""))
    assert gc["parent_provider_uuid"] == child["uuid"]
    assert gc["root_provider_uuid"] == parent
    r = api.post(RP, json={"name": "c2", "parent_provider_uuid": None}, version="1.14")
    assert r.status_code == 201


def test_parent_must_exist(api: Any) -> None:
    r = api.post(RP, json={"name": "child", "parent_provider_uuid": new_uuid()})
    assert_error(r, 400, detail="parent provider UUID")
    uuid = new_uuid()
    r = api.post(RP, json={"name": "child", "uuid": uuid, "parent_provider_uuid": uuid})
    assert_error(r, 400)
    child = api.create_provider("child")["uuid"]
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": new_uuid()})
    assert_error(r, 400, detail="parent provider UUID")
    r = api.post(RP, json={"name": "c", "parent_provider_uuid": "not-a-uuid"})
    assert_error(r, 400, detail="JSON does not validate")


def test_set_parent_once_at_1_14(api: Any) -> None:
    parent = api.create_provider("parent")["uuid"]
    other = api.create_provider("other")["uuid"]
    child = api.create_provider("child")["uuid"]
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": parent},
                version="1.14")
    assert r.status_code == 200
    assert r.json()["parent_provider_uuid"] == parent
    assert r.json()["root_provider_uuid"] == parent
    # the same parent again is no change
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": parent},
                version="1.14")
    assert r.status_code == 200
    # leaving the parent out keeps it
    r = api.put(f"{RP}/{child}", json={"name": "child2"}, version="1.36")
    assert r.json()["parent_provider_uuid"] == parent
    for version in ("1.14", "1.36"):
        r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": other},
                    version=version)
        assert_error(r, 400, version=version, detail="e-parenting a provider is not")
        r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": None},
                    version=version)
        assert_error(r, 400, version=version, detail="n-parenting a provider is not")
    assert api.get(f"{RP}/{child}").json()["parent_provider_uuid"] == parent


def test_reparent_and_unparent_from_1_37(api: Any) -> None:
    parent = api.create_provider("parent")["uuid"]
    other = api.create_provider("other")["uuid"]
    child = api.create_provider("child", parent_provider_uuid=parent)["uuid"]
    gc = api.create_provider("gc", parent_provider_uuid=child)["uuid"]
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": other},
                version="1.37")
    assert r.status_code == 200
    assert r.json()["parent_provider_uuid"] == other
    assert r.json()["root_provider_uuid"] == other
    assert api.get(f"{RP}/{gc}").json()["root_provider_uuid"] == other
    assert _uuids(api.get(RP, params={"in_tree": other})) == {other, child, gc}
    assert _uuids(api.get(RP, params={"in_tree": parent})) == {parent}
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": None},
                version="1.37")
    assert r.status_code == 200
    assert r.json()["parent_provider_uuid"] is None
    assert r.json()["root_provider_uuid"] == child
    assert api.get(f"{RP}/{gc}").json()["root_provider_uuid"] == child
    assert _uuids(api.get(RP, params={"in_tree": gc})) == {child, gc}
    # back under the original parent
    r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": parent},
                version="1.37")
    assert r.json()["root_provider_uuid"] == parent
    assert api.get(f"{RP}/{gc}").json()["root_provider_uuid"] == parent


@pytest.mark.parametrize("version", ["1.14", "1.37"])
def test_no_loops(api: Any, version: str) -> None:
    root = api.create_provider("root")["uuid"]
    child = api.create_provider("child", parent_provider_uuid=root)["uuid"]
    gc = api.create_provider("gc", parent_provider_uuid=child)["uuid"]
    for target in (root, child, gc):
        r = api.put(f"{RP}/{root}", json={"name": "root", "parent_provider_uuid": target},
                    version=version)
        assert_error(r, 400, version=version,
                     detail="creating loop in the provider tree is not allowed.")
    if version == "1.37":
        r = api.put(f"{RP}/{child}", json={"name": "child", "parent_provider_uuid": gc},
                    version=version)
        assert_error(r, 400, detail="creating loop in the provider tree is not allowed.")
    assert api.get(f"{RP}/{root}").json()["parent_provider_uuid"] is None
    assert api.get(f"{RP}/{child}").json()["parent_provider_uuid"] == root


# -- delete ---------------------------------------------------------------------------------

def test_delete(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    api.set_inventory(uuid, {"VCPU": {"total": 4}})
    put_traits(api, uuid, ["HW_CPU_X86_SSE"])
    put_aggregates(api, uuid, [new_uuid()])
    r = api.delete(f"{RP}/{uuid}")
    assert r.status_code == 204
    assert r.content == b""
    assert "content-type" not in r.headers
    assert_error(api.get(f"{RP}/{uuid}"), 404, code="placement.resource_provider.not_found")
    assert_error(api.delete(f"{RP}/{uuid}"), 404, code="placement.resource_provider.not_found")
    assert api.get("/traits", params={"associated": "true"}).json()["traits"] == []
    # the name and uuid are free again
    assert api.post(RP, json={"name": "rp", "uuid": uuid}).status_code == 200
    assert api.get(f"{RP}/{uuid}/inventories").json()["inventories"] == {}


def test_delete_parent_with_children_is_409(api: Any) -> None:
    parent = api.create_provider("parent")["uuid"]
    child = api.create_provider("child", parent_provider_uuid=parent)["uuid"]
    r = api.delete(f"{RP}/{parent}")
    assert_error(r, 409, code="placement.resource_provider.cannot_delete_parent",
                 detail=f"Unable to delete parent resource provider {parent}: "
                        "It has child resource providers.")
    assert api.delete(f"{RP}/{child}").status_code == 204
    assert api.delete(f"{RP}/{parent}").status_code == 204


def test_delete_provider_with_allocations_is_409(api: Any, store: Store) -> None:
    uuid = api.create_provider("rp")["uuid"]
    api.set_inventory(uuid, {"VCPU": {"total": 4}})
    allocate(store, uuid, {"VCPU": 1})
    assert_error(api.delete(f"{RP}/{uuid}"), 409, code="placement.resource_provider.inuse")
    assert api.get(f"{RP}/{uuid}").status_code == 200


# -- generations ----------------------------------------------------------------------------

def test_every_change_of_a_provider_part_bumps_its_generation(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    assert generation(api, uuid) == 0
    api.set_inventory(uuid, {"VCPU": {"total": 4}})
    assert generation(api, uuid) == 1
    put_traits(api, uuid, ["HW_CPU_X86_SSE"])
    assert generation(api, uuid) == 2
    put_aggregates(api, uuid, [new_uuid()])
    assert generation(api, uuid) == 3
    assert api.delete(f"{RP}/{uuid}/traits").status_code == 204
    assert generation(api, uuid) == 4
    assert api.delete(f"{RP}/{uuid}/inventories/VCPU").status_code == 204
    assert generation(api, uuid) == 5
