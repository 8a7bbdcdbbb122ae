"""Weigher soft_affinity: for a soft-affinity group, more members on a host wins."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.weighers.soft_affinity import WEIGHER

from ..fleet import Fleet, plain
from .helpers import alone, ranked


def fleet() -> Fleet:
    return Fleet([plain(1, "a"), plain(2, "b"), plain(3, "c")], policy=alone("soft_affinity"))


def test_prefers_the_host_with_most_members() -> None:
    order, weights = ranked(fleet(), group_policy=s.SOFT_AFFINITY,
                            group_members={"c": 2, "b": 1})
    assert order == ["c", "b", "a"]
    assert weights.components["soft_affinity"].tolist() == [1.0, 0.5, 0.0]


def test_weighs_nothing_for_another_policy() -> None:
    _order, weights = ranked(fleet(), group_policy=s.ANTI_AFFINITY, group_members={"c": 2})
    assert "soft_affinity" not in weights.components
    assert WEIGHER.option.low == 0.0
