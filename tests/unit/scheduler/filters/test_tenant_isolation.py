"""Filter tenant_isolation: hosts of aggregates carrying filter_tenant_id* take only
those projects."""

from __future__ import annotations

from corral.scheduler.filters.tenant_isolation import FILTER
from corral.scheduler.hosts import AggregateInfo

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "mine", aggregates=("private",)), plain(2, "open")],
                 (AggregateInfo("private", {"filter_tenant_id": "p1",
                                            "filter_tenant_id_2": "p2, p3"}),))


def test_isolated_hosts_take_only_their_projects() -> None:
    assert fleet().kept(FILTER, project_id="other") == ["open"]
    assert fleet().kept(FILTER, project_id="p1") == ["mine", "open"]
    assert fleet().kept(FILTER, project_id="p3") == ["mine", "open"]


def test_tells_projects_apart_only_where_a_host_is_isolated() -> None:
    assert FILTER.by_project(fleet().table)
    assert not FILTER.by_project(Fleet([plain(1, "open")]).table)


def test_explains_in_its_own_words() -> None:
    [bucket] = fleet().buckets(FILTER, project_id="other")
    assert bucket.constraint == "isolation"
    assert bucket.message == "1 hosts: reserved to other projects by filter_tenant_id"
