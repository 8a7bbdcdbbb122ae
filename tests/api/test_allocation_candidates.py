"""GET /allocation_candidates (1.10) and every microversion that changed it.

Fleets are built over HTTP. Flat hosts, a NUMA tree (a compute node without inventory,
two NUMA nodes with VCPU and memory, one of them parenting a NIC with VFs) and a
sharing disk in an aggregate cover most of the rules; each test asks what it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from .helpers import (
    assert_cache_headers,
    assert_error,
    ensure_custom_trait,
    new_uuid,
    put_aggregates,
    put_traits,
)

AC = "/allocation_candidates"
BAD = "placement.query.bad_value"
MISSING = "placement.query.missing_value"
Params = dict[str, str] | list[tuple[str, str]]


#: For answers that do not depend on the database (parsing, validation, policy): one
#: backend is enough, and keeps the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

# -- building blocks ------------------------------------------------------------------------

def provider(api: Any, name: str, inventory: dict[str, Any] | None = None, *,
             parent: str | None = None, traits: Iterable[str] = (),
             aggregates: Iterable[str] = ()) -> str:
    fields = {"parent_provider_uuid": parent} if parent else {}
    created = api.create_provider(name, **fields)
    uuid: str = created["uuid"]
    gen: int = created["generation"]

    def put(sub: str, body: dict[str, Any]) -> int:
        r = api.put(f"/resource_providers/{uuid}/{sub}",
                    json={"resource_provider_generation": gen, **body})
        assert r.status_code == 200, r.text
        new: int = r.json()["resource_provider_generation"]
        return new

    if inventory:
        gen = put("inventories", {"inventories": {
            rc: v if isinstance(v, dict) else {"total": v} for rc, v in inventory.items()}})
    traits = list(traits)
    for name_ in traits:
        if name_.startswith("CUSTOM_"):
            ensure_custom_trait(api, name_)
    if traits:
        gen = put("traits", {"traits": traits})
    if aggregates:
        put("aggregates", {"aggregates": list(aggregates)})
    return uuid


def candidates(api: Any, params: Params, version: str = "latest") -> dict[str, Any]:
    r = api.get(AC, params=params, version=version)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def allocations(body: dict[str, Any]) -> list[dict[str, dict[str, int]]]:
    """Each candidate as {provider: {class: amount}}, whatever the format."""
    out = []
    for ar in body["allocation_requests"]:
        if isinstance(ar["allocations"], list):
            out.append({a["resource_provider"]["uuid"]: a["resources"] for a in ar["allocations"]})
        else:
            out.append({rp: a["resources"] for rp, a in ar["allocations"].items()})
    return out


def as_set(body: dict[str, Any]) -> set[frozenset[tuple[str, str, int]]]:
    found = [frozenset((rp, rc, n) for rp, res in a.items() for rc, n in res.items())
             for a in allocations(body)]
    assert len(found) == len(set(found)), f"duplicate candidates: {found}"
    return set(found)


def spec(*candidates_: dict[str, dict[str, int]]) -> set[frozenset[tuple[str, str, int]]]:
    return {frozenset((rp, rc, n) for rp, res in c.items() for rc, n in res.items())
            for c in candidates_}


def claim(api: Any, consumer: str, allocs: dict[str, dict[str, int]], **extra: Any) -> Any:
    return api.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
        "project_id": "p", "user_id": "u", "consumer_generation": None,
        "consumer_type": "INSTANCE", **extra})


@pytest.fixture
def flat(api: Any) -> dict[str, str]:
    """cn1: 8 VCPU, 2048 MB, 100 GB, AVX2; cn2: 4 VCPU, 1024 MB, 50 GB; cn3: 16 VCPU, no disk."""
    return {
        "cn1": provider(api, "cn1", {"VCPU": 8, "MEMORY_MB": 2048, "DISK_GB": 100},
                        traits=["HW_CPU_X86_AVX2"]),
        "cn2": provider(api, "cn2", {"VCPU": 4, "MEMORY_MB": 1024, "DISK_GB": 50}),
        "cn3": provider(api, "cn3", {"VCPU": 16, "MEMORY_MB": 4096}),
    }


@pytest.fixture
def numa(api: Any) -> dict[str, str]:
    """cn (no inventory, COMPUTE_VOLUME_MULTI_ATTACH) with numa0 and numa1 (4 VCPU,
    2048 MB, HW_NUMA_ROOT); numa0 parents pf0 (8 SRIOV_NET_VF, CUSTOM_PHYSNET1)."""
    cn = provider(api, "cn", traits=["COMPUTE_VOLUME_MULTI_ATTACH"])
    numa0 = provider(api, "numa0", {"VCPU": 4, "MEMORY_MB": 2048}, parent=cn,
                     traits=["HW_NUMA_ROOT"])
    numa1 = provider(api, "numa1", {"VCPU": 4, "MEMORY_MB": 2048}, parent=cn,
                     traits=["HW_NUMA_ROOT"])
    pf0 = provider(api, "pf0", {"SRIOV_NET_VF": 8}, parent=numa0, traits=["CUSTOM_PHYSNET1"])
    return {"cn": cn, "numa0": numa0, "numa1": numa1, "pf0": pf0}


# -- the route ------------------------------------------------------------------------------

@SQLITE_ONLY
def test_candidates_are_404_before_1_10(api: Any) -> None:
    assert_error(api.get(AC, params={"resources": "VCPU:1"}, version="1.9"), 404, version="1.9")


@SQLITE_ONLY
def test_no_provider_no_candidate(api: Any) -> None:
    r = api.get(AC, params={"resources": "VCPU:1"})
    assert r.status_code == 200
    assert r.json() == {"allocation_requests": [], "provider_summaries": {}}


@pytest.mark.parametrize("version,present", [("1.14", False), ("1.15", True)])
@SQLITE_ONLY
def test_cache_headers_from_1_15(api: Any, version: str, present: bool) -> None:
    assert_cache_headers(api.get(AC, params={"resources": "VCPU:1"}, version=version), present)


@SQLITE_ONLY
def test_needs_admin_or_service(api: Any) -> None:
    r = api.get(AC, params={"resources": "VCPU:1"},
                headers={"x-auth-token": "u:p", "x-roles": "reader"})
    assert_error(r, 403)


# -- flat providers, response shape per microversion --------------------------------------

def _expected_body(flat: dict[str, str], version: tuple[int, int]) -> dict[str, Any]:
    """What VCPU:1,MEMORY_MB:512,DISK_GB:10 gets from the flat fleet at ``version``."""
    cn1, cn2 = flat["cn1"], flat["cn2"]
    asked = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}
    reqs: list[dict[str, Any]] = []
    for rp in (cn1, cn2):
        if version >= (1, 12):
            reqs.append({"allocations": {rp: {"resources": asked}}})
        else:
            reqs.append({"allocations": [{"resource_provider": {"uuid": rp},
                                          "resources": asked}]})
        if version >= (1, 34):
            reqs[-1]["mappings"] = {"": [rp]}
    totals = {cn1: {"VCPU": 8, "MEMORY_MB": 2048, "DISK_GB": 100},
              cn2: {"VCPU": 4, "MEMORY_MB": 1024, "DISK_GB": 50}}
    summaries: dict[str, Any] = {}
    for rp, inv in totals.items():
        entry: dict[str, Any] = {"resources": {
            rc: {"capacity": total, "used": 0} for rc, total in inv.items()}}
        if version >= (1, 17):
            entry["traits"] = ["HW_CPU_X86_AVX2"] if rp == cn1 else []
        if version >= (1, 29):
            entry["parent_provider_uuid"] = None
            entry["root_provider_uuid"] = rp
        summaries[rp] = entry
    return {"allocation_requests": reqs, "provider_summaries": summaries}


def test_flat_body_per_microversion(api: Any, flat: dict[str, str]) -> None:
    """Lists (1.10) then dicts (1.12); summaries gain traits (1.17), every class (1.27),
    parent and root (1.29); requests gain mappings (1.34)."""
    for version in ((1, 10), (1, 12), (1, 17), (1, 27), (1, 29), (1, 34)):
        body = candidates(api, {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10"},
                          f"{version[0]}.{version[1]}")
        want = _expected_body(flat, version)
        key = (lambda r: str(r["allocations"]))  # noqa: E731
        assert sorted(body["allocation_requests"], key=key) == sorted(
            want["allocation_requests"], key=key), version
        assert body["provider_summaries"] == want["provider_summaries"], version


def test_summaries_list_only_the_classes_asked_before_1_27(api: Any,
                                                           flat: dict[str, str]) -> None:
    for version, classes in (("1.26", {"VCPU"}), ("1.27", {"VCPU", "MEMORY_MB", "DISK_GB"})):
        body = candidates(api, {"resources": "VCPU:1"}, version)
        assert set(body["provider_summaries"][flat["cn1"]]["resources"]) == classes
        assert set(body["provider_summaries"][flat["cn3"]]["resources"]) == (
            classes - {"DISK_GB"})


def test_capacity_counts_reserved_ratio_and_usage(api: Any) -> None:
    rp = provider(api, "cn", {"VCPU": {"total": 4, "reserved": 1, "allocation_ratio": 2.0},
                              "MEMORY_MB": {"total": 1024, "reserved": 512}})
    assert claim(api, new_uuid(), {rp: {"VCPU": 4}}).status_code == 204
    body = candidates(api, {"resources": "VCPU:2,MEMORY_MB:512"})
    assert as_set(body) == spec({rp: {"VCPU": 2, "MEMORY_MB": 512}})
    assert body["provider_summaries"][rp]["resources"] == {
        "VCPU": {"capacity": 6, "used": 4}, "MEMORY_MB": {"capacity": 512, "used": 0}}
    assert as_set(candidates(api, {"resources": "VCPU:3"})) == set()
    assert as_set(candidates(api, {"resources": "MEMORY_MB:513"})) == set()


@SQLITE_ONLY
def test_unit_rules(api: Any) -> None:
    rp = provider(api, "cn", {"VCPU": {"total": 16, "min_unit": 2, "max_unit": 4, "step_size": 2}})
    for asked, fits in [(1, False), (2, True), (3, False), (4, True), (6, False)]:
        want = spec({rp: {"VCPU": asked}}) if fits else set()
        assert as_set(candidates(api, {"resources": f"VCPU:{asked}"})) == want, asked


def test_candidates_follow_allocations_made_in_between(api: Any, flat: dict[str, str]) -> None:
    params = {"resources": "VCPU:4,DISK_GB:10"}
    assert {next(iter(a)) for a in allocations(candidates(api, params))} == {flat["cn1"],
                                                                            flat["cn2"]}
    consumer = new_uuid()
    assert claim(api, consumer, {flat["cn2"]: {"VCPU": 1}}).status_code == 204
    body = candidates(api, params)
    assert as_set(body) == spec({flat["cn1"]: {"VCPU": 4, "DISK_GB": 10}})
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    body = candidates(api, params)
    assert len(body["allocation_requests"]) == 2
    assert body["provider_summaries"][flat["cn2"]]["resources"]["VCPU"] == {"capacity": 4,
                                                                            "used": 0}
    # An inventory change is noticed too.
    api.set_inventory(flat["cn1"], {"VCPU": {"total": 2}, "DISK_GB": {"total": 100}})
    assert as_set(candidates(api, params)) == spec({flat["cn2"]: {"VCPU": 4, "DISK_GB": 10}})


# -- limit (1.16) ---------------------------------------------------------------------------

def test_limit(api: Any, flat: dict[str, str]) -> None:
    body = candidates(api, {"resources": "VCPU:1", "limit": "2"})
    assert len(body["allocation_requests"]) == 2
    used = {rp for a in allocations(body) for rp in a}
    assert set(body["provider_summaries"]) == used
    assert len(candidates(api, {"resources": "VCPU:1", "limit": "10"})["allocation_requests"]) == 3


def test_a_repeated_limit_or_group_policy_takes_its_first_value(
        api: Any, flat: dict[str, str]) -> None:
    # As Placement (allocation-candidates.yaml, granular.yaml; issue 11): the first wins.
    body = candidates(api, [("resources", "VCPU:1"), ("limit", "1"), ("limit", "3")])
    assert len(body["allocation_requests"]) == 1
    body = candidates(api, [("resources", "VCPU:1"), ("limit", "2"), ("limit", "cow")])
    assert len(body["allocation_requests"]) == 2
    groups = [("resources1", "VCPU:2"), ("resources2", "VCPU:2"), ("resources3", "DISK_GB:10")]
    assert as_set(candidates(api, [*groups, ("group_policy", "isolate"),
                                   ("group_policy", "none")], "1.25")) == set()
    assert len(as_set(candidates(api, [*groups, ("group_policy", "none"),
                                       ("group_policy", "isolate")], "1.25"))) == 2


@pytest.mark.parametrize("params,version", [
    ({"resources": "VCPU:1", "limit": "1"}, "1.15"),
    ({"resources": "VCPU:1", "limit": "0"}, "1.16"),
    ({"resources": "VCPU:1", "limit": "-1"}, "1.16"),
    ({"resources": "VCPU:1", "limit": "one"}, "1.16"),
])
@SQLITE_ONLY
def test_bad_limit_is_400(api: Any, params: dict[str, str], version: str) -> None:
    assert_error(api.get(AC, params=params, version=version), 400, version=version)


# -- traits ---------------------------------------------------------------------------------

def test_required_and_forbidden_traits(api: Any, flat: dict[str, str]) -> None:
    put_traits(api, flat["cn2"], ["HW_CPU_X86_SSE"])
    cn1, cn2, cn3 = flat["cn1"], flat["cn2"], flat["cn3"]
    one = {"VCPU": 1}
    assert as_set(candidates(api, {"resources": "VCPU:1", "required": "HW_CPU_X86_AVX2"},
                             "1.17")) == spec({cn1: one})
    assert as_set(candidates(api, {"resources": "VCPU:1", "required": "!HW_CPU_X86_AVX2"},
                             "1.22")) == spec({cn2: one}, {cn3: one})
    assert as_set(candidates(api, {"resources": "VCPU:1",
                                   "required": "in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE"},
                             "1.39")) == spec({cn1: one}, {cn2: one})
    repeated = [("resources", "VCPU:1"), ("required", "in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE"),
                ("required", "!HW_CPU_X86_SSE")]
    assert as_set(candidates(api, repeated, "1.39")) == spec({cn1: one})
    # Before 1.39 only the last 'required' counts.
    assert as_set(candidates(api, [("resources", "VCPU:1"), ("required", "HW_CPU_X86_AVX2"),
                                   ("required", "HW_CPU_X86_SSE")], "1.38")) == spec({cn2: one})


@pytest.mark.parametrize("params,version,code", [
    ({"resources": "VCPU:1", "required": "HW_CPU_X86_AVX2"}, "1.16", BAD),
    ({"resources": "VCPU:1", "required": "!HW_CPU_X86_AVX2"}, "1.21", None),
    ({"resources": "VCPU:1", "required": "in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE"}, "1.38", BAD),
    ({"resources": "VCPU:1", "required": "HW_CPU_X86_AVX2,,HW_CPU_X86_SSE"}, "1.17", None),
    ({"resources": "VCPU:1", "required": ""}, "latest", BAD),
    ({"resources": "VCPU:1", "required": "CUSTOM_NO_SUCH_TRAIT"}, "latest",
     "placement.undefined_code"),
    ({"resources": "VCPU:1", "required": "!CUSTOM_NO_SUCH_TRAIT"}, "latest",
     "placement.undefined_code"),
    ({"resources": "VCPU:1", "required": "HW_CPU_X86_AVX2,!HW_CPU_X86_AVX2"}, "latest", None),
])
@SQLITE_ONLY
def test_bad_required_is_400(api: Any, params: dict[str, str], version: str,
                             code: str | None) -> None:
    r = api.get(AC, params=params, version=version)
    assert r.status_code == 400, r.text
    if code is not None:
        assert_error(r, 400, version=version, code=code)


@SQLITE_ONLY
def test_unknown_trait_is_named(api: Any) -> None:
    assert_error(api.get(AC, params={"resources": "VCPU:1", "required": "CUSTOM_NOPE"}), 400,
                 detail="No such trait(s): CUSTOM_NOPE")


# -- aggregates (member_of 1.21, repeated 1.24, forbidden 1.32) ---------------------------

def test_member_of(api: Any, flat: dict[str, str]) -> None:
    agg_a, agg_b = new_uuid(), new_uuid()
    put_aggregates(api, flat["cn1"], [agg_a])
    put_aggregates(api, flat["cn2"], [agg_a, agg_b])
    cn1, cn2, cn3 = flat["cn1"], flat["cn2"], flat["cn3"]
    one = {"VCPU": 1}

    def found(params: Params, version: str = "latest") -> set[frozenset[tuple[str, str, int]]]:
        return as_set(candidates(api, params, version))

    assert found({"resources": "VCPU:1", "member_of": agg_a}, "1.21") == spec({cn1: one},
                                                                               {cn2: one})
    assert found({"resources": "VCPU:1", "member_of": f"in:{agg_b},{new_uuid()}"},
                 "1.21") == spec({cn2: one})
    both = [("resources", "VCPU:1"), ("member_of", agg_a), ("member_of", agg_b)]
    assert found(both, "1.24") == spec({cn2: one})
    assert found({"resources": "VCPU:1", "member_of": f"!{agg_b}"}, "1.32") == spec(
        {cn1: one}, {cn3: one})
    assert found({"resources": "VCPU:1", "member_of": f"!in:{agg_a},{agg_b}"}, "1.32") == spec(
        {cn3: one})
    # Required and forbidden together: nothing can be in B and not in B.
    assert found([("resources", "VCPU:1"), ("member_of", f"!{agg_b}"),
                  ("member_of", agg_b)], "1.32") == set()


@pytest.mark.parametrize("params,version", [
    ({"member_of": new_uuid()}, "1.20"),
    ([("member_of", new_uuid()), ("member_of", new_uuid())], "1.23"),
    ({"member_of": f"!{new_uuid()}"}, "1.31"),
    ({"member_of": "not-a-uuid"}, "1.21"),
    ({"member_of": f"{new_uuid()},{new_uuid()}"}, "1.21"),
    ({"member_of": "in:"}, "1.21"),
])
@SQLITE_ONLY
def test_bad_member_of_is_400(api: Any, params: Params, version: str) -> None:
    query = ([("resources", "VCPU:1"), *params] if isinstance(params, list)
             else {"resources": "VCPU:1", **params})
    r = api.get(AC, params=query, version=version)
    assert r.status_code == 400, r.text


# -- granular groups (1.25) and string suffixes (1.33) -------------------------------------

def test_numbered_groups_and_group_policy(api: Any, flat: dict[str, str]) -> None:
    cn1, cn2 = flat["cn1"], flat["cn2"]
    # Two VCPU groups and a disk group: with none, both VCPU groups may share a host.
    params = {"resources1": "VCPU:2", "resources2": "VCPU:2", "resources3": "DISK_GB:10",
              "group_policy": "none"}
    assert as_set(candidates(api, params, "1.25")) == spec(
        {cn1: {"VCPU": 4, "DISK_GB": 10}}, {cn2: {"VCPU": 4, "DISK_GB": 10}})
    # With isolate, no single host can serve three groups.
    assert as_set(candidates(api, {**params, "group_policy": "isolate"}, "1.25")) == set()
    # One group needs no policy; the unsuffixed group is not bound by isolate.
    assert as_set(candidates(api, {"resources": "VCPU:1", "resources1": "DISK_GB:10",
                                   "group_policy": "isolate"}, "1.25")) == spec(
        {cn1: {"VCPU": 1, "DISK_GB": 10}}, {cn2: {"VCPU": 1, "DISK_GB": 10}})
    assert as_set(candidates(api, {"resources1": "DISK_GB:60"}, "1.25")) == spec(
        {cn1: {"DISK_GB": 60}})


def test_granular_traits_are_per_group(api: Any, flat: dict[str, str]) -> None:
    params = {"resources1": "VCPU:1", "required1": "HW_CPU_X86_AVX2",
              "resources2": "MEMORY_MB:512", "required2": "!HW_CPU_X86_AVX2",
              "group_policy": "none"}
    assert as_set(candidates(api, params)) == set()
    params["required2"] = "HW_CPU_X86_AVX2"
    assert as_set(candidates(api, params)) == spec({flat["cn1"]: {"VCPU": 1, "MEMORY_MB": 512}})


@SQLITE_ONLY
def test_group_policy_is_required_with_two_suffixed_groups(api: Any) -> None:
    r = api.get(AC, params={"resources1": "VCPU:1", "resources2": "DISK_GB:1"})
    assert_error(r, 400, code=MISSING, detail='"group_policy" parameter is required')
    r = api.get(AC, params={"resources1": "VCPU:1", "resources2": "DISK_GB:1",
                            "group_policy": "sometimes"})
    assert_error(r, 400, code=BAD)


def test_string_suffixes_from_1_33(api: Any, flat: dict[str, str]) -> None:
    params = {"resources_CPU": "VCPU:1", "resources_DISK-1": "DISK_GB:10",
              "required_CPU": "HW_CPU_X86_AVX2", "group_policy": "none"}
    assert_error(api.get(AC, params=params, version="1.32"), 400, version="1.32", code=BAD,
                 detail="resources_CPU")
    assert as_set(candidates(api, params, "1.33")) == spec(
        {flat["cn1"]: {"VCPU": 1, "DISK_GB": 10}})


@pytest.mark.parametrize("key,version", [
    ("resources1", "1.24"), ("resources_A", "1.32"), ("resources0", "1.25"),
    ("resources_" + "x" * 65, "latest"), ("resources_a.b", "latest"), ("bogus", "latest"),
    ("in_tree", "1.30"), ("root_required", "1.34"), ("same_subtree", "1.35"),
    ("group_policy", "1.24"), ("limit", "1.15"), ("required", "1.16"), ("member_of", "1.20"),
])
@SQLITE_ONLY
def test_parameters_unknown_at_the_microversion_are_400(api: Any, key: str,
                                                        version: str) -> None:
    r = api.get(AC, params={"resources": "VCPU:1", key: "x"}, version=version)
    assert_error(r, 400, version=version, code=BAD, detail=key)


# -- mappings (1.34) ------------------------------------------------------------------------

def test_mappings_name_the_providers_of_each_group(api: Any, numa: dict[str, str]) -> None:
    params = {"resources": "VCPU:1", "resources_NET": "SRIOV_NET_VF:1",
              "required_NET": "CUSTOM_PHYSNET1"}
    assert all("mappings" not in ar
               for ar in candidates(api, params, "1.33")["allocation_requests"])
    body = candidates(api, params, "1.34")
    got = {(frozenset(ar["allocations"]), tuple(ar["mappings"][""]),
            tuple(ar["mappings"]["_NET"])) for ar in body["allocation_requests"]}
    pf0 = numa["pf0"]
    assert got == {(frozenset({numa["numa0"], pf0}), (numa["numa0"],), (pf0,)),
                   (frozenset({numa["numa1"], pf0}), (numa["numa1"],), (pf0,))}


def test_groups_swapped_between_providers_are_two_candidates_from_1_34(
        api: Any, numa: dict[str, str]) -> None:
    params = {"resources1": "VCPU:1", "resources2": "VCPU:1", "group_policy": "isolate"}
    body = candidates(api, params, "1.34")
    assert sorted((ar["mappings"]["1"], ar["mappings"]["2"])
                  for ar in body["allocation_requests"]) == sorted(
        [([numa["numa0"]], [numa["numa1"]]), ([numa["numa1"]], [numa["numa0"]])])
    # Without mappings the two would look the same: corral shows it once.
    assert as_set(candidates(api, params, "1.33")) == spec(
        {numa["numa0"]: {"VCPU": 1}, numa["numa1"]: {"VCPU": 1}})


# -- nested providers (1.29) ----------------------------------------------------------------

def test_unsuffixed_group_spreads_over_a_tree_from_1_29(api: Any, numa: dict[str, str]) -> None:
    n0, n1, pf0 = numa["numa0"], numa["numa1"], numa["pf0"]
    body = candidates(api, {"resources": "VCPU:1,MEMORY_MB:512"}, "1.29")
    assert as_set(body) == spec(
        {n0: {"VCPU": 1, "MEMORY_MB": 512}}, {n1: {"VCPU": 1, "MEMORY_MB": 512}},
        {n0: {"VCPU": 1}, n1: {"MEMORY_MB": 512}}, {n1: {"VCPU": 1}, n0: {"MEMORY_MB": 512}})
    # Every provider of the tree is summarised, with its place in it.
    summaries = body["provider_summaries"]
    assert set(summaries) == set(numa.values())
    assert summaries[numa["cn"]] == {"resources": {}, "traits": ["COMPUTE_VOLUME_MULTI_ATTACH"],
                                     "parent_provider_uuid": None,
                                     "root_provider_uuid": numa["cn"]}
    assert summaries[pf0] == {"resources": {"SRIOV_NET_VF": {"capacity": 8, "used": 0}},
                              "traits": ["CUSTOM_PHYSNET1"], "parent_provider_uuid": n0,
                              "root_provider_uuid": numa["cn"]}
    assert as_set(candidates(api, {"resources": "VCPU:1,SRIOV_NET_VF:2"})) == spec(
        {n0: {"VCPU": 1}, pf0: {"SRIOV_NET_VF": 2}}, {n1: {"VCPU": 1}, pf0: {"SRIOV_NET_VF": 2}})


def test_before_1_29_a_candidate_uses_one_provider_per_tree(api: Any,
                                                            numa: dict[str, str]) -> None:
    n0, n1, pf0 = numa["numa0"], numa["numa1"], numa["pf0"]
    body = candidates(api, {"resources": "VCPU:1,MEMORY_MB:512"}, "1.28")
    assert as_set(body) == spec({n0: {"VCPU": 1, "MEMORY_MB": 512}},
                                {n1: {"VCPU": 1, "MEMORY_MB": 512}})
    assert set(body["provider_summaries"]) == {n0, n1}
    assert all(set(s) == {"resources", "traits"} for s in body["provider_summaries"].values())
    # A child alone may serve (Placement's gabbi: "only nested provider old microversion")...
    assert as_set(candidates(api, {"resources": "SRIOV_NET_VF:1"}, "1.28")) == spec(
        {pf0: {"SRIOV_NET_VF": 1}})
    # ...but not together with another provider of its tree.
    assert as_set(candidates(api, {"resources": "VCPU:1,SRIOV_NET_VF:1"}, "1.28")) == set()


def test_unsuffixed_traits_are_judged_on_the_providers_that_serve(api: Any,
                                                                  numa: dict[str, str]) -> None:
    n0, pf0 = numa["numa0"], numa["pf0"]
    # The trait on the resourceless root does not count for the unsuffixed group...
    assert as_set(candidates(api, {"resources": "VCPU:1",
                                   "required": "COMPUTE_VOLUME_MULTI_ATTACH"})) == set()
    # ...a trait of any provider serving it does.
    assert as_set(candidates(api, {"resources": "VCPU:1,SRIOV_NET_VF:1",
                                   "required": "CUSTOM_PHYSNET1"})) == spec(
        {n0: {"VCPU": 1}, pf0: {"SRIOV_NET_VF": 1}},
        {numa["numa1"]: {"VCPU": 1}, pf0: {"SRIOV_NET_VF": 1}})
    assert as_set(candidates(api, {"resources": "VCPU:1,SRIOV_NET_VF:1",
                                   "required": "!HW_NUMA_ROOT"})) == set()


def test_member_of_on_the_root_covers_the_tree_for_the_unsuffixed_group_only(
        api: Any, numa: dict[str, str]) -> None:
    agg = new_uuid()
    put_aggregates(api, numa["cn"], [agg])
    assert as_set(candidates(api, {"resources": "SRIOV_NET_VF:1", "member_of": agg})) == spec(
        {numa["pf0"]: {"SRIOV_NET_VF": 1}})
    assert as_set(candidates(api, {"resources1": "SRIOV_NET_VF:1", "member_of1": agg})) == set()


def test_groups_sharing_a_provider_must_fit_it_together(api: Any) -> None:
    rp = provider(api, "cn", {"VCPU": {"total": 8, "max_unit": 2}})
    params = {"resources1": "VCPU:2", "resources2": "VCPU:2", "group_policy": "none"}
    # 4 VCPU on one provider is one allocation over max_unit: it could not be claimed.
    assert as_set(candidates(api, params)) == set()
    params = {"resources1": "VCPU:1", "resources2": "VCPU:1", "group_policy": "none"}
    assert as_set(candidates(api, params)) == spec({rp: {"VCPU": 2}})


# -- sharing providers ----------------------------------------------------------------------

@pytest.fixture
def shared(api: Any, flat: dict[str, str]) -> dict[str, str]:
    """cn3 (no disk) and a sharing disk in aggregate A; an untagged disk in A too."""
    agg = new_uuid()
    put_aggregates(api, flat["cn3"], [agg])
    ss = provider(api, "ss", {"DISK_GB": 1000}, traits=["MISC_SHARES_VIA_AGGREGATE"],
                  aggregates=[agg])
    plain = provider(api, "plain-disk", {"DISK_GB": 1000}, aggregates=[agg])
    lonely = provider(api, "lonely-ss", {"DISK_GB": 1000}, traits=["MISC_SHARES_VIA_AGGREGATE"])
    return {**flat, "agg": agg, "ss": ss, "plain": plain, "lonely": lonely}


def test_sharing_provider_serves_trees_in_its_aggregate(api: Any, shared: dict[str, str]) -> None:
    cn1, cn2, cn3, ss = shared["cn1"], shared["cn2"], shared["cn3"], shared["ss"]
    body = candidates(api, {"resources": "VCPU:1,DISK_GB:10"})
    assert as_set(body) == spec({cn1: {"VCPU": 1, "DISK_GB": 10}},
                                {cn2: {"VCPU": 1, "DISK_GB": 10}},
                                {cn3: {"VCPU": 1}, ss: {"DISK_GB": 10}})
    assert set(body["provider_summaries"]) == {cn1, cn2, cn3, ss}
    mapped = [ar for ar in body["allocation_requests"] if ss in ar["allocations"]]
    assert sorted(mapped[0]["mappings"][""]) == sorted([cn3, ss])


def test_sharing_provider_alone_is_listed_once(api: Any, shared: dict[str, str]) -> None:
    disk = {"DISK_GB": 500}
    assert as_set(candidates(api, {"resources": "DISK_GB:500"})) == spec(
        {shared["ss"]: disk}, {shared["plain"]: disk}, {shared["lonely"]: disk})


def test_sharing_provider_in_a_granular_group(api: Any, shared: dict[str, str]) -> None:
    params = {"resources": "VCPU:1", "resources_DISK": "DISK_GB:500", "group_policy": "isolate"}
    assert as_set(candidates(api, params)) == spec(
        {shared["cn3"]: {"VCPU": 1}, shared["ss"]: {"DISK_GB": 500}})


def test_sharing_provider_member_of_is_its_own(api: Any, shared: dict[str, str]) -> None:
    other = new_uuid()
    put_aggregates(api, shared["cn3"], [shared["agg"], other])
    params = {"resources": "VCPU:1,DISK_GB:10", "member_of": other}
    assert as_set(candidates(api, params)) == set()


# -- in_tree (1.31) ---------------------------------------------------------------------------

def test_in_tree(api: Any, numa: dict[str, str], shared: dict[str, str]) -> None:
    n0, n1 = numa["numa0"], numa["numa1"]
    for anchor in (numa["cn"], numa["pf0"]):
        assert as_set(candidates(api, {"resources": "VCPU:4", "in_tree": anchor})) == spec(
            {n0: {"VCPU": 4}}, {n1: {"VCPU": 4}})
    assert as_set(candidates(api, {"resources": "VCPU:1", "in_tree": new_uuid()})) == set()
    # in_tree keeps sharing providers out.
    assert as_set(candidates(api, {"resources": "VCPU:1,DISK_GB:10",
                                   "in_tree": shared["cn3"]})) == set()
    # A suffixed in_tree binds its group only.
    params = {"resources_A": "VCPU:1", "in_tree_A": shared["cn2"], "resources_B": "VCPU:1",
              "in_tree_B": shared["cn1"], "group_policy": "none"}
    assert as_set(candidates(api, params)) == set()
    params["in_tree_B"] = shared["cn2"]
    assert as_set(candidates(api, params)) == spec({shared["cn2"]: {"VCPU": 2}})


@SQLITE_ONLY
def test_in_tree_must_be_a_uuid(api: Any) -> None:
    r = api.get(AC, params={"resources": "VCPU:1", "in_tree": "life-is-beautiful"})
    assert_error(r, 400, code=BAD, detail="Expected 'in_tree' parameter to be a format of uuid")


# -- root_required (1.35) -------------------------------------------------------------------

def test_root_required(api: Any, numa: dict[str, str], flat: dict[str, str]) -> None:
    n0, n1 = numa["numa0"], numa["numa1"]
    params = {"resources": "VCPU:4", "root_required": "COMPUTE_VOLUME_MULTI_ATTACH"}
    assert as_set(candidates(api, params)) == spec({n0: {"VCPU": 4}}, {n1: {"VCPU": 4}})
    params["root_required"] = "!COMPUTE_VOLUME_MULTI_ATTACH,!HW_CPU_X86_AVX2"
    assert as_set(candidates(api, params)) == spec({flat["cn2"]: {"VCPU": 4}},
                                                   {flat["cn3"]: {"VCPU": 4}})
    # A trait on a child is not a root trait.
    params["root_required"] = "HW_NUMA_ROOT"
    assert as_set(candidates(api, params)) == set()


@pytest.mark.parametrize("values,code,detail", [
    (["HW_CPU_X86_AVX2,!HW_CPU_X86_AVX2"], BAD, "Conflicting required and forbidden"),
    (["HW_CPU_X86_AVX2", "!HW_NUMA_ROOT"], "placement.query.duplicate_key", "only once"),
    (["CUSTOM_NO_SUCH"], "placement.undefined_code", "CUSTOM_NO_SUCH"),
    (["in:HW_CPU_X86_AVX2,HW_NUMA_ROOT"], BAD, "root_required"),
    ([""], BAD, "root_required"),
])
@SQLITE_ONLY
def test_bad_root_required_is_400(api: Any, values: list[str], code: str, detail: str) -> None:
    params = [("resources", "VCPU:1")] + [("root_required", v) for v in values]
    assert_error(api.get(AC, params=params), 400, code=code, detail=detail)


# -- same_subtree and resourceless groups (1.36) ---------------------------------------------

@pytest.fixture
def two_nics(api: Any, numa: dict[str, str]) -> dict[str, str]:
    """numa1 gets a NIC of its own: pf1 (8 SRIOV_NET_VF, CUSTOM_PHYSNET1)."""
    pf1 = provider(api, "pf1", {"SRIOV_NET_VF": 8}, parent=numa["numa1"],
                   traits=["CUSTOM_PHYSNET1"])
    return {**numa, "pf1": pf1}


def test_same_subtree_keeps_groups_under_one_numa_node(api: Any,
                                                       two_nics: dict[str, str]) -> None:
    n0, n1, pf0, pf1 = (two_nics[k] for k in ("numa0", "numa1", "pf0", "pf1"))
    params = {"resources_CPU": "VCPU:1", "resources_NET": "SRIOV_NET_VF:1",
              "required_NUMA": "HW_NUMA_ROOT", "group_policy": "none"}
    assert len(candidates(api, {k: v for k, v in params.items() if k != "required_NUMA"}
                          )["allocation_requests"]) == 4
    body = candidates(api, {**params, "same_subtree": "_CPU,_NET,_NUMA"})
    got = {(frozenset((rp, rc, n) for rp, a in ar["allocations"].items()
                      for rc, n in a["resources"].items()),
            tuple(ar["mappings"]["_NUMA"])) for ar in body["allocation_requests"]}
    assert got == {
        (frozenset({(n0, "VCPU", 1), (pf0, "SRIOV_NET_VF", 1)}), (n0,)),
        (frozenset({(n1, "VCPU", 1), (pf1, "SRIOV_NET_VF", 1)}), (n1,)),
    }
    # The resourceless group's provider is summarised but holds nothing.
    assert set(body["provider_summaries"]) == set(two_nics.values())


def test_same_subtree_without_a_resourceless_group(api: Any, two_nics: dict[str, str]) -> None:
    params = {"resources_CPU": "VCPU:1", "resources_NET": "SRIOV_NET_VF:1",
              "group_policy": "none", "same_subtree": "_NET,_CPU"}
    assert as_set(candidates(api, params)) == spec(
        {two_nics["numa0"]: {"VCPU": 1}, two_nics["pf0"]: {"SRIOV_NET_VF": 1}},
        {two_nics["numa1"]: {"VCPU": 1}, two_nics["pf1"]: {"SRIOV_NET_VF": 1}})


@SQLITE_ONLY
def test_same_subtree_counts_resourceless_groups_for_group_policy(api: Any) -> None:
    r = api.get(AC, params={"resources_CPU": "VCPU:1", "required_NUMA": "HW_NUMA_ROOT",
                            "same_subtree": "_CPU,_NUMA"})
    assert_error(r, 400, code=MISSING, detail="group_policy")


@pytest.mark.parametrize("params,version,code,detail", [
    ({"resources_CPU": "VCPU:1", "required_NUMA": "HW_NUMA_ROOT", "group_policy": "none"},
     "latest", BAD, "bad group(s) - ['_NUMA']"),
    ({"resources_CPU": "VCPU:1", "member_of_NUMA": new_uuid(), "group_policy": "none"},
     "latest", BAD, "bad group(s) - ['_NUMA']"),
    ({"resources_CPU": "VCPU:1", "in_tree_NUMA": new_uuid(), "group_policy": "none"},
     "latest", BAD, "bad group(s) - ['_NUMA']"),
    ({"resources_CPU": "VCPU:1", "required": "HW_NUMA_ROOT"}, "latest", BAD,
     "bad group(s) - ['']"),
    ({"required_NUMA": "HW_NUMA_ROOT", "same_subtree": "_NUMA"}, "latest", MISSING,
     "There must be at least one resources"),
    ({"resources_CPU": "VCPU:1", "same_subtree": "_CPU,_GPU"}, "latest", BAD,
     "Real suffixes should be specified in `same_subtree`"),
    ({"resources_CPU": "VCPU:1", "same_subtree": "_CPU,"}, "latest", BAD,
     "Empty string (unsuffixed group) can not be specified"),
    ({"resources_CPU": "VCPU:1", "same_subtree": "_CPU"}, "1.35", BAD, "same_subtree"),
    # Before 1.36 every group needs resources.
    ({"resources_CPU": "VCPU:1", "required_NUMA": "HW_NUMA_ROOT", "group_policy": "none"},
     "1.35", "placement.undefined_code", "orphaned traits keys: required_NUMA"),
    ({"resources": "VCPU:1", "member_of1": new_uuid(), "group_policy": "none"},
     "1.35", "placement.undefined_code", "orphaned member_of keys: member_of1"),
    ({"resources": "VCPU:1", "in_tree1": new_uuid(), "group_policy": "none"},
     "1.35", "placement.undefined_code", "All request groups must specify resources"),
    ({"required": "HW_NUMA_ROOT", "member_of": new_uuid()}, "1.35",
     "placement.undefined_code", "orphaned traits keys: required"),
])
@SQLITE_ONLY
def test_resourceless_and_same_subtree_errors(api: Any, params: dict[str, str], version: str,
                                              code: str, detail: str) -> None:
    assert_error(api.get(AC, params=params, version=version), 400, version=version, code=code,
                 detail=detail)


# -- resources syntax and names ---------------------------------------------------------------

@pytest.mark.parametrize("value,code", [
    ("VCPU", BAD), ("VCPU:", BAD), ("VCPU:0", BAD), ("VCPU:-1", BAD), ("VCPU:one", BAD),
    ("", BAD), ("VCPU:1,", BAD), ("vcpu:1", BAD), ("VCPU:1:2", BAD),
    ("VCPU:1,VCPU:2", "placement.query.duplicate_key"),
])
@SQLITE_ONLY
def test_bad_resources_are_400(api: Any, value: str, code: str) -> None:
    assert_error(api.get(AC, params={"resources": value}), 400, code=code)


@SQLITE_ONLY
def test_unknown_resource_class_is_400(api: Any) -> None:
    assert_error(api.get(AC, params={"resources": "VCPU:1,CUSTOM_NOPE:1"}), 400,
                 detail="CUSTOM_NOPE")


@pytest.mark.parametrize("version", ["1.10", "1.25", "latest"])
@SQLITE_ONLY
def test_a_request_needs_resources(api: Any, version: str) -> None:
    r = api.get(AC, params={}, version=version)
    assert r.status_code == 400


# -- a candidate can be claimed ------------------------------------------------------------

def test_every_candidate_can_be_claimed(api: Any, two_nics: dict[str, str],
                                        shared: dict[str, str]) -> None:
    put_aggregates(api, two_nics["cn"], [shared["agg"]])
    params = {"resources": "VCPU:1,DISK_GB:10", "resources_NET": "SRIOV_NET_VF:2",
              "required_NET": "CUSTOM_PHYSNET1", "group_policy": "none"}
    body = candidates(api, params)
    assert len(body["allocation_requests"]) == 4  # 2 NUMA x (pf0 | pf1) x the sharing disk
    for ar in body["allocation_requests"]:
        consumer = new_uuid()
        r = claim(api, consumer, {rp: a["resources"] for rp, a in ar["allocations"].items()},
                  mappings=ar["mappings"])
        assert r.status_code == 204, r.text
        assert api.delete(f"/allocations/{consumer}").status_code == 204
    # Claim the first for real: the next query sees it.
    first = body["allocation_requests"][0]
    assert claim(api, new_uuid(), {rp: a["resources"] for rp, a in first["allocations"].items()}
                 ).status_code == 204
    after = candidates(api, params)["provider_summaries"]
    for rp, a in first["allocations"].items():
        for rc, n in a["resources"].items():
            assert after[rp]["resources"][rc]["used"] == n


def test_summary_lists_standard_traits_before_custom_ones(api: Any) -> None:
    # As Placement, whose database holds the standard catalogue before any custom trait
    # (allocation-candidates-root-required.yaml, issue 11); by name within each kind.
    rp = provider(api, "cn", {"VCPU": 4},
                  traits=["CUSTOM_A", "HW_NUMA_ROOT", "CUSTOM_Z", "HW_CPU_X86_AVX2"])
    body = candidates(api, {"resources": "VCPU:1"})
    assert body["provider_summaries"][rp]["traits"] == [
        "HW_CPU_X86_AVX2", "HW_NUMA_ROOT", "CUSTOM_A", "CUSTOM_Z"]
