"""/allocations/{consumer}, POST /allocations and a provider's allocations and usages.

Microversions that change the contract: list body (1.0), project and user required
(1.8), dict body (1.12), POST for several consumers (1.13), cache headers (1.15),
error codes (1.23), consumer generations and empty allocations (1.28), mappings
accepted (1.34), consumer types (1.38).
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import assert_cache_headers, assert_error, generation, new_uuid

INCOMPLETE = "00000000-0000-0000-0000-000000000000"
CONFLICT = "placement.concurrent_update"


#: For answers that do not depend on the database (parsing, validation, policy): one
#: backend is enough, and keeps the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

# -- building blocks ------------------------------------------------------------------------

def make_provider(api: Any, name: str = "cn", **inventories: dict[str, Any]) -> str:
    uuid: str = api.create_provider(name)["uuid"]
    api.set_inventory(uuid, inventories or {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096},
                                            "DISK_GB": {"total": 100}})
    return uuid


def body(allocations: dict[str, dict[str, int]], *, generation: int | None | str = "omit",
         ctype: str | None = None, project: str = "proj", user: str = "user",
         **extra: Any) -> dict[str, Any]:
    """A dict-format (1.12+) body; ``generation`` "omit" leaves consumer_generation out."""
    out: dict[str, Any] = {
        "allocations": {rp: {"resources": res} for rp, res in allocations.items()},
        "project_id": project, "user_id": user, **extra}
    if generation != "omit":
        out["consumer_generation"] = generation
    if ctype is not None:
        out["consumer_type"] = ctype
    return out


def list_body(allocations: dict[str, dict[str, int]], **extra: Any) -> dict[str, Any]:
    """A list-format (1.0-1.11) body."""
    return {"allocations": [{"resource_provider": {"uuid": rp}, "resources": res}
                            for rp, res in allocations.items()], **extra}


def claim(api: Any, consumer: str, allocations: dict[str, dict[str, int]],
          generation: int | None = None, ctype: str = "INSTANCE", **kw: Any) -> Any:
    """PUT at the latest microversion."""
    return api.put(f"/allocations/{consumer}",
                   json=body(allocations, generation=generation, ctype=ctype, **kw))


def held(api: Any, consumer: str, version: str = "latest") -> dict[str, Any]:
    r = api.get(f"/allocations/{consumer}", version=version)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def usages(api: Any, rp: str) -> dict[str, int]:
    r = api.get(f"/resource_providers/{rp}/usages")
    assert r.status_code == 200, r.text
    out: dict[str, int] = r.json()["usages"]
    return out


@pytest.fixture
def rp(api: Any) -> str:
    return make_provider(api)


# -- GET /allocations/{consumer} ----------------------------------------------------------

@pytest.mark.parametrize("version", ["1.0", "1.12", "1.28", "latest"])
@SQLITE_ONLY
def test_unknown_consumer_has_empty_allocations(api: Any, version: str) -> None:
    r = api.get(f"/allocations/{new_uuid()}", version=version)
    assert r.status_code == 200
    assert r.json() == {"allocations": {}}


@pytest.mark.parametrize("version,present", [("1.14", False), ("1.15", True)])
@SQLITE_ONLY
def test_consumer_allocations_cache_headers_from_1_15(api: Any, rp: str, version: str,
                                                      present: bool) -> None:
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    assert_cache_headers(api.get(f"/allocations/{consumer}", version=version), present)
    assert_cache_headers(api.get(f"/resource_providers/{rp}/allocations", version=version),
                         present)


@SQLITE_ONLY
def test_malformed_consumer_uuid_reads_as_no_allocations(api: Any) -> None:
    # Placement cannot validate a consumer id on read: it answers with nothing held.
    r = api.get("/allocations/not-a-uuid")
    assert r.status_code == 200
    assert r.json() == {"allocations": {}}


# -- PUT, list format (1.0-1.11) ----------------------------------------------------------

def test_put_list_format_at_1_0(api: Any, rp: str) -> None:
    consumer = new_uuid()
    r = api.put(f"/allocations/{consumer}", version="1.0",
                json=list_body({rp: {"VCPU": 2, "DISK_GB": 10}}))
    assert r.status_code == 204
    assert r.content == b""
    gen = generation(api, rp)
    assert held(api, consumer, "1.0") == {
        "allocations": {rp: {"generation": gen, "resources": {"VCPU": 2, "DISK_GB": 10}}}}
    # Written before 1.8: the consumer belongs to the "incomplete" project and user.
    shown = held(api, consumer, "1.12")
    assert (shown["project_id"], shown["user_id"]) == (INCOMPLETE, INCOMPLETE)


@pytest.mark.parametrize("version", ["1.0", "1.7"])
@SQLITE_ONLY
def test_list_format_refuses_project_and_user_before_1_8(api: Any, rp: str, version: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version=version,
                json=list_body({rp: {"VCPU": 1}}, project_id="p", user_id="u"))
    assert_error(r, 400, version=version, detail="project_id")


@pytest.mark.parametrize("missing", ["project_id", "user_id"])
@SQLITE_ONLY
def test_list_format_requires_project_and_user_from_1_8(api: Any, rp: str, missing: str) -> None:
    data = list_body({rp: {"VCPU": 1}}, project_id="p", user_id="u")
    del data[missing]
    r = api.put(f"/allocations/{new_uuid()}", version="1.8", json=data)
    assert_error(r, 400, version="1.8", detail=missing)


@pytest.mark.parametrize("field,value", [("project_id", ""), ("user_id", ""),
                                         ("project_id", "x" * 256), ("user_id", "x" * 256)])
@SQLITE_ONLY
def test_project_and_user_length_is_checked(api: Any, rp: str, field: str, value: str) -> None:
    data = list_body({rp: {"VCPU": 1}}, project_id="p", user_id="u")
    data[field] = value
    assert_error(api.put(f"/allocations/{new_uuid()}", version="1.8", json=data), 400,
                 version="1.8", detail=field)


def test_put_list_format_with_owner_at_1_8(api: Any, rp: str) -> None:
    consumer = new_uuid()
    r = api.put(f"/allocations/{consumer}", version="1.8",
                json=list_body({rp: {"VCPU": 1}}, project_id="p", user_id="u"))
    assert r.status_code == 204
    shown = held(api, consumer, "1.12")
    assert (shown["project_id"], shown["user_id"]) == ("p", "u")
    assert "consumer_generation" not in shown


@pytest.mark.parametrize("version,data", [
    ("1.0", {"allocations": []}),
    ("1.0", {}),
    ("1.0", {"allocations": [{"resources": {"VCPU": 1}}]}),
    ("1.0", {"allocations": [{"resource_provider": {"uuid": "not-a-uuid"},
                              "resources": {"VCPU": 1}}]}),
    ("1.11", {"allocations": {new_uuid(): {"resources": {"VCPU": 1}}},
              "project_id": "p", "user_id": "u"}),
])
@SQLITE_ONLY
def test_bad_list_bodies_are_400(api: Any, version: str, data: dict[str, Any]) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version=version, json=data)
    assert_error(r, 400, version=version, detail="JSON does not validate")


@pytest.mark.parametrize("amount", [0, -1, "1", 1.5])
@SQLITE_ONLY
def test_amount_must_be_a_positive_integer(api: Any, rp: str, amount: Any) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.0",
                json=list_body({rp: {"VCPU": amount}}))
    assert_error(r, 400, version="1.0")


# -- PUT, dict format (1.12+) -------------------------------------------------------------

def test_put_dict_format_at_1_12(api: Any, rp: str) -> None:
    consumer = new_uuid()
    data = body({rp: {"VCPU": 1, "MEMORY_MB": 512}})
    data["allocations"][rp]["generation"] = 5  # tolerated and ignored, as in Placement
    assert api.put(f"/allocations/{consumer}", version="1.12", json=data).status_code == 204
    assert held(api, consumer, "1.12") == {
        "allocations": {rp: {"generation": generation(api, rp),
                             "resources": {"VCPU": 1, "MEMORY_MB": 512}}},
        "project_id": "proj", "user_id": "user"}


@pytest.mark.parametrize("version", ["1.12", "1.27"])
@SQLITE_ONLY
def test_dict_format_needs_an_allocation_before_1_28(api: Any, version: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version=version, json=body({}))
    assert_error(r, 400, version=version)


@SQLITE_ONLY
def test_list_format_is_refused_from_1_12(api: Any, rp: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.12",
                json=list_body({rp: {"VCPU": 1}}, project_id="p", user_id="u"))
    assert_error(r, 400, version="1.12")


@pytest.mark.parametrize("extra", [{"bogus": 1}, {"consumer_generation": None}])
@SQLITE_ONLY
def test_dict_format_refuses_unknown_fields_at_1_12(api: Any, rp: str,
                                                    extra: dict[str, Any]) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.12", json=body({rp: {"VCPU": 1}}, **extra))
    assert_error(r, 400, version="1.12")


def test_dashless_consumer_uuid_is_the_same_consumer(api: Any, rp: str) -> None:
    consumer = new_uuid()
    r = api.put(f"/allocations/{consumer.replace('-', '')}", version="1.12",
                json=body({rp: {"VCPU": 1}}))
    assert r.status_code == 204
    assert held(api, consumer)["allocations"][rp]["resources"] == {"VCPU": 1}


@SQLITE_ONLY
def test_malformed_consumer_uuid_is_400_on_write(api: Any, rp: str) -> None:
    r = claim(api, "not-a-uuid", {rp: {"VCPU": 1}})
    assert_error(r, 400, detail="Malformed consumer_uuid: not-a-uuid")


def test_rewriting_replaces_what_the_consumer_held(api: Any, rp: str) -> None:
    consumer = new_uuid()
    other = make_provider(api, "other")
    assert claim(api, consumer, {rp: {"VCPU": 4, "DISK_GB": 10}}).status_code == 204
    assert claim(api, consumer, {other: {"VCPU": 2}}, generation=1).status_code == 204
    assert set(held(api, consumer)["allocations"]) == {other}
    assert usages(api, rp) == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    assert usages(api, other)["VCPU"] == 2


# -- consumer generations (1.28) ----------------------------------------------------------

@SQLITE_ONLY
def test_consumer_generation_is_required_from_1_28(api: Any, rp: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.28", json=body({rp: {"VCPU": 1}}))
    assert_error(r, 400, version="1.28", detail="consumer_generation")


def test_new_consumer_must_be_written_with_null_generation(api: Any, rp: str) -> None:
    consumer = new_uuid()
    r = api.put(f"/allocations/{consumer}", version="1.28",
                json=body({rp: {"VCPU": 1}}, generation=0))
    assert_error(r, 409, code=CONFLICT, detail="expected null but got 0")
    assert held(api, consumer) == {"allocations": {}}


def test_consumer_generation_lifecycle(api: Any, rp: str) -> None:
    consumer = new_uuid()
    url = f"/allocations/{consumer}"
    assert api.put(url, version="1.28", json=body({rp: {"VCPU": 1}}, generation=None)
                   ).status_code == 204
    shown = held(api, consumer, "1.28")
    assert shown["consumer_generation"] == 1
    assert "consumer_type" not in shown

    # A writer that thinks the consumer is new, or saw an old generation, loses.
    for stale in (None, 0, 2):
        r = api.put(url, version="1.28", json=body({rp: {"VCPU": 2}}, generation=stale))
        assert_error(r, 409, code=CONFLICT, detail="consumer generation conflict")
    assert held(api, consumer)["allocations"][rp]["resources"] == {"VCPU": 1}

    assert api.put(url, version="1.28", json=body({rp: {"VCPU": 2}}, generation=1)
                   ).status_code == 204
    assert held(api, consumer)["consumer_generation"] == 2

    # Before 1.28 nothing is checked, but the generation still moves.
    assert api.put(url, version="1.27", json=body({rp: {"VCPU": 3}})).status_code == 204
    assert held(api, consumer)["consumer_generation"] == 3


def test_empty_allocations_delete_the_consumer(api: Any, rp: str) -> None:
    consumer = new_uuid()
    url = f"/allocations/{consumer}"
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    before = generation(api, rp)
    assert_error(api.put(url, version="1.28", json=body({}, generation=0)), 409, code=CONFLICT)
    assert api.put(url, version="1.28", json=body({}, generation=1)).status_code == 204
    assert held(api, consumer) == {"allocations": {}}
    assert usages(api, rp)["VCPU"] == 0
    assert generation(api, rp) == before + 1
    # The consumer is gone: it is written as new again.
    assert claim(api, consumer, {rp: {"VCPU": 1}}, generation=None).status_code == 204
    assert held(api, consumer)["consumer_generation"] == 1


# -- mappings (1.34) and consumer types (1.38) --------------------------------------------

def test_mappings_are_accepted_from_1_34(api: Any, rp: str) -> None:
    consumer = new_uuid()
    data = body({rp: {"VCPU": 1}}, generation=None, mappings={"_CPU": [rp]})
    assert_error(api.put(f"/allocations/{consumer}", version="1.33", json=data), 400,
                 detail="mappings")
    assert api.put(f"/allocations/{consumer}", version="1.34", json=data).status_code == 204
    assert "mappings" not in held(api, consumer)


@pytest.mark.parametrize("mappings", [{}, {"_CPU": []}, {"_CPU": ["not-a-uuid"]},
                                      {"bad suffix!": [new_uuid()]}])
@SQLITE_ONLY
def test_bad_mappings_are_400(api: Any, rp: str, mappings: dict[str, Any]) -> None:
    data = body({rp: {"VCPU": 1}}, generation=None, mappings=mappings)
    assert_error(api.put(f"/allocations/{new_uuid()}", version="1.34", json=data), 400,
                 version="1.34")


@SQLITE_ONLY
def test_consumer_type_is_required_from_1_38(api: Any, rp: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.38",
                json=body({rp: {"VCPU": 1}}, generation=None))
    assert_error(r, 400, detail="consumer_type")


@pytest.mark.parametrize("ctype", ["instance", "", "A-B", "X" * 256])
@SQLITE_ONLY
def test_consumer_type_must_be_upper_case_words(api: Any, rp: str, ctype: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.38",
                json=body({rp: {"VCPU": 1}}, generation=None, ctype=ctype))
    assert_error(r, 400, detail="consumer_type")


@SQLITE_ONLY
def test_consumer_type_is_refused_before_1_38(api: Any, rp: str) -> None:
    r = api.put(f"/allocations/{new_uuid()}", version="1.37",
                json=body({rp: {"VCPU": 1}}, generation=None, ctype="INSTANCE"))
    assert_error(r, 400, version="1.37", detail="consumer_type")


def test_consumer_type_is_shown_from_1_38(api: Any, rp: str) -> None:
    typed, untyped = new_uuid(), new_uuid()
    assert claim(api, typed, {rp: {"VCPU": 1}}, ctype="MIGRATION").status_code == 204
    assert api.put(f"/allocations/{untyped}", version="1.37",
                   json=body({rp: {"VCPU": 1}}, generation=None)).status_code == 204
    assert held(api, typed) == {
        "allocations": {rp: {"generation": generation(api, rp), "resources": {"VCPU": 1}}},
        "project_id": "proj", "user_id": "user", "consumer_generation": 1,
        "consumer_type": "MIGRATION"}
    assert "consumer_type" not in held(api, typed, "1.37")
    assert held(api, untyped)["consumer_type"] == "unknown"
    # A write below 1.38 keeps the type; a write at 1.38 changes it.
    assert api.put(f"/allocations/{typed}", version="1.37",
                   json=body({rp: {"VCPU": 2}}, generation=1)).status_code == 204
    assert held(api, typed)["consumer_type"] == "MIGRATION"
    assert claim(api, typed, {rp: {"VCPU": 2}}, generation=2, ctype="INSTANCE").status_code == 204
    assert held(api, typed)["consumer_type"] == "INSTANCE"


def test_owner_can_change_on_rewrite(api: Any, rp: str) -> None:
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    assert claim(api, consumer, {rp: {"VCPU": 1}}, generation=1, project="p2",
                 user="u2").status_code == 204
    shown = held(api, consumer)
    assert (shown["project_id"], shown["user_id"]) == ("p2", "u2")


# -- capacity and inventory rules ---------------------------------------------------------

def test_usable_capacity_is_total_minus_reserved_times_ratio(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 10, "reserved": 2, "allocation_ratio": 1.5})
    first, second = new_uuid(), new_uuid()
    assert claim(api, first, {rp: {"VCPU": 12}}).status_code == 204  # (10 - 2) * 1.5
    r = claim(api, second, {rp: {"VCPU": 1}})
    entry = assert_error(r, 409, detail="exceed the capacity")
    for fact in (rp, "VCPU", "asked 1", "0 free"):
        assert fact in entry["detail"], entry["detail"]
    assert held(api, second) == {"allocations": {}}
    assert usages(api, rp) == {"VCPU": 12}


def test_capacity_counts_other_consumers_not_the_consumer_itself(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 4})
    first, second = new_uuid(), new_uuid()
    assert claim(api, first, {rp: {"VCPU": 3}}).status_code == 204
    entry = assert_error(claim(api, second, {rp: {"VCPU": 2}}), 409)
    assert "asked 2" in entry["detail"] and "1 free" in entry["detail"]
    # Rewriting a consumer frees what it held first.
    assert claim(api, first, {rp: {"VCPU": 4}}, generation=1).status_code == 204


@pytest.mark.parametrize("amount,reason", [
    (1, "below min_unit 2"), (8, "above max_unit 6"), (3, "not a multiple of step_size 2"),
])
def test_unit_rules_are_409(api: Any, amount: int, reason: str) -> None:
    rp = make_provider(api, VCPU={"total": 16, "min_unit": 2, "max_unit": 6, "step_size": 2})
    entry = assert_error(claim(api, new_uuid(), {rp: {"VCPU": amount}}), 409,
                         detail="violate inventory constraints")
    assert reason in entry["detail"] and rp in entry["detail"] and "VCPU" in entry["detail"]
    assert claim(api, new_uuid(), {rp: {"VCPU": 6}}).status_code == 204


def test_class_without_inventory_on_the_provider_is_409(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 4})
    entry = assert_error(claim(api, new_uuid(), {rp: {"VCPU": 1, "DISK_GB": 1}}), 409)
    assert "DISK_GB" in entry["detail"] and rp in entry["detail"]
    assert usages(api, rp) == {"VCPU": 0}


def test_unknown_provider_is_400(api: Any, rp: str) -> None:
    ghost = new_uuid()
    consumer = new_uuid()
    r = claim(api, consumer, {rp: {"VCPU": 1}, ghost: {"VCPU": 1}})
    assert_error(r, 400, detail=f"Allocation for resource provider '{ghost}' that does not exist")
    assert usages(api, rp)["VCPU"] == 0


def test_unknown_resource_class_is_400(api: Any, rp: str) -> None:
    assert_error(claim(api, new_uuid(), {rp: {"CUSTOM_NOPE": 1}}), 400, detail="CUSTOM_NOPE")
    assert_error(claim(api, new_uuid(), {rp: {"lower": 1}}), 400)


def test_a_failed_write_keeps_what_the_consumer_held(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 4})
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 2}}).status_code == 204
    assert_error(claim(api, consumer, {rp: {"VCPU": 5}}, generation=1), 409)
    shown = held(api, consumer)
    assert shown["allocations"][rp]["resources"] == {"VCPU": 2}
    assert shown["consumer_generation"] == 1


def test_lowered_capacity_refuses_new_claims_but_keeps_old_ones(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 8})
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 6}}).status_code == 204
    api.set_inventory(rp, {"VCPU": {"total": 4}})
    assert usages(api, rp) == {"VCPU": 6}
    assert_error(claim(api, new_uuid(), {rp: {"VCPU": 1}}), 409, detail="exceed the capacity")
    # As Placement: a write that shrinks the overage is accepted, one that grows it is not.
    assert_error(claim(api, consumer, {rp: {"VCPU": 7}}, generation=1), 409)
    assert claim(api, consumer, {rp: {"VCPU": 5}}, generation=1).status_code == 204
    assert usages(api, rp) == {"VCPU": 5}


# -- provider generations -----------------------------------------------------------------

def test_allocation_writes_move_the_generations_placement_moves(api: Any, rp: str) -> None:
    """As Placement (issue 11, allocations.yaml): a write moves the providers written
    to, once each; emptying a consumer ({}) moves what it held; a DELETE moves none."""
    consumer, other_consumer = new_uuid(), new_uuid()
    gen = generation(api, rp)
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    assert generation(api, rp) == gen + 1
    assert claim(api, consumer, {rp: {"VCPU": 2}}, generation=1).status_code == 204
    assert generation(api, rp) == gen + 2
    # two consumers on one provider in one POST: one step
    assert api.post("/allocations", json={
        consumer: body({rp: {"VCPU": 3}}, generation=2, ctype="INSTANCE"),
        other_consumer: body({rp: {"VCPU": 1}}, generation=None, ctype="INSTANCE"),
    }).status_code == 204
    assert generation(api, rp) == gen + 3
    assert api.put(f"/allocations/{other_consumer}",
                   json=body({}, generation=1, ctype="INSTANCE")).status_code == 204
    assert generation(api, rp) == gen + 4
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    assert generation(api, rp) == gen + 4
    assert usages(api, rp)["VCPU"] == 0
    # A refused write moves nothing.
    assert_error(claim(api, consumer, {rp: {"VCPU": 99}}), 409)
    assert generation(api, rp) == gen + 4


def test_moving_a_consumer_moves_only_where_it_goes(api: Any, rp: str) -> None:
    other = make_provider(api, "other")
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    gens = generation(api, rp), generation(api, other)
    assert claim(api, consumer, {other: {"VCPU": 1}}, generation=1).status_code == 204
    assert (generation(api, rp), generation(api, other)) == (gens[0], gens[1] + 1)
    assert (usages(api, rp)["VCPU"], usages(api, other)["VCPU"]) == (0, 1)


def test_candidates_see_usage_freed_where_no_generation_moved(api: Any, rp: str) -> None:
    # The engine reloads a provider a consumer left, or whose allocations were deleted,
    # although its generation stayed: the whole of it is offered again at once.
    other = make_provider(api, "other")  # both have 8 VCPU
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 8}}).status_code == 204

    def fits_whole() -> set[str]:
        r = api.get("/allocation_candidates", params={"resources": "VCPU:8"})
        return {rp_ for ar in r.json()["allocation_requests"] for rp_ in ar["allocations"]}

    assert fits_whole() == {other}
    assert claim(api, consumer, {other: {"VCPU": 8}}, generation=1).status_code == 204
    assert fits_whole() == {rp}
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    assert fits_whole() == {rp, other}


# -- DELETE -------------------------------------------------------------------------------

def test_delete_allocations(api: Any, rp: str) -> None:
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 2}}).status_code == 204
    r = api.delete(f"/allocations/{consumer}")
    assert r.status_code == 204
    assert r.content == b""
    assert held(api, consumer) == {"allocations": {}}
    assert usages(api, rp)["VCPU"] == 0
    assert_error(api.delete(f"/allocations/{consumer}"), 404,
                 detail=f"No allocations for consumer '{consumer}'")


@pytest.mark.parametrize("consumer", ["7c1b0f0a-3d55-4a34-9d0c-2f5e7a1e9b11", "not-a-uuid"])
@SQLITE_ONLY
def test_delete_unknown_consumer_is_404(api: Any, consumer: str) -> None:
    assert_error(api.delete(f"/allocations/{consumer}"), 404, detail="No allocations for consumer")


@SQLITE_ONLY
def test_allocations_root_only_takes_post(api: Any) -> None:
    r = api.get("/allocations")
    assert_error(r, 405)
    assert r.headers["allow"] == "POST"


# -- POST /allocations (1.13) -------------------------------------------------------------

@SQLITE_ONLY
def test_post_is_404_before_1_13(api: Any, rp: str) -> None:
    r = api.post("/allocations", version="1.12",
                 json={new_uuid(): body({rp: {"VCPU": 1}})})
    assert_error(r, 404, version="1.12")


def test_post_writes_several_consumers(api: Any, rp: str) -> None:
    a, b = new_uuid(), new_uuid()
    r = api.post("/allocations", version="1.13", json={
        a: body({rp: {"VCPU": 1}}), b: body({rp: {"VCPU": 2}}, project="other", user="u2")})
    assert r.status_code == 204
    assert r.content == b""
    assert held(api, a, "1.28") == {
        "allocations": {rp: {"generation": generation(api, rp), "resources": {"VCPU": 1}}},
        "project_id": "proj", "user_id": "user", "consumer_generation": 1}
    assert held(api, b)["project_id"] == "other"
    assert usages(api, rp)["VCPU"] == 3


def test_post_moves_a_consumer_atomically(api: Any) -> None:
    """The migration pattern: the instance moves to the destination; the migration
    consumer takes over the source, in one request."""
    source = make_provider(api, "source", VCPU={"total": 4})
    dest = make_provider(api, "dest", VCPU={"total": 4})
    instance, migration = new_uuid(), new_uuid()
    assert claim(api, instance, {source: {"VCPU": 4}}).status_code == 204
    r = api.post("/allocations", json={
        instance: body({dest: {"VCPU": 4}}, generation=1, ctype="INSTANCE"),
        migration: body({source: {"VCPU": 4}}, generation=None, ctype="MIGRATION")})
    assert r.status_code == 204, r.text
    assert set(held(api, instance)["allocations"]) == {dest}
    assert set(held(api, migration)["allocations"]) == {source}
    assert held(api, migration)["consumer_type"] == "MIGRATION"
    assert (usages(api, source), usages(api, dest)) == ({"VCPU": 4}, {"VCPU": 4})
    # Confirming the move: the migration consumer lets go of the source.
    r = api.post("/allocations", json={
        migration: body({}, generation=1, ctype="MIGRATION")})
    assert r.status_code == 204
    assert held(api, migration) == {"allocations": {}}
    assert usages(api, source) == {"VCPU": 0}


@pytest.mark.parametrize("problem", ["capacity", "generation", "provider", "class"])
def test_post_is_all_or_nothing(api: Any, problem: str) -> None:
    rp = make_provider(api, VCPU={"total": 4})
    settled, fresh, bad = new_uuid(), new_uuid(), new_uuid()
    assert claim(api, settled, {rp: {"VCPU": 1}}).status_code == 204
    gen = generation(api, rp)
    bad_body = {
        "capacity": body({rp: {"VCPU": 4}}, generation=None, ctype="X"),
        "generation": body({rp: {"VCPU": 1}}, generation=3, ctype="X"),
        "provider": body({new_uuid(): {"VCPU": 1}}, generation=None, ctype="X"),
        "class": body({rp: {"CUSTOM_NOPE": 1}}, generation=None, ctype="X"),
    }[problem]
    r = api.post("/allocations", json={
        settled: body({rp: {"VCPU": 2}}, generation=1, ctype="X"),
        fresh: body({rp: {"VCPU": 1}}, generation=None, ctype="X"),
        bad: bad_body})
    status, code = {"capacity": (409, None), "generation": (409, CONFLICT),
                    "provider": (400, None), "class": (400, None)}[problem]
    assert_error(r, status, code=code)
    assert held(api, settled)["allocations"][rp]["resources"] == {"VCPU": 1}
    assert held(api, settled)["consumer_generation"] == 1
    assert held(api, fresh) == {"allocations": {}}
    assert held(api, bad) == {"allocations": {}}
    assert usages(api, rp) == {"VCPU": 1}
    assert generation(api, rp) == gen


def test_post_capacity_counts_every_consumer_of_the_request(api: Any) -> None:
    rp = make_provider(api, VCPU={"total": 4})
    r = api.post("/allocations", json={
        new_uuid(): body({rp: {"VCPU": 3}}, generation=None, ctype="X"),
        new_uuid(): body({rp: {"VCPU": 2}}, generation=None, ctype="X")})
    assert_error(r, 409, detail="exceed the capacity")
    assert usages(api, rp) == {"VCPU": 0}


@pytest.mark.parametrize("version,data", [
    ("1.13", {}),
    ("1.13", []),
    ("1.13", {"not-a-uuid": {"allocations": {}, "project_id": "p", "user_id": "u"}}),
    ("1.13", {new_uuid(): {"allocations": {}, "project_id": "p"}}),
    ("1.28", {new_uuid(): {"allocations": {}, "project_id": "p", "user_id": "u"}}),
    ("1.38", {new_uuid(): {"allocations": {}, "project_id": "p", "user_id": "u",
                           "consumer_generation": None}}),
])
@SQLITE_ONLY
def test_post_bad_bodies_are_400(api: Any, version: str, data: Any) -> None:
    assert_error(api.post("/allocations", version=version, json=data), 400, version=version)


# -- a provider's allocations and usages --------------------------------------------------

def test_provider_allocations_and_usages(api: Any, rp: str) -> None:
    a, b = new_uuid(), new_uuid()
    assert claim(api, a, {rp: {"VCPU": 1, "DISK_GB": 5}}).status_code == 204
    assert claim(api, b, {rp: {"VCPU": 2}}).status_code == 204
    gen = generation(api, rp)
    r = api.get(f"/resource_providers/{rp}/allocations", version="1.27")
    assert r.status_code == 200
    assert r.json() == {"allocations": {a: {"resources": {"VCPU": 1, "DISK_GB": 5}},
                                        b: {"resources": {"VCPU": 2}}},
                        "resource_provider_generation": gen}
    r = api.get(f"/resource_providers/{rp}/usages")
    assert r.status_code == 200
    assert r.json() == {"usages": {"VCPU": 3, "DISK_GB": 5, "MEMORY_MB": 0},
                        "resource_provider_generation": gen}


def test_provider_allocations_show_consumer_generation_from_1_28(api: Any, rp: str) -> None:
    consumer = new_uuid()
    assert claim(api, consumer, {rp: {"VCPU": 1}}).status_code == 204
    r = api.get(f"/resource_providers/{rp}/allocations", version="1.28")
    assert r.json()["allocations"][consumer] == {"resources": {"VCPU": 1},
                                                 "consumer_generation": 1}


@SQLITE_ONLY
def test_unknown_provider_allocations_and_usages_are_404(api: Any) -> None:
    ghost = new_uuid()
    for sub in ("allocations", "usages"):
        assert_error(api.get(f"/resource_providers/{ghost}/{sub}"), 404,
                     code="placement.resource_provider.not_found")


def test_provider_with_allocations_cannot_be_deleted(api: Any, rp: str) -> None:
    assert claim(api, new_uuid(), {rp: {"VCPU": 1}}).status_code == 204
    assert_error(api.delete(f"/resource_providers/{rp}"), 409,
                 code="placement.resource_provider.inuse")


# -- policy -------------------------------------------------------------------------------

@pytest.mark.parametrize("roles,status", [("reader", 403), ("member", 403), ("service", 204),
                                          ("admin", 204)])
@SQLITE_ONLY
def test_writing_allocations_needs_admin_or_service(api: Any, rp: str, roles: str,
                                                    status: int) -> None:
    r = api.put(f"/allocations/{new_uuid()}", headers={"x-auth-token": "u:proj", "x-roles": roles},
                json=body({rp: {"VCPU": 1}}, generation=None, ctype="X"))
    if status == 204:
        assert r.status_code == 204
    else:
        assert_error(r, 403)
