"""Filter server_group: affinity with the members, anti-affinity below
max_server_per_host; a full anti-affinity group is structural."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.filters.server_group import FILTER

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "a"), plain(2, "b"), plain(3, "c")])


def test_affinity_keeps_the_members_hosts_or_any_while_there_is_none() -> None:
    assert fleet().kept(FILTER, group_policy=s.AFFINITY, group_members={"b": 1}) == ["b"]
    assert fleet().kept(FILTER, group_policy=s.AFFINITY) == ["a", "b", "c"]


def test_anti_affinity_keeps_hosts_below_max_server_per_host() -> None:
    members = {"a": 1, "b": 2}
    assert fleet().kept(FILTER, group_policy=s.ANTI_AFFINITY, group_members=members) == ["c"]
    assert fleet().kept(FILTER, group_policy=s.ANTI_AFFINITY, group_members=members,
                        max_server_per_host=2) == ["a", "c"]


def test_soft_policies_do_not_filter() -> None:
    assert fleet().kept(FILTER, group_policy=s.SOFT_AFFINITY, group_members={"a": 1}) == \
        ["a", "b", "c"]


def test_a_group_filling_every_host_is_structural_one_with_room_is_not() -> None:
    full = fleet().explained(FILTER, group_policy=s.ANTI_AFFINITY,
                             group_members={"a": 1, "b": 1, "c": 1})
    assert full.structural()
    [bucket] = full.buckets()
    assert bucket.constraint == "group_policy"
    assert bucket.message == ("3 hosts: already hold 1 or more members of the anti-affinity "
                              "group (max_server_per_host 1)")
    roomy = fleet().explained(FILTER, group_policy=s.ANTI_AFFINITY,
                              group_members={"a": 1, "b": 1, "c": 1}, max_server_per_host=2)
    assert not roomy.structural()
