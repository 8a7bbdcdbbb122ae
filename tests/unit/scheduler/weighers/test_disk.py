"""Weigher disk: free DISK_GB; spread prefers more, pack flips the sign; an aggregate's
disk_weight_multiplier overrides the setting per host."""

from __future__ import annotations

import pytest

from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.scheduler.hosts import HostInfo
from corral.scheduler.weighers import WEIGHERS
from corral.scheduler.weighers.disk import WEIGHER

from ..fleet import CLASSES, Fleet, host
from .helpers import AggregateInfo, alone, ranked


def hosts(aggregates: tuple[str, ...] = ()) -> list[tuple[ProviderRecord, HostInfo]]:
    # only DISK_GB differs between the hosts
    def one(pid: int, name: str, used: int) -> tuple[ProviderRecord, HostInfo]:
        return host(pid, name, {rc: Inventory(1000) for rc in CLASSES},
                    {rc: (used if rc == "DISK_GB" else 0) for rc in CLASSES},
                    aggregates=aggregates if name == "half" else ())
    return [one(1, "empty", 0), one(2, "half", 500), one(3, "full", 900)]


def test_spread_prefers_the_most_free_and_pack_the_least() -> None:
    order, weights = ranked(Fleet(hosts(), policy=alone("disk")))
    assert order == ["empty", "half", "full"]
    assert weights.components["disk"].tolist() == pytest.approx([1.0, 4 / 9, 0.0])
    order, _ = ranked(Fleet(hosts(), policy=alone("disk", strategy="pack")))
    assert order == ["full", "half", "empty"]


def test_an_aggregate_multiplier_overrides_per_host() -> None:
    fleet = Fleet(hosts(("boost",)), (AggregateInfo("boost", {"disk_weight_multiplier": "5"}),),
                  alone("disk"))
    order, weights = ranked(fleet)
    assert order == ["half", "empty", "full"]
    assert weights.total.tolist()[:2] == pytest.approx([5 * 4 / 9, 1.0])


def test_its_shape() -> None:
    assert WEIGHER.signed and WEIGHER.resource_class == "DISK_GB"
    assert WEIGHER.option.name == "disk_weight_multiplier" and WEIGHER.option.default == 1.0
    assert "disk" in WEIGHERS
