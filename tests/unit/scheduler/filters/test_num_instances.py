"""Filter num_instances: fewer instances than max_instances_per_host (its setting; an
aggregate may lower it)."""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.filters.num_instances import FILTER, INSTANCES
from corral.scheduler.hosts import AggregateInfo, Policy
from corral.scheduler.plugin import Room

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "busy", consumers=3), plain(2, "capped", consumers=1,
                                                       aggregates=("one",)),
                  plain(3, "idle")],
                 (AggregateInfo("one", {"max_instances_per_host": "1"}),),
                 Policy(max_instances_per_host=3))


def test_keeps_hosts_below_their_cap() -> None:
    assert fleet().kept(FILTER) == ["idle"]


def test_explains_with_the_caps_and_names_the_instances_class() -> None:
    ex = fleet().explained(FILTER)
    [bucket] = ex.buckets()
    assert (bucket.code, bucket.constraint) == (s.NO_CAPACITY, None)
    assert bucket.message == "2 hosts: already run max_instances_per_host instances (1 to 3)"
    assert FILTER.emptied_class([bucket]) == INSTANCES == "instances"


def test_brings_its_setting() -> None:
    [option] = FILTER.options
    assert (option.name, option.default, option.low, option.integer) == \
        ("max_instances_per_host", 50, 1, True)


def test_the_simulators_view_room_and_count() -> None:
    room = Room(np.zeros((3, 1), dtype=np.int64), np.array([3, 1, 0]), np.array([3, 1, 3]),
                np.zeros(1, dtype=np.int64), True)
    assert FILTER.room(room).tolist() == [False, False, True]
    count = FILTER.count(room)
    assert count is not None and count.tolist() == [0, 0, 3]
