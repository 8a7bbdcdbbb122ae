"""Filter same_host: with the hint, only the hosts holding a named instance."""

from __future__ import annotations

from corral.scheduler.filters.same_host import FILTER

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "a"), plain(2, "b"), plain(3, "c")])


def test_keeps_the_hosts_named_and_every_host_without_the_hint() -> None:
    assert fleet().kept(FILTER, same_host=frozenset({"b", "gone"})) == ["b"]
    assert fleet().kept(FILTER) == ["a", "b", "c"]
    assert fleet().kept(FILTER, same_host=frozenset()) == []


def test_explains_in_its_own_words() -> None:
    [bucket] = fleet().buckets(FILTER, same_host=frozenset({"b"}))
    assert (bucket.constraint, bucket.hosts) == ("same_host", 2)
    assert bucket.message == "2 hosts: hold none of the instances named in same_host"
