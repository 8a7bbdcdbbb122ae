"""Capacity: headroom per flavor, utilization per class, and stranded capacity.

Answers come from the scheduler's own engine and filters, never from a query per host:
under the CandidateFinder's lock the engine is refreshed (as before a decision), the
scheduler's HostTable is read, and the flavors asked for are read in the same read
transaction; then everything is NumPy arithmetic (scheduler/capacity.py).

* **Headroom** of a flavor: how many more instances of it fit, counted per host as the
  scheduler would place them one after another (see scheduler/capacity.py), on the hosts
  the scheduler's filters let it use (up and enabled, zone, aggregate extra specs,
  tenant isolation, traits), summed per availability zone, aggregate, host or fleet.
  A host in several aggregates counts in each of them.
* **Utilization** per resource class: used / usable, where usable is the capacity of the
  hosts that are up and enabled (ratios and reserved amounts applied), fleet-wide, per
  zone and per aggregate.
* **Stranded** capacity: a usable host with free units on which no flavor fits at all
  (every flavor counts 0 there, whatever the project: tenant isolation is not applied)
  strands all its free units: something else (another class, or the instance cap) is
  exhausted. Hosts are ranked by the largest share of a class's capacity stranded.

Docs: docs/capacity.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from corral.domain import errors
from corral.domain.flavors import Flavor
from corral.scheduler import capacity as cap
from corral.scheduler.filters import FILTERS
from corral.scheduler.hosts import HostTable
from corral.scheduler.query import FilterContext
from corral.scheduler.runner import Ask, host_query_of
from corral.services.flavors import flavor_in
from corral.services.scheduler import Scheduler
from corral.services.stores import FlavorStore, Store

GROUP_BY = ("fleet", "az", "aggregate", "host")
#: Group name of the hosts with no availability zone, and of those in no aggregate.
NO_ZONE = "(no zone)"
NO_AGGREGATE = "(no aggregate)"
FLEET = "fleet"


@dataclass(frozen=True)
class Shape:
    """An ad-hoc request shape (not a stored flavor)."""

    vcpus: int
    ram_mb: int
    disk_gb: int = 0

    def flavor(self) -> Flavor:
        name = f"{self.vcpus}vcpu-{self.ram_mb}mb-{self.disk_gb}gb"
        return Flavor(id=f"shape:{name}", name=name, vcpus=self.vcpus, ram_mb=self.ram_mb,
                      disk_gb=self.disk_gb)


@dataclass(frozen=True)
class FlavorHeadroom:
    flavor_id: str
    flavor_name: str
    total: int
    """Instances of the flavor that fit fleet-wide now."""
    groups: dict[str, int]
    """{group: instances that fit there}."""
    hosts_eligible: dict[str, int]
    """{group: hosts the flavor may use (filters passed, whether or not it fits now)}."""
    hosts_with_room: dict[str, int] = field(default_factory=dict)
    """{group: hosts where at least one more instance fits}."""
    group_by: str = "az"


@dataclass(frozen=True)
class ClassUsage:
    used: int
    usable: int

    @property
    def ratio(self) -> float:
        return self.used / self.usable if self.usable else 0.0


@dataclass(frozen=True)
class Utilization:
    fleet: dict[str, ClassUsage]
    """{class: used / usable} over the hosts that are up and enabled."""
    zones: dict[str, dict[str, ClassUsage]]
    aggregates: dict[str, dict[str, ClassUsage]]
    stranded: dict[str, int] = field(default_factory=dict)
    """{class: free units stranded fleet-wide} (see :func:`stranded`)."""
    hosts_usable: int = 0
    hosts_total: int = 0


@dataclass(frozen=True)
class StrandedHost:
    host: str
    availability_zone: str | None
    stranded: dict[str, int]
    """{class: free units no flavor can use}."""
    exhausted: list[str]
    """What stops every flavor: classes below the smallest flavor's amount, and
    ``instances`` when the host is at its instance cap."""
    share: float
    """The largest share of one class's capacity stranded on the host (ranking key)."""


@dataclass
class _Snapshot:
    """What one pass under the engine's lock computes (arrays are copies)."""

    table: HostTable
    flavors: list[Flavor]
    counts: npt.NDArray[np.int64]
    """(flavors, hosts): instances that fit."""
    eligible: npt.NDArray[np.bool_]
    """(flavors, hosts): hosts each flavor may use."""
    resources: cap.HostResources
    usable: npt.NDArray[np.bool_]
    at_cap: npt.NDArray[np.bool_]
    any_fit: npt.NDArray[np.int64] | None = None
    """(flavors, hosts) counts without tenant isolation (for stranded), when asked."""


def _check_group_by(group_by: str) -> None:
    if group_by not in GROUP_BY:
        raise errors.InvalidInput(
            f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}",
            field="group_by")


