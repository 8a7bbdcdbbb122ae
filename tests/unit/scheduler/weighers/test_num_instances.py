"""Weigher num_instances: the instances on a host; positive packs, negative spreads;
off (0) by default."""

from __future__ import annotations

from corral.engine.records import ProviderRecord
from corral.scheduler.hosts import HostInfo
from corral.scheduler.weighers.num_instances import WEIGHER

from ..fleet import Fleet, plain
from .helpers import alone, ranked


def hosts() -> list[tuple[ProviderRecord, HostInfo]]:
    return [plain(1, "none"), plain(2, "two", consumers=2), plain(3, "four", consumers=4)]


def test_positive_packs_negative_spreads() -> None:
    order, weights = ranked(Fleet(hosts(), policy=alone("num_instances")))
    assert order == ["four", "two", "none"]
    assert weights.components["num_instances"].tolist() == [1.0, 0.5, 0.0]
    order, _ = ranked(Fleet(hosts(), policy=alone("num_instances", -1.0)))
    assert order == ["none", "two", "four"]


def test_off_by_default_and_not_signed() -> None:
    assert WEIGHER.option.default == 0.0 and not WEIGHER.signed
    # the strategy does not flip it
    order, _ = ranked(Fleet(hosts(), policy=alone("num_instances", strategy="pack")))
    assert order == ["four", "two", "none"]
