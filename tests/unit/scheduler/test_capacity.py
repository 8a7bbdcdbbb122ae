"""Capacity arithmetic on hand-built fleets: the vectorised count per host equals placing
instances one after another on each host, and never exceeds what fits per class."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.state import FleetState
from corral.scheduler import capacity as cap
from corral.scheduler.filters import FILTER_NAMES
from corral.scheduler.hosts import HostTable, Policy
from corral.scheduler.query import FilterContext, HostQuery

from .test_scheduling_filters import CLASSES, NOW, build, host, query

inventories = st.builds(
    Inventory, total=st.integers(0, 64), reserved=st.integers(0, 8),
    min_unit=st.integers(1, 2), max_unit=st.integers(1, 64), step_size=st.integers(1, 3),
    allocation_ratio=st.sampled_from([0.5, 1.0, 1.5, 4.0]))


@st.composite
def fleets(draw: st.DrawFn) -> tuple[FleetState, HostTable, dict[str, int]]:
    hosts = []
    for pid in range(1, draw(st.integers(1, 6)) + 1):
        inv = {rc: i for rc in CLASSES
               if (i := draw(st.none() | inventories)) is not None and i.total > i.reserved}
        used = {rc: draw(st.integers(0, i.capacity)) for rc, i in inv.items()}
        hosts.append(host(pid, f"h{pid}", inv, used, enabled=draw(st.booleans()),
                          age=draw(st.sampled_from([0.0, 120.0])),
                          consumers=draw(st.integers(0, 5))))
    state, table = build(hosts, policy=Policy(max_instances_per_host=draw(st.integers(1, 12))))
    request = {rc: draw(st.integers(1, 9)) for rc in draw(
        st.lists(st.sampled_from(CLASSES), min_size=1, max_size=3, unique=True))}
    return state, table, request


def fits_once(state: FleetState, table: HostTable, i: int, request: dict[str, int],
              used: dict[str, int], consumers: int) -> bool:
    """The scheduler's rules for one more instance on host ``i``, row by row."""
    rec = state.records[state.row_of_uuid[table.hosts[i].provider_uuid]]
    assert rec is not None
    if consumers >= table.max_instances[i]:
        return False
    for rc, amount in request.items():
        inv = rec.inventories.get(rc)
        if inv is None or used.get(rc, 0) + amount > inv.capacity:
            return False
        if not inv.min_unit <= amount <= inv.max_unit or amount % inv.step_size:
            return False
    return True


def naive(state: FleetState, table: HostTable, request: dict[str, int]) -> list[int]:
    """Place instances one after another on each up and enabled host until one does not
    fit (what the scheduler does with this flavor alone)."""
    out = []
    for i, info in enumerate(table.hosts):
        rec = state.records[state.row_of_uuid[info.provider_uuid]]
        assert rec is not None
        up = (info.enabled and not info.forced_down and info.heartbeat is not None
              and NOW - info.heartbeat <= 60.0)
        used, consumers, n = dict(rec.used), rec.consumers, 0
        while up and fits_once(state, table, i, request, used, consumers) and n < 1000:
            for rc, amount in request.items():
                used[rc] = used.get(rc, 0) + amount
            consumers += 1
            n += 1
        out.append(n)
    return out


def counts_of(state: FleetState, table: HostTable, q: HostQuery) -> list[int]:
    ctx = FilterContext(state, table, q)
    return cap.per_host(ctx, cap.eligible(ctx, FILTER_NAMES)).tolist()


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_count_equals_a_naive_per_host_loop(fleet: tuple[FleetState, HostTable,
                                                         dict[str, int]]) -> None:
    state, table, request = fleet
    counts = counts_of(state, table, query(request))
    assert counts == naive(state, table, request)
    for i, n in enumerate(counts):  # never more than fits per class
        rec = state.records[state.row_of_uuid[table.hosts[i].provider_uuid]]
        assert rec is not None
        for rc, amount in request.items():
            inv = rec.inventories.get(rc)
            free = inv.capacity - rec.used.get(rc, 0) if inv else 0
            assert n * amount <= max(free, 0)


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_a_host_counts_at_least_one_exactly_where_the_resources_filter_passes(
        fleet: tuple[FleetState, HostTable, dict[str, int]]) -> None:
    state, table, request = fleet
    ctx = FilterContext(state, table, query(request))
    allowed = cap.eligible(ctx, FILTER_NAMES)
    counts = cap.per_host(ctx, allowed, check_engine=False)
    engine = cap.per_host(ctx, allowed, check_engine=True)
    assert (counts == engine).all()


def test_a_child_provider_serves_its_class() -> None:
    root = ProviderRecord(id=1, uuid="rp1", generation=0, parent_id=None, root_id=1,
                          inventories={"VCPU": Inventory(8), "MEMORY_MB": Inventory(8192)})
    gpu = ProviderRecord(id=2, uuid="gpu1", generation=0, parent_id=1, root_id=1,
                         inventories={"VGPU": Inventory(3)}, used={"VGPU": 1})
    _rec, info = host(1, "h1", {}, {})
    state = FleetState()
    state.apply([root, gpu])
    table = HostTable([info], (), Policy())
    request = CandidateRequest((RequestGroup("", (("MEMORY_MB", 1024), ("VCPU", 1))),
                                RequestGroup("1", (("VGPU", 1),))))
    q = HostQuery(request=request, resources={"VCPU": 1, "MEMORY_MB": 1024, "VGPU": 1},
                  project_id="p", now=NOW, down_after_s=60.0)
    ctx = FilterContext(state, table, q)
    assert cap.per_host(ctx, cap.eligible(ctx, FILTER_NAMES)).tolist() == [2]
    assert cap.nested(state)


def test_stranded_units_are_the_free_units_of_hosts_no_flavor_fits() -> None:
    res = cap.HostResources(["VCPU", "MEMORY_MB"], np.array([[16, 1024], [16, 8192]]),
                            np.array([[1, 1024], [0, 0]]))
    fits = np.array([[0, 8], [0, 2]])
    found = cap.stranded(res, fits, np.array([True, True]))
    assert found.hosts.tolist() == [True, False]
    assert found.units.tolist() == [[15, 0], [0, 0]]
    assert found.share.tolist() == [15 / 16, 0.0]
    assert cap.exhausted(res, 0, {"VCPU": 1, "MEMORY_MB": 512}) == ["MEMORY_MB"]
    none = cap.stranded(res, np.zeros((0, 2), dtype=np.int64), np.array([True, True]))
    assert not none.hosts.any()
