"""Filter compute: up (fresh heartbeat, not forced down) and enabled; down and
disabled hosts explained apart."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.filters import FILTERS
from corral.scheduler.filters.compute import FILTER

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "ok"), plain(2, "off", enabled=False),
                  plain(3, "forced", forced_down=True), plain(4, "stale", age=61.0),
                  plain(5, "never", age=None)])


def test_keeps_hosts_up_and_enabled() -> None:
    assert fleet().kept(FILTER) == ["ok"]


def test_down_and_disabled_hosts_are_separate_buckets() -> None:
    buckets = {b.summary: b for b in fleet().buckets(FILTER)}
    assert set(buckets) == {"3 hosts: down", "1 hosts: disabled"}
    down = buckets["3 hosts: down"]
    assert down.code == s.HOSTS_UNAVAILABLE and down.constraint is None
    assert down.message == "3 hosts: down (forced down, or no heartbeat for over 60 s)"
    assert sorted(down.host_names) == ["forced", "never", "stale"]
    assert buckets["1 hosts: disabled"].host_names == ["off"]


def test_is_the_liveness_filter_and_first_in_the_default_order() -> None:
    assert FILTER.liveness and not FILTER.structural and not FILTER.usage
    assert next(iter(FILTERS)) == "compute"
