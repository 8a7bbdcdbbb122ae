"""Filter aggregate_extra_specs: each spec is met by one of the host's aggregates (a
comma list holds each of its items)."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.filters.aggregate_extra_specs import FILTER
from corral.scheduler.hosts import AggregateInfo

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "ssd", aggregates=("fast",)), plain(2, "both", aggregates=("mix",)),
                  plain(3, "plain")],
                 (AggregateInfo("fast", {"disk": "ssd"}),
                  AggregateInfo("mix", {"disk": "hdd, ssd", "gpu": "yes"})))


def test_a_spec_matches_a_value_or_an_item_of_a_comma_list() -> None:
    assert fleet().kept(FILTER, aggregate_specs={"disk": "ssd"}) == ["both", "ssd"]
    assert fleet().kept(FILTER, aggregate_specs={"disk": "ssd", "gpu": "yes"}) == ["both"]


def test_no_spec_keeps_every_host() -> None:
    assert fleet().kept(FILTER) == ["both", "plain", "ssd"]


def test_explains_with_the_specs() -> None:
    [bucket] = fleet().buckets(FILTER, aggregate_specs={"gpu": "yes"})
    assert (bucket.code, bucket.constraint) == (s.CONSTRAINT_UNSATISFIABLE, "aggregate")
    assert bucket.message == "2 hosts: in no aggregate whose metadata matches gpu=yes"
    assert bucket.host_names == ["plain", "ssd"]
