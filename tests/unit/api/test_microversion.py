"""The OpenStack-API-Version header parser and the Version value."""

from __future__ import annotations

import pytest

from corral.api import microversion
from corral.api.microversion import (
    MAX_VERSION,
    MIN_VERSION,
    VERSIONS,
    BadVersion,
    UnacceptableVersion,
    Version,
    parse_header,
)


def test_the_list_is_every_minor_from_1_0_to_1_39() -> None:
    assert [v for v, _ in VERSIONS] == [f"1.{n}" for n in range(40)]
    assert all(reason.strip() for _, reason in VERSIONS)
    assert Version(1, 0) == MIN_VERSION
    assert Version(1, 39) == MAX_VERSION
    assert str(MAX_VERSION) == "1.39"


@pytest.mark.parametrize("value", [None, "", "compute 2.1", "identity 3.0, compute 2.1"])
def test_no_placement_entry_is_the_minimum(value: str | None) -> None:
    assert parse_header(value) == MIN_VERSION


@pytest.mark.parametrize("value,expected", [
    ("placement 1.0", Version(1, 0)),
    ("placement 1.9", Version(1, 9)),
    ("placement 1.10", Version(1, 10)),
    ("placement 1.39", Version(1, 39)),
    ("placement latest", MAX_VERSION),
    ("placement LATEST", MAX_VERSION),
    ("Placement 1.20", Version(1, 20)),
    ("  placement   1.20  ", Version(1, 20)),
    ("compute 2.1, placement 1.14", Version(1, 14)),
    ("placement 1.14,compute 2.1", Version(1, 14)),
    ("compute 2.1, placement 1.14, identity 3.0", Version(1, 14)),
])
def test_good_headers(value: str, expected: Version) -> None:
    assert parse_header(value) == expected


@pytest.mark.parametrize("value", [
    "placement pony.horse", "placement 1.2.3", "placement 1", "placement 1.", "placement .1",
    "placement 1.a", "placement v1.2", "placement", "placement 1.2 3", "placement 1,2",
    "placement -1.2", "placement 1.-2", "placement ١.٢", "placement 1.1٢",
])
def test_malformed_headers(value: str) -> None:
    with pytest.raises(BadVersion, match="invalid version string"):
        parse_header(value)


@pytest.mark.parametrize("value", ["placement 0.9", "placement 0.0", "placement 1.40",
                                   "placement 2.0", "placement 1.1000", "placement 99.99"])
def test_out_of_range_headers(value: str) -> None:
    with pytest.raises(UnacceptableVersion, match="Unacceptable version header"):
        parse_header(value)


def test_matches_is_inclusive() -> None:
    v = Version(1, 14)
    assert v.matches((1, 14))
    assert v.matches((1, 0))
    assert not v.matches((1, 15))
    assert v.matches((1, 10), (1, 14))
    assert not v.matches((1, 10), (1, 13))
    assert v.matches()


def test_versions_order_numerically_not_as_strings() -> None:
    assert Version(1, 9) < Version(1, 10) < Version(1, 39)
    assert sorted([Version(1, 10), Version(1, 9), Version(1, 2)]) == [
        Version(1, 2), Version(1, 9), Version(1, 10)]


def test_header_name() -> None:
    assert microversion.HEADER.lower() == "openstack-api-version"
    assert microversion.SERVICE == "placement"