def _flavors(repo: FlavorStore, refs: Sequence[str] | None) -> list[Flavor]:
    if refs is None:
        return repo.list_flavors(project_id=None, is_public=None, min_vcpus=0, min_ram_mb=0,
                                 min_disk_gb=0)
    out: list[Flavor] = []
    for ref in refs:
        try:
            found = flavor_in(repo, ref)
        except errors.FlavorNotFound as exc:
            raise errors.InvalidInput(exc.detail, field="flavor") from exc
        if all(f.id != found.id for f in out):
            out.append(found)
    return out


def _snapshot(store: Store, scheduler: Scheduler, refs: Sequence[str] | None,
              shapes: Sequence[Shape] = (), *, project_id: str | None = None,
              for_stranded: bool = False) -> _Snapshot:
    finder = scheduler.finder
    filters = scheduler.settings.filters
    with finder.lock:
        with store.read() as repo:
            finder.refresh_in(repo)
            table = scheduler.hosts.get(repo)
            flavors = _flavors(repo, refs if refs is not None or not shapes else [])
        flavors += [sh.flavor() for sh in shapes]
        state = finder.state
        now = time.time()
        down_after = float(scheduler.settings.host_down_after_s)
        check = cap.nested(state)
        counts = np.zeros((len(flavors), table.n), dtype=np.int64)
        eligible = np.zeros((len(flavors), table.n), dtype=bool)
        any_fit = np.zeros((len(flavors), table.n), dtype=np.int64) if for_stranded else None
        ctx: FilterContext | None = None
        for i, flavor in enumerate(flavors):
            query = replace(host_query_of(Ask(flavor, project_id or "", "")), now=now,
                            down_after_s=down_after)
            ctx = FilterContext(state, table, query)
            eligible[i] = cap.eligible(ctx, filters)
            counts[i] = cap.per_host(ctx, eligible[i], check_engine=check)
            if any_fit is not None:
                open_filters = tuple(f for f in filters if not FILTERS[f].by_project(table))
                any_fit[i] = cap.per_host(ctx, cap.eligible(ctx, open_filters),
                                          check_engine=check)
        if ctx is None:
            ctx = FilterContext(state, table, replace(
                host_query_of(Ask(Shape(1, 1).flavor(), "", "")), now=now,
                down_after_s=down_after))
        usable = cap.usable(ctx)
        resources = cap.host_resources(state, table, ctx.rows)
        at_cap = ctx.count_at_hosts(state.consumers) >= table.max_instances
    return _Snapshot(table, flavors, counts, eligible, resources, usable, at_cap, any_fit)


# -- grouping ---------------------------------------------------------------------------------

def _groups(table: HostTable, group_by: str) -> list[tuple[str, npt.NDArray[np.int64]]]:
    """(group name, host indexes) for every group of ``group_by``."""
    if group_by == "fleet":
        return [(FLEET, np.arange(table.n))]
    if group_by == "host":
        return [(name, np.array([i])) for i, name in enumerate(table.names)]
    if group_by == "az":
        out = [(z, np.flatnonzero(table.zone_code == i)) for i, z in enumerate(table.zones)]
        none = np.flatnonzero(table.zone_code < 0)
        return out + ([(NO_ZONE, none)] if none.size else [])
    out = [(a.name, table.members[a.name]) for a in table.aggregates]
    member = np.zeros(table.n, dtype=bool)
    for _name, idx in out:
        member[idx] = True
    none = np.flatnonzero(~member)
    return out + ([(NO_AGGREGATE, none)] if none.size else [])


def _per_host(snap: _Snapshot, i: int) -> FlavorHeadroom:
    """Grouped by host: only the hosts the flavor may use (one pass of array reads)."""
    counts, eligible = snap.counts[i], snap.eligible[i]
    idx = np.flatnonzero(eligible)
    names = [snap.table.names[j] for j in idx.tolist()]
    found = counts[idx].tolist()
    flavor = snap.flavors[i]
    return FlavorHeadroom(flavor.id, flavor.name, int(counts.sum()), dict(zip(names, found, strict=True)),
                          dict.fromkeys(names, 1), {h: int(c > 0) for h, c in zip(names, found, strict=True)},
                          "host")


def _headroom_of(snap: _Snapshot, group_by: str) -> list[FlavorHeadroom]:
    if group_by == "host":
        return [_per_host(snap, i) for i in range(len(snap.flavors))]
    groups = _groups(snap.table, group_by)
    out = []
    for i, flavor in enumerate(snap.flavors):
        counts, eligible = snap.counts[i], snap.eligible[i]
        sums: dict[str, int] = {}
        hosts: dict[str, int] = {}
        room: dict[str, int] = {}
        for name, idx in groups:
            sums[name] = int(counts[idx].sum())
            hosts[name] = int(eligible[idx].sum())
            room[name] = int((counts[idx] > 0).sum())
        out.append(FlavorHeadroom(flavor.id, flavor.name, int(counts.sum()), sums, hosts,
                                  room, group_by))
    return out


