"""Filters: each a small function from (context) to a boolean mask over the hosts.

A decision runs the enabled filters in order and keeps the mask after each one: that
sequence is the funnel an explanation shows. Every filter is a handful of array
operations over the HostTable and the FleetState, whatever the fleet size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt

from corral.domain import scheduling as s
from corral.engine.hosts import HostTable, split_values
from corral.engine.request import CandidateRequest
from corral.engine.search import Search
from corral.engine.state import FleetState

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class HostQuery:
    """What one decision asks of the hosts."""

    request: CandidateRequest
    """The flavor's resources and traits, as a candidates request."""
    resources: Mapping[str, int]
    """Every class asked, summed over the request groups (for explanations)."""
    project_id: str
    required_traits: frozenset[str] = frozenset()
    forbidden_traits: frozenset[str] = frozenset()
    zone: str | None = None
    aggregate_specs: Mapping[str, str] = field(default_factory=dict)
    same_host: frozenset[str] | None = None
    """Hosts of the instances named by the same_host hint (None: no hint)."""
    different_host: frozenset[str] = frozenset()
    group_policy: str | None = None
    group_members: Mapping[str, int] = field(default_factory=dict)
    """{host name: members of the request's server group there}."""
    max_server_per_host: int = 1
    exclude: frozenset[str] = frozenset()
    """Hosts not considered at all (the source of a migration, hosts already tried)."""
    now: float = 0.0
    down_after_s: float = 60.0


