"""Filter resources: every class fits (the candidates engine decides); explained by
the first class that does not fit, never or not now; nearest misses by shortfall; the
simulator's view of it (room, count, the class short)."""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.domain.capacity import Inventory
from corral.scheduler.filters.resources import FILTER
from corral.scheduler.plugin import Room

from ..fleet import CLASSES, Fleet, host, query, sized

ASK = {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}


def fleet() -> Fleet:
    tiny_unit = {rc: Inventory(8192, max_unit=1) for rc in CLASSES}
    return Fleet([sized(1, "roomy", 8192), sized(2, "full", 8192, used=8190),
                  sized(3, "nearly", 8192, used=6200), host(4, "small-unit", tiny_unit, {})])


def test_keeps_the_hosts_where_every_class_fits() -> None:
    assert fleet().kept(FILTER, query(ASK)) == ["roomy"]


def test_buckets_split_never_from_not_now_with_figures() -> None:
    buckets = fleet().buckets(FILTER, query(ASK))
    by_host = {name: b for b in buckets for name in b.host_names}
    never = by_host["small-unit"]
    assert (never.code, never.constraint, never.resource_class) == (s.NO_CAPACITY, None, "VCPU")
    assert never.message == ("1 hosts: needs 2 vCPUs on one provider; the largest allowed "
                             "there is 1 vCPUs (max_unit)")
    assert never.figures == {"needed": 2, "largest_max_unit": 1}
    short = by_host["full"]
    assert short is by_host["nearly"] and short.resource_class == "MEMORY_MB"
    assert short.figures == {"needed": 2048, "best_free": 1992, "best_host": "nearly"}
    assert short.summary == "2 hosts: not enough free MEMORY_MB"
    assert short.message == ("2 hosts: needs 2048 MB free RAM under ratio 1.0 and 512 MB "
                             "reserved; the best has 1992 MB RAM")


def test_nearest_misses_are_the_hosts_short_of_least() -> None:
    ex = fleet().explained(FILTER, query(ASK))
    nearest = ex.nearest_misses()
    assert [m.host for m in nearest] == ["small-unit", "nearly", "full"]
    assert nearest[0].message == "small-unit: no single arrangement fits"
    assert nearest[1].message == "nearly: 56 MB RAM short"
    assert nearest[1].as_dict()["lacks"] == [
        {"resource_class": "MEMORY_MB", "needed": 2048, "free": 1992, "short": 56}]


def test_an_amount_over_every_max_unit_is_structural() -> None:
    only_small = Fleet([host(1, "small-unit", {rc: Inventory(64, max_unit=1) for rc in CLASSES},
                             {})])
    assert only_small.explained(FILTER, query(ASK)).structural()
    assert not fleet().explained(FILTER, query(ASK)).structural()


def test_the_simulators_view_room_count_and_short_class() -> None:
    free = np.array([[8, 100], [1, 100], [8, 0]])
    amounts = np.array([2, 50])
    units = np.array([True, True, True])
    room = Room(free, np.zeros(3, dtype=np.int64), np.full(3, 9), amounts, units,
                [("VCPU", 0, 2, units), ("MEMORY_MB", 1, 50, units)])
    assert FILTER.room(room).tolist() == [True, False, False]
    count = FILTER.count(room)
    assert count is not None and count.tolist() == [2, 0, 0]
    assert FILTER.short_class(room, np.array([False, True, True])) in ("VCPU", "MEMORY_MB")
    assert FILTER.usage and not FILTER.structural