def headroom(store: Store, scheduler: Scheduler, *, flavors: list[str] | None = None,
             group_by: str = "az", shapes: Sequence[Shape] = (),
             project_id: str | None = None) -> list[FlavorHeadroom]:
    """How many more instances of each flavor fit, per group and in total.

    Args:
        flavors: flavor ids or names (None: every flavor, or none when ``shapes`` are
            given).
        group_by: ``fleet``, ``az`` (hosts with no zone: ``(no zone)``), ``aggregate``
            (a host counts in each of its aggregates; ``(no aggregate)``) or ``host``
            (only the hosts the flavor may use).
        shapes: ad-hoc shapes counted as flavors with no extra specs.
        project_id: count for this project (tenant isolation); None: a project that no
            isolated aggregate names, so isolated hosts are left out.

    Returns:
        One entry per flavor, in the order asked (by name for every flavor), then the
        shapes.

    Raises:
        InvalidInput: a bad ``group_by`` (field ``group_by``) or an unknown flavor
            (field ``flavor``).
    """
    _check_group_by(group_by)
    snap = _snapshot(store, scheduler, flavors, shapes, project_id=project_id)
    return _headroom_of(snap, group_by)


def _usage(res: cap.HostResources, idx: npt.NDArray[np.int64] | npt.NDArray[np.bool_]
           ) -> dict[str, ClassUsage]:
    capacity = res.capacity[idx].sum(axis=0)
    used = res.used[idx].sum(axis=0)
    return {rc: ClassUsage(int(used[j]), int(capacity[j])) for j, rc in enumerate(res.classes)
            if capacity[j] or used[j]}


def _utilization_of(snap: _Snapshot) -> Utilization:
    res, table, usable = snap.resources, snap.table, snap.usable
    fleet = _usage(res, usable)
    zones = {name: _usage(res, idx[usable[idx]]) for name, idx in _groups(table, "az")}
    aggregates = {name: _usage(res, idx[usable[idx]])
                  for name, idx in _groups(table, "aggregate")}
    found = _stranded_of(snap)
    totals = found.units.sum(axis=0)
    return Utilization(fleet, zones, aggregates,
                       {rc: int(totals[j]) for j, rc in enumerate(res.classes)
                        if rc in fleet},
                       int(usable.sum()), table.n)


def utilization(store: Store, scheduler: Scheduler) -> Utilization:
    """Used / usable per class, fleet-wide, per zone and per aggregate, with the
    stranded units per class."""
    return _utilization_of(_snapshot(store, scheduler, None, for_stranded=True))


def _stranded_of(snap: _Snapshot) -> cap.Stranded:
    fits = snap.any_fit if snap.any_fit is not None else snap.counts
    return cap.stranded(snap.resources, fits, snap.usable)


def _stranded_hosts(snap: _Snapshot, top: int) -> list[StrandedHost]:
    found = _stranded_of(snap)
    idx = np.flatnonzero(found.hosts)
    names = snap.table.names
    order = sorted(idx.tolist(), key=lambda i: (-found.share[i], names[i]))[:max(top, 0)]
    smallest: dict[str, int] = {}
    for flavor in snap.flavors:
        for rc, amount in host_query_of(Ask(flavor, "", "")).resources.items():
            smallest[rc] = min(smallest.get(rc, amount), amount)
    classes = snap.resources.classes
    out = []
    for i in order:
        units = {rc: int(found.units[i, j]) for j, rc in enumerate(classes) if found.units[i, j]}
        blocked = cap.exhausted(snap.resources, i, smallest)
        if snap.at_cap[i]:
            blocked.append("instances")
        out.append(StrandedHost(names[i], snap.table.zone[i], units, blocked,
                                round(float(found.share[i]), 4)))
    return out


def stranded(store: Store, scheduler: Scheduler, top: int = 10) -> list[StrandedHost]:
    """The ``top`` hosts with the most stranded capacity, worst first."""
    return _stranded_hosts(_snapshot(store, scheduler, None, for_stranded=True), top)


@dataclass(frozen=True)
class Report:
    """Everything the metrics collector exports, computed in one pass."""

    by_zone: list[FlavorHeadroom]
    by_aggregate: list[FlavorHeadroom]
    utilization: Utilization


def report(store: Store, scheduler: Scheduler) -> Report:
    """Headroom of every flavor per zone and per aggregate, and utilization (one pass)."""
    snap = _snapshot(store, scheduler, None, for_stranded=True)
    return Report(_headroom_of(snap, "az"), _headroom_of(snap, "aggregate"),
                  _utilization_of(snap))