@dataclass
class FilterContext:
    state: FleetState
    hosts: HostTable
    query: HostQuery

    @cached_property
    def rows(self) -> npt.NDArray[np.int64]:
        return self.hosts.rows(self.state)

    @cached_property
    def loaded(self) -> Mask:
        rows = self.rows
        ok = rows >= 0
        ok[ok] = self.state.alive[rows[ok]]
        return ok

    def at_hosts(self, per_row: Mask) -> Mask:
        """A mask over provider rows, read at each host's row (False where not loaded)."""
        out = np.zeros(self.hosts.n, dtype=bool)
        loaded = self.loaded
        out[loaded] = per_row[self.rows[loaded]]
        return out

    def count_at_hosts(self, per_row: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        out = np.zeros(self.hosts.n, dtype=np.int64)
        loaded = self.loaded
        out[loaded] = per_row[self.rows[loaded]]
        return out

    @cached_property
    def members(self) -> npt.NDArray[np.int64]:
        """Group members on each host."""
        out = np.zeros(self.hosts.n, dtype=np.int64)
        for name, count in self.query.group_members.items():
            i = self.hosts.index.get(name)
            if i is not None:
                out[i] = count
        return out

    def up(self) -> Mask:
        h = self.hosts
        fresh = (self.query.now - h.heartbeat) <= self.query.down_after_s  # NaN: False
        return np.asarray(~h.forced_down & fresh, dtype=bool)


def compute(ctx: FilterContext) -> Mask:
    """Up (heartbeat fresh, not forced down) and enabled."""
    up: Mask = ctx.up() & ctx.hosts.enabled & ctx.loaded
    return up


def availability_zone(ctx: FilterContext) -> Mask:
    """In the zone asked for (no zone asked: any host, zoned or not)."""
    zone = ctx.query.zone
    if zone is None:
        return np.ones(ctx.hosts.n, dtype=bool)
    if zone not in ctx.hosts.zones:
        return np.zeros(ctx.hosts.n, dtype=bool)
    return np.asarray(ctx.hosts.zone_code == ctx.hosts.zones.index(zone), dtype=bool)


def aggregate_extra_specs(ctx: FilterContext) -> Mask:
    """Every ``aggregate_instance_extra_specs:KEY=VALUE`` of the flavor is met by one of
    the host's aggregates: its metadata KEY holds VALUE (a comma list holds each item).
    As Nova's filter, this attracts and never repels: flavors without the key may still
    land on such hosts (use tenant isolation or traits to repel)."""
    mask = np.ones(ctx.hosts.n, dtype=bool)
    for key, wanted in ctx.query.aggregate_specs.items():
        hit = np.zeros(ctx.hosts.n, dtype=bool)
        for agg in ctx.hosts.aggregates:
            value = agg.metadata.get(key)
            if value is not None and (value == wanted or wanted in split_values(value)):
                hit[ctx.hosts.members[agg.name]] = True
        mask &= hit
    return mask


def tenant_isolation(ctx: FilterContext) -> Mask:
    """A host in aggregates carrying ``filter_tenant_id*`` takes only those projects."""
    allowed = ctx.hosts.tenants.get(ctx.query.project_id)
    return ~ctx.hosts.isolated if allowed is None else ~ctx.hosts.isolated | allowed


def traits(ctx: FilterContext) -> Mask:
    """Each required trait is somewhere in the host's tree; no forbidden one on the host."""
    st = ctx.state
    n = st.n
    alive = st.alive[:n]
    root = st.root[:n]
    ok = np.ones(n, dtype=bool)
    for name in ctx.query.required_traits:
        tree = np.zeros(n, dtype=bool)
        tree[root[st.has_trait(name) & alive]] = True
        ok &= tree
    for name in ctx.query.forbidden_traits:
        ok &= ~st.has_trait(name)
    return ctx.at_hosts(ok)


def resources(ctx: FilterContext) -> Mask:
    """Every class of the flavor fits under the effective ratios and reserved amounts,
    honouring min/max unit and step (the candidates engine decides, nested trees and
    sharing providers included)."""
    return ctx.at_hosts(Search(ctx.state, ctx.query.request).feasible_roots())


def same_host(ctx: FilterContext) -> Mask:
    """Hint ``same_host``: on a host holding one of the named instances."""
    if ctx.query.same_host is None:
        return np.ones(ctx.hosts.n, dtype=bool)
    return ctx.hosts.mask_of(ctx.query.same_host)


def different_host(ctx: FilterContext) -> Mask:
    """Hint ``different_host``: on no host holding one of the named instances."""
    return ~ctx.hosts.mask_of(ctx.query.different_host)


def server_group(ctx: FilterContext) -> Mask:
    """Affinity: with the group's members (anywhere while it has none). Anti-affinity:
    fewer than ``max_server_per_host`` members on the host (default 1). Soft policies
    only weigh."""
    policy = ctx.query.group_policy
    members = ctx.members
    if policy == s.AFFINITY and members.any():
        return members > 0
    if policy == s.ANTI_AFFINITY:
        return members < ctx.query.max_server_per_host
    return np.ones(ctx.hosts.n, dtype=bool)


def num_instances(ctx: FilterContext) -> Mask:
    """Fewer instances than ``max_instances_per_host`` (an aggregate may lower it)."""
    return ctx.count_at_hosts(ctx.state.consumers) < ctx.hosts.max_instances


FILTERS: dict[str, Callable[[FilterContext], Mask]] = {
    s.COMPUTE: compute,
    s.AVAILABILITY_ZONE: availability_zone,
    s.AGGREGATE_EXTRA_SPECS: aggregate_extra_specs,
    s.TENANT_ISOLATION: tenant_isolation,
    s.TRAITS: traits,
    s.RESOURCES: resources,
    s.SAME_HOST: same_host,
    s.DIFFERENT_HOST: different_host,
    s.SERVER_GROUP: server_group,
    s.NUM_INSTANCES: num_instances,
}
assert tuple(FILTERS) == s.FILTER_NAMES


@dataclass(frozen=True)
class Funnel:
    """Hosts considered, then the hosts left after each filter."""

    considered: Mask
    steps: tuple[tuple[str, Mask], ...]

    @property
    def passed(self) -> Mask:
        return self.steps[-1][1] if self.steps else self.considered

    def counts(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = [{"step": "considered",
                                         "hosts": int(self.considered.sum())}]
        before = int(self.considered.sum())
        for name, mask in self.steps:
            left = int(mask.sum())
            out.append({"step": name, "hosts": left, "removed": before - left})
            before = left
        return out

    def removed_by(self) -> dict[str, Mask]:
        """{filter: the hosts it removed (that every earlier filter had kept)}."""
        out = {}
        before = self.considered
        for name, mask in self.steps:
            out[name] = before & ~mask
            before = mask
        return out


def run_filters(ctx: FilterContext, names: tuple[str, ...]) -> Funnel:
    """Run ``names`` in order over the hosts not excluded; each step keeps what every
    filter so far kept."""
    considered = ~ctx.hosts.mask_of(ctx.query.exclude)
    steps = []
    mask = considered
    for name in names:
        mask = mask & FILTERS[name](ctx)
        steps.append((name, mask))
    return Funnel(considered, tuple(steps))


def arrangement(ctx: FilterContext, host: int) -> dict[str, dict[str, int]] | None:
    """The allocation on ``host``'s tree: all on the host's own provider when it can
    take everything, else the first candidate the engine finds in its tree."""
    state = ctx.state
    row = int(ctx.rows[host])
    req = ctx.query.request
    root_uuid = state.uuid_of[row]
    if len(req.groups) == 1:
        g = req.groups[0]
        rec = state.records[row]
        ok = rec is not None and all(any(t in rec.traits for t in any_of)
                                     for any_of in g.required)
        ok = ok and rec is not None and not (g.forbidden & rec.traits)
        for rc, amount in g.resources:
            col = state.classes.index.get(rc)
            ok = ok and col is not None and bool(
                state.has[row, col] and state.used[row, col] + amount <= state.capacity[row, col]
                and state.min_unit[row, col] <= amount <= state.max_unit[row, col]
                and amount % state.step[row, col] == 0)
        if ok:
            return {root_uuid: dict(g.resources)}
    confined = replace(req, groups=tuple(replace(g, in_tree=root_uuid) for g in req.groups),
                       limit=1)
    found = Search(state, confined).candidates(1)
    if not found:  # a sharing provider may serve the tree: search without confining
        found = [c for c in Search(state, req).candidates(None)
                 if any(int(state.root[r]) == row for r in c.allocations)][:1]
    if not found:
        return None
    return {state.uuid_of[r]: dict(res) for r, res in found[0].allocations.items()}
