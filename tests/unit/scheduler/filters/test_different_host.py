"""Filter different_host: with the hint, none of the hosts holding a named instance."""

from __future__ import annotations

from corral.scheduler.filters.different_host import FILTER

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "a"), plain(2, "b"), plain(3, "c")])


def test_removes_the_hosts_named() -> None:
    assert fleet().kept(FILTER, different_host=frozenset({"a", "c"})) == ["b"]
    assert fleet().kept(FILTER) == ["a", "b", "c"]


def test_explains_in_its_own_words() -> None:
    [bucket] = fleet().buckets(FILTER, different_host=frozenset({"a", "c"}))
    assert (bucket.constraint, bucket.host_names) == ("different_host", ["a", "c"])
    assert bucket.summary == "2 hosts: hold an instance named in different_host"
