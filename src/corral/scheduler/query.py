"""What one decision asks (HostQuery), what a filter or weigher reads (FilterContext),
and the funnel of masks the filters leave (Funnel).

A filter is a handful of array operations over the HostTable and the FleetState,
whatever the fleet size; the context caches what several of them read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from corral.engine.request import CandidateRequest
from corral.engine.search import Search
from corral.engine.state import FleetState
from corral.scheduler.hosts import HostTable
from corral.scheduler.index import Column, HostIndex, column_of

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


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
    index: HostIndex | None = None
    """The host-ordered arrays kept in step with ``state`` (scheduler/index.py), when
    the caller keeps them: the same answers, without reading every host's row."""

    @cached_property
    def rows(self) -> Ints:
        if self.index is not None:
            return self.index.rows
        return self.hosts.rows(self.state)

    @cached_property
    def everyone(self) -> Mask:
        """Every host (read-only). A filter that keeps every host for this query returns
        this very array, and the funnel skips it (no mask to combine or count)."""
        if self.index is not None:
            return self.index.everyone
        out = np.ones(self.hosts.n, dtype=bool)
        out.setflags(write=False)
        return out

    @cached_property
    def loaded(self) -> Mask:
        if self.index is not None:
            return self.index.loaded.copy()
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

    def kept(self, key: Hashable, at_hosts: Callable[[Ints], Mask]) -> Mask:
        """With an index: a usage mask kept up to date host by host
        (:meth:`HostIndex.kept`; ``at_hosts`` reads :meth:`instances_at_hosts` and the
        table only). Without: ``at_hosts`` of every host."""
        if self.index is None:
            return at_hosts(np.arange(self.hosts.n))
        return self.index.kept(key, at_hosts)

    def instances_at_hosts(self) -> Ints:
        """Instances on each host (0 where not loaded)."""
        if self.index is not None:
            return self.index.consumers[:self.hosts.n]
        return self.count_at_hosts(self.state.consumers)

    def memo(self, key: Hashable, compute: Callable[[], Mask]) -> Mask:
        """``compute()``, kept by the index while the fleet's structure stays (a mask
        that depends on ``key`` and the structure only; read-only)."""
        return compute() if self.index is None else self.index.memo(key, compute)

    def count_at_hosts(self, per_row: Ints) -> Ints:
        out = np.zeros(self.hosts.n, dtype=np.int64)
        loaded = self.loaded
        out[loaded] = per_row[self.rows[loaded]]
        return out

    @cached_property
    def members(self) -> Ints:
        """Group members on each host."""
        out = np.zeros(self.hosts.n, dtype=np.int64)
        for name, count in self.query.group_members.items():
            i = self.hosts.index.get(name)
            if i is not None:
                out[i] = count
        return out

    # -- what weighers read (the simulator's Placer answers the same questions) ---------------

    def free_units(self, rc: str, hosts: Ints, rows: Ints) -> Floats:
        """Free units of ``rc`` on ``hosts`` at provider ``rows`` (0 where a row has none,
        or is -1)."""
        st = self.state
        col = st.classes.index.get(rc)
        out = np.zeros(rows.size, dtype=np.float64)
        if col is None or col >= st.capacity.shape[1]:
            return out
        loaded = rows >= 0
        at = rows[loaded]
        free = st.capacity[:, col].take(at) - st.used[:, col].take(at)
        out[loaded] = np.where(st.has[:, col].take(at), free, 0)
        return out

    def instances(self, hosts: Ints, rows: Ints) -> Floats:
        """Instances on ``hosts`` at provider ``rows`` (0 where not loaded)."""
        counts = np.where(rows >= 0, self.state.consumers.take(np.maximum(rows, 0)), 0)
        return counts.astype(np.float64)

    # -- the same, every host at once (the fast decision, with an index) -----------------------

    def free_column(self, rc: str) -> Column:
        """:meth:`free_units` of every host, with block bounds."""
        assert self.index is not None
        return self.index.column(rc)

    def instances_column(self) -> Column:
        """:meth:`instances` of every host, with block bounds."""
        assert self.index is not None
        return self.index.column(None)

    def column_of(self, values: Floats) -> Column:
        """Any per-host values (host order) as a column with block bounds."""
        assert self.index is not None
        return column_of(values, self.index.blocks, self.index.block)


def feasible(ctx: FilterContext) -> Mask:
    """The candidates engine's verdict: hosts whose tree can take the whole request.

    With an index, a request of one group with no aggregates, tree or root conditions
    on a flat fleet (:attr:`HostIndex.flat`) is answered from the host-ordered arrays:
    such a tree takes the request exactly when its one provider takes each class (the
    unsuffixed group's traits are the traits filter's, not the search's, at this step).
    """
    index, req = ctx.index, ctx.query.request
    if index is not None and len(req.groups) == 1 and not req.root_required \
            and not req.root_forbidden and index.flat:
        g = req.groups[0]
        if g.suffix == "" and not g.member_of and not g.forbidden_aggregates \
                and g.in_tree is None:
            return index.fits(g.resources)
    return ctx.at_hosts(Search(ctx.state, req).feasible_roots())


@dataclass(frozen=True)
class Funnel:
    """Hosts considered, then the hosts left after each filter."""

    considered: Mask
    steps: tuple[tuple[str, Mask], ...]
    sampled: int | None = None
    """How many of the hosts that passed were weighed, when the sampling mode
    (``score_sample_percent``) weighed only some of them (None: all were)."""

    @property
    def passed(self) -> Mask:
        return self.steps[-1][1] if self.steps else self.considered

    def counts(self) -> list[dict[str, object]]:
        """Hosts left at each step (a step that kept the previous mask itself, a filter
        that kept every host, is not counted again)."""
        before = int(np.count_nonzero(self.considered))
        out: list[dict[str, object]] = [{"step": "considered", "hosts": before}]
        previous = self.considered
        for name, mask in self.steps:
            left = before if mask is previous else int(np.count_nonzero(mask))
            out.append({"step": name, "hosts": left, "removed": before - left})
            before, previous = left, mask
        if self.sampled is not None:
            out.append({"step": "sampled", "hosts": self.sampled,
                        "removed": before - self.sampled})
        return out

    def removed_by(self) -> dict[str, Mask]:
        """{filter: the hosts it removed (that every earlier filter had kept)}."""
        out = {}
        before = self.considered
        for name, mask in self.steps:
            out[name] = before & ~mask
            before = mask
        return out
