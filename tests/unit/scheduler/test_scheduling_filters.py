"""Filters and weighers on hand-built fleets: FleetState plus HostTable, no store."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.domain.capacity import Inventory
from corral.domain.overcommit import Defaults, resolve_all
from corral.engine.records import ProviderRecord
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.state import FleetState
from corral.scheduler.filters import FILTER_NAMES
from corral.scheduler.hosts import AggregateInfo, HostInfo, HostTable, Policy
from corral.scheduler.query import FilterContext, HostQuery
from corral.scheduler.runner import run_filters, weigh

NOW = 1_000_000.0
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
EFFECTIVE = resolve_all({}, {}, Defaults())


def host(pid: int, name: str, inv: dict[str, Inventory], used: dict[str, int], *,
         enabled: bool = True, forced_down: bool = False, age: float | None = 0.0,
         traits: frozenset[str] = frozenset(), aggregates: tuple[str, ...] = (),
         consumers: int = 0, failed_builds: int = 0) -> tuple[ProviderRecord, HostInfo]:
    record = ProviderRecord(id=pid, uuid=f"rp{pid}", generation=0, parent_id=None, root_id=pid,
                            inventories=inv, used=used, traits=traits, consumers=consumers)
    info = HostInfo(id=pid, name=name, provider_uuid=f"rp{pid}", enabled=enabled,
                    forced_down=forced_down, heartbeat=None if age is None else NOW - age,
                    failed_builds=failed_builds, effective=EFFECTIVE, aggregates=aggregates)
    return record, info


def build(hosts: list[tuple[ProviderRecord, HostInfo]],
          aggregates: tuple[AggregateInfo, ...] = (), policy: Policy | None = None
          ) -> tuple[FleetState, HostTable]:
    state = FleetState()
    state.apply([r for r, _ in hosts])
    return state, HostTable([i for _, i in hosts], aggregates, policy or Policy())


def query(resources: dict[str, int], **kw: Any) -> HostQuery:
    request = CandidateRequest((RequestGroup("", tuple(sorted(resources.items()))),))
    return HostQuery(request=request, resources=resources, project_id=kw.pop("project_id", "p"),
                     now=NOW, down_after_s=60.0, **kw)


def passed(state: FleetState, table: HostTable, q: HostQuery) -> list[str]:
    funnel = run_filters(FilterContext(state, table, q), FILTER_NAMES)
    return [table.names[i] for i in np.flatnonzero(funnel.passed)]


SMALL = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


def plain(pid: int, name: str, **kw: Any) -> tuple[ProviderRecord, HostInfo]:
    return host(pid, name, {rc: Inventory(4096) for rc in CLASSES}, {}, **kw)


def test_compute_keeps_only_hosts_up_and_enabled() -> None:
    state, table = build([plain(1, "ok"), plain(2, "off", enabled=False),
                          plain(3, "forced", forced_down=True), plain(4, "stale", age=61.0),
                          plain(5, "never", age=None), plain(6, "recent", age=59.0)])
    assert passed(state, table, query(SMALL)) == ["ok", "recent"]


def test_aggregate_metadata_resolves_per_host() -> None:
    aggs = (AggregateInfo("a", {"scheduler_strategy": "pack", "max_instances_per_host": "5",
                                "ram_weight_multiplier": "3"}),
            AggregateInfo("b", {"scheduler_strategy": "spread", "max_instances_per_host": "2",
                                "ram_weight_multiplier": "-1", "filter_tenant_id": "p1,p2"}))
    _state, table = build([plain(1, "h1-both", aggregates=("a", "b")),
                           plain(2, "h2-only-b", aggregates=("b",)), plain(3, "h3-none")],
                          aggs, Policy(max_instances_per_host=9))
    assert table.strategy == ["pack", "spread", "spread"]  # the first by name wins
    assert table.max_instances.tolist() == [2, 2, 9]  # the smallest wins
    assert table.multiplier("ram").tolist() == [-1.0, -1.0, 1.0]
    assert table.sign.tolist() == [-1.0, 1.0, 1.0]
    assert table.isolated.tolist() == [True, True, False]
    assert table.tenants["p2"].tolist() == [True, True, False]


def test_num_instances_and_tenant_isolation() -> None:
    aggs = (AggregateInfo("cap", {"max_instances_per_host": "2"}),
            AggregateInfo("private", {"filter_tenant_id": "owner"}))
    state, table = build([plain(1, "capped", aggregates=("cap",), consumers=2),
                          plain(2, "private", aggregates=("private",)),
                          plain(3, "open", consumers=3)], aggs)
    assert passed(state, table, query(SMALL)) == ["open"]
    assert passed(state, table, query(SMALL, project_id="owner")) == ["open", "private"]


def test_pack_and_spread_order_by_free_ram() -> None:
    hosts = [host(k, f"h{k}", {rc: Inventory(100) for rc in CLASSES},
                  {rc: used for rc in CLASSES}) for k, used in ((1, 10), (2, 50), (3, 30))]
    for strategy, order in (("spread", ["h1", "h3", "h2"]), ("pack", ["h2", "h3", "h1"])):
        state, table = build(hosts, policy=Policy(strategy=strategy))
        ctx = FilterContext(state, table, query(SMALL))
        weights = weigh(ctx, np.arange(table.n, dtype=np.int64))
        assert [table.names[i] for i in weights.hosts] == order
        assert weights.total.tolist() == sorted(weights.total.tolist(), reverse=True)


def test_build_failures_sink_a_host() -> None:
    state, table = build([plain(1, "a", failed_builds=1), plain(2, "b")])
    weights = weigh(FilterContext(state, table, query(SMALL)), np.arange(2, dtype=np.int64))
    assert [table.names[i] for i in weights.hosts] == ["b", "a"]
    assert weights.components["build_failure"].tolist() == [1.0, 0.0]


# -- property: what passes has room and is up; weighing sorts ---------------------------------

inventories = st.fixed_dictionaries({
    rc: st.tuples(st.integers(0, 64), st.integers(0, 8), st.sampled_from([0.5, 1.0, 1.5, 4.0]),
                  st.integers(1, 64))
    for rc in CLASSES})
hosts_st = st.lists(st.tuples(
    inventories, st.fixed_dictionaries({rc: st.integers(0, 24) for rc in CLASSES}),
    st.booleans(), st.booleans(), st.sampled_from([0.0, 30.0, 61.0, None]),
    st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=8)
asks = st.fixed_dictionaries({rc: st.integers(1, 24) for rc in CLASSES})


@settings(max_examples=150, deadline=None)
@given(hosts_st, asks, st.sampled_from(["spread", "pack"]))
def test_every_host_let_through_has_room_and_is_up(specs: list[Any], ask: dict[str, int],
                                                   strategy: str) -> None:
    built = []
    for k, (inv, used, enabled, forced, age, failed, consumers) in enumerate(specs):
        inv = {rc: Inventory(total, reserved=min(reserved, total), allocation_ratio=ratio,
                             max_unit=max_unit) for rc, (total, reserved, ratio, max_unit)
               in inv.items()}
        built.append(host(k + 1, f"h{k}", inv, used, enabled=enabled, forced_down=forced,
                          age=age, failed_builds=failed, consumers=consumers))
    state, table = build(built, policy=Policy(strategy=strategy, max_instances_per_host=3))
    ctx = FilterContext(state, table, query(ask))
    funnel = run_filters(ctx, FILTER_NAMES)
    counts = funnel.counts()
    assert sum(cast(int, c["removed"]) for c in counts[1:]) == \
        cast(int, counts[0]["hosts"]) - int(funnel.passed.sum())
    through = np.flatnonzero(funnel.passed)
    for i in through.tolist():
        record, info = built[i]
        assert info.enabled and not info.forced_down
        assert info.heartbeat is not None and NOW - info.heartbeat <= 60.0
        assert record.consumers < table.max_instances[i]
        for rc, amount in ask.items():
            inventory = record.inventories[rc]
            assert inventory.capacity - record.used[rc] >= amount, (rc, record)
            assert amount <= inventory.max_unit
    weights = weigh(ctx, through.astype(np.int64))
    assert sorted(weights.hosts.tolist()) == through.tolist()
    assert np.all(np.diff(weights.total) <= 0)
    assert np.allclose(weights.total, sum(weights.components.values(), np.zeros(through.size)))
