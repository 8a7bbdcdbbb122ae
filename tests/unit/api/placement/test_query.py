"""The query-string grammar: member_of, required and resources."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from corral.api.microversion import Version
from corral.api.placement import query
from corral.domain import codes
from corral.domain.errors import BadQuery

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
C = "33333333-3333-3333-3333-333333333333"
LATEST = Version(1, 39)


def _request(*pairs: tuple[str, str]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                    "query_string": urlencode(pairs).encode()})


# -- member_of ------------------------------------------------------------------------------

@pytest.mark.parametrize("pairs,required,forbidden", [
    ((), (), set()),
    ((("member_of", A),), ({A},), set()),
    ((("member_of", A.replace("-", "").upper()),), ({A},), set()),
    ((("member_of", f"in:{A},{B}"),), ({A, B},), set()),
    ((("member_of", f"in:{A}, {B}"),), ({A, B},), set()),
    ((("member_of", A), ("member_of", f"in:{B},{C}")), ({A}, {B, C}), set()),
    ((("member_of", f"!{A}"),), (), {A}),
    ((("member_of", f"!in:{A},{B}"),), (), {A, B}),
    ((("member_of", f"in:{A},{B}"), ("member_of", f"!{B}")), ({A, B},), {B}),
    ((("member_of", A), ("member_of", f"!{A}")), ({A},), {A}),
])
def test_member_of(pairs: tuple[tuple[str, str], ...], required: tuple[set[str], ...],
                   forbidden: set[str]) -> None:
    got_required, got_forbidden = query.member_of(_request(*pairs), LATEST)
    assert [set(g) for g in got_required] == [set(g) for g in required]
    assert got_forbidden == forbidden


@pytest.mark.parametrize("value", ["nope", f"{A},{B}", f"in:{A},nope", f"!{A},{B}", "in:",
                                   "!", f"!in:{A},", ""])
def test_member_of_refuses(value: str) -> None:
    with pytest.raises(BadQuery) as info:
        query.member_of(_request(("member_of", value)), LATEST)
    assert info.value.code == codes.QUERY_BAD_VALUE


def test_member_of_versions() -> None:
    twice = _request(("member_of", A), ("member_of", B))
    with pytest.raises(BadQuery, match="Multiple member_of"):
        query.member_of(twice, Version(1, 23))
    assert len(query.member_of(twice, Version(1, 24))[0]) == 2
    forbidden = _request(("member_of", f"!{A}"))
    with pytest.raises(BadQuery):
        query.member_of(forbidden, Version(1, 31))
    assert query.member_of(forbidden, Version(1, 32))[1] == {A}


def test_member_of_other_parameter_name() -> None:
    required, _ = query.member_of(_request(("member_of1", A)), LATEST, param="member_of1")
    assert required == (frozenset({A}),)


# -- required -------------------------------------------------------------------------------

@pytest.mark.parametrize("pairs,required,forbidden", [
    ((), [], set()),
    ((("required", "T1"),), [{"T1"}], set()),
    ((("required", "T1,T2"),), [{"T1"}, {"T2"}], set()),
    ((("required", " T1 , T2 "),), [{"T1"}, {"T2"}], set()),
    ((("required", "T1,!T2"),), [{"T1"}], {"T2"}),
    ((("required", "!T1,!T2"),), [], {"T1", "T2"}),
    ((("required", "in:T1,T2"),), [{"T1", "T2"}], set()),
    ((("required", "in:T1,T2"), ("required", "T3,!T4")), [{"T1", "T2"}, {"T3"}], {"T4"}),
])
def test_required(pairs: tuple[tuple[str, str], ...], required: list[set[str]],
                  forbidden: set[str]) -> None:
    got_required, got_forbidden = query.required_traits(_request(*pairs), LATEST)
    assert sorted(sorted(g) for g in got_required) == sorted(sorted(g) for g in required)
    assert got_forbidden == forbidden


@pytest.mark.parametrize("value", ["", ",", "T1,,T2", "in:", "in:T1,,T2", "in:T1,!T2", "T1,!T1"])
def test_required_refuses(value: str) -> None:
    with pytest.raises(BadQuery):
        query.required_traits(_request(("required", value)), LATEST)


def test_required_versions() -> None:
    with pytest.raises(BadQuery, match="HW_CPU_X86_VMX,CUSTOM_MAGIC"):
        query.required_traits(_request(("required", "T1,!T2")), Version(1, 21))
    assert query.required_traits(_request(("required", "T1,!T2")), Version(1, 22)) == (
        (frozenset({"T1"}),), frozenset({"T2"}))
    with pytest.raises(BadQuery):
        query.required_traits(_request(("required", "in:T1,T2")), Version(1, 38))
    # before 1.39 only the last of repeated parameters counts
    twice = _request(("required", "T1"), ("required", "T2"))
    assert query.required_traits(twice, Version(1, 38)) == ((frozenset({"T2"}),), frozenset())
    assert len(query.required_traits(twice, Version(1, 39))[0]) == 2


# -- resources ------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("VCPU:1", (("VCPU", 1),)),
    ("VCPU:2,MEMORY_MB:1024", (("VCPU", 2), ("MEMORY_MB", 1024))),
    ("CUSTOM_X_1:7", (("CUSTOM_X_1", 7),)),
    (" VCPU:2", (("VCPU", 2),)),
])
def test_resources(value: str, expected: tuple[tuple[str, int], ...]) -> None:
    assert query.resources(value) == expected


@pytest.mark.parametrize("value,code", [
    ("", codes.QUERY_BAD_VALUE), ("VCPU", codes.QUERY_BAD_VALUE),
    ("VCPU:", codes.QUERY_BAD_VALUE), ("VCPU:x", codes.QUERY_BAD_VALUE),
    ("VCPU:0", codes.QUERY_BAD_VALUE), ("VCPU:-3", codes.QUERY_BAD_VALUE),
    ("vcpu:1", codes.QUERY_BAD_VALUE), (":1", codes.QUERY_BAD_VALUE),
    ("VCPU:1,", codes.QUERY_BAD_VALUE), ("VCPU:1.5", codes.QUERY_BAD_VALUE),
    ("VCPU:1,VCPU:2", codes.QUERY_DUPLICATE_KEY),
])
def test_resources_refuses(value: str, code: str) -> None:
    with pytest.raises(BadQuery) as info:
        query.resources(value)
    assert info.value.code == code
