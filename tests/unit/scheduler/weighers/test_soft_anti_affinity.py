"""Weigher soft_anti_affinity: for a soft-anti-affinity group, fewer members wins."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.weighers.soft_anti_affinity import WEIGHER

from ..fleet import Fleet, plain
from .helpers import alone, ranked


def fleet() -> Fleet:
    return Fleet([plain(1, "a"), plain(2, "b"), plain(3, "c")],
                 policy=alone("soft_anti_affinity"))


def test_prefers_the_host_with_fewest_members() -> None:
    order, weights = ranked(fleet(), group_policy=s.SOFT_ANTI_AFFINITY,
                            group_members={"a": 2, "b": 1})
    assert order == ["c", "b", "a"]
    assert weights.components["soft_anti_affinity"].tolist() == [1.0, 0.5, 0.0]


def test_weighs_nothing_without_its_policy() -> None:
    _order, weights = ranked(fleet(), group_members={"a": 2})
    assert weights.components == {}
    assert WEIGHER.option.low == 0.0
