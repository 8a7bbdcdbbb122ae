"""Weigher build_failure: recent failed builds sink a host (a large multiplier by
default)."""

from __future__ import annotations

import pytest

from corral.scheduler.weighers.build_failure import WEIGHER

from ..fleet import Fleet, plain
from .helpers import alone, ranked


def test_failed_builds_sink_a_host() -> None:
    fleet = Fleet([plain(1, "a", failed_builds=3), plain(2, "b", failed_builds=1),
                   plain(3, "c")], policy=alone("build_failure", 10.0))
    order, weights = ranked(fleet)
    assert order == ["c", "b", "a"]
    assert weights.total.tolist() == pytest.approx([10.0, 10.0 * 2 / 3, 0.0])


def test_weighs_nothing_when_no_build_failed() -> None:
    _order, weights = ranked(Fleet([plain(1, "a"), plain(2, "b")],
                                   policy=alone("build_failure")))
    assert weights.components == {}
    assert WEIGHER.option.default == 1_000_000.0
