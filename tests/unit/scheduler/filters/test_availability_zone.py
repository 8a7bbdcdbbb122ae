"""Filter availability_zone: the zone asked, or any host when none is asked."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.filters.availability_zone import FILTER
from corral.scheduler.hosts import AggregateInfo

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "a1", aggregates=("za",)), plain(2, "b1", aggregates=("zb",)),
                  plain(3, "none")],
                 (AggregateInfo("za", {"availability_zone": "zone-a"}),
                  AggregateInfo("zb", {"availability_zone": "zone-b"})))


def test_keeps_the_hosts_of_the_zone_asked() -> None:
    assert fleet().kept(FILTER, zone="zone-a") == ["a1"]


def test_no_zone_asked_keeps_every_host_and_an_unknown_zone_none() -> None:
    assert fleet().kept(FILTER) == ["a1", "b1", "none"]
    assert fleet().kept(FILTER, zone="zone-x") == []


def test_explains_in_its_own_words_and_never_helps_to_retry() -> None:
    ex = fleet().explained(FILTER, zone="zone-a")
    [bucket] = ex.buckets()
    assert (bucket.code, bucket.constraint) == (s.CONSTRAINT_UNSATISFIABLE, "zone")
    assert bucket.message == "2 hosts: not in availability zone zone-a"
    assert bucket.summary == "2 hosts: not in the availability zone asked"
    assert FILTER.structural
    assert fleet().explained(FILTER, zone="zone-x").structural()
