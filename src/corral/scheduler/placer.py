"""The simulator's incremental scheduler: the live filters and weighers, kept warm.

A live decision (:func:`corral.scheduler.runner.pick`) runs every filter over every host
and weighs the survivors: about 0.6 ms at 10,000 hosts. The simulator makes hundreds of
thousands of decisions against a fleet it alone changes, so :class:`Placer` keeps what
does not change and updates what does:

* per request key (a shape, and the project when tenant isolation is in play) the
  *static* funnel: the enabled filters that read no usage
  (:attr:`~corral.scheduler.plugin.Filter.usage`) run once over the fleet (simulated
  boots carry no hint and no server group, so those filters are static too);
* per key the eligibility mask: static (the unit rules of the classes asked included)
  & what each enabled usage filter says from the
  Placer's arrays (:meth:`~corral.scheduler.plugin.Filter.room`: free units, instances).
  A placement or a departure changes one host, so only that host's column is
  recomputed, for every key at once;
* a decision then weighs the eligible hosts with the live weighers' own code
  (:func:`corral.scheduler.runner.score`, the Placer answering what they read from its
  arrays), and picks the best, or at random among the best ``host_subset_size``.

This holds for flat fleets (every host one provider, no sharing providers) and flavors
with one request group, which is what the simulator builds; :meth:`Placer.check` runs
the live ``run_filters`` and ``weigh`` on the same state and says whether they agree.
Pure NumPy: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from corral.domain import scheduling as s
from corral.engine.request import CandidateRequest
from corral.engine.state import FleetState
from corral.scheduler.filters import FILTERS
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter, Room
from corral.scheduler.query import FilterContext, Floats, HostQuery, Ints, Mask
from corral.scheduler.runner import active, best_of, run_filters, score, weigh

_NEVER = np.iinfo(np.int64).min


class Unsupported(ValueError):
    """The fleet or the request is outside what the incremental path reproduces."""


@dataclass(frozen=True)
class Refusal:
    """Why a boot found no host: the filter that removed the last hosts and its code."""

    filter: str | None
    code: str
    resource_class: str | None = None


@dataclass
class _Key:
    query: HostQuery
    amounts: Ints
    """Per class column: the amount asked, or _NEVER where not asked."""
    asked: list[tuple[str, int, int, Mask]]
    """Per asked class: (class, column, amount, hosts whose unit rules allow it)."""
    steps: list[tuple[str, Mask]]
    """The static filters' masks, in funnel order (for refusals)."""
    units_ok: Mask


def flat(state: FleetState, table: HostTable) -> bool:
    """Every host is one provider with no children, and no provider shares."""
    n = state.n
    rows = table.rows(state)
    return bool((rows >= 0).all() and not state.sharing[:n].any()
                and (state.parent[:n] < 0).all() and n == table.n)


class Placer:
    """Decides boots for one simulated fleet; applies placements and departures.

    It answers what weighers read (``free_units``, ``instances``, ``members``) from its own
    arrays, as the live FilterContext does from the engine's.

    Args:
        state, table: the fleet, built as the live scheduler builds it.
        filters: the enabled filters, in order.
        host_subset_size: pick at random among this many of the best.
        now, down_after_s: liveness as a live decision would compute it.
        rng: the random source for host_subset_size > 1.
    """

    def __init__(self, state: FleetState, table: HostTable, filters: tuple[str, ...],
                 host_subset_size: int = 1, now: float = 0.0, down_after_s: float = 60.0,
                 rng: random.Random | None = None) -> None:
        if not flat(state, table):
            raise Unsupported("the simulator needs a flat fleet (hosts without child or "
                              "sharing providers)")
        self.state, self.table, self.hosts, self.filters = state, table, table, filters
        self.subset = host_subset_size
        self.now, self.down_after_s = now, down_after_s
        self.rng = rng or random.Random(0)
        self.rows = table.rows(state).copy()
        k = len(state.classes)
        self.capacity = state.capacity[self.rows, :k].copy()
        self.used = state.used[self.rows, :k].copy()
        self.has = state.has[self.rows, :k].copy()
        self.free = np.where(self.has, self.capacity - self.used, 0)
        #: Free units per class as floats (what weighers read), one array per column.
        self.free_f = [self.free[:, c].astype(np.float64) for c in range(k)]
        self.consumers = state.consumers[self.rows].copy()
        self.max_instances = table.max_instances.astype(np.int64)
        self.members = np.zeros(table.n, dtype=np.int64)
        self.usage: list[Filter] = [FILTERS[f] for f in filters if FILTERS[f].usage]
        self.weighers = active(table)
        self._cols = dict(state.classes.index)
        #: The request being weighed (weighers read its group policy).
        self.query = HostQuery(request=CandidateRequest(()), resources={}, project_id="")
        self.keys: dict[tuple[int, str | None], int] = {}
        self.key_data: list[_Key] = []
        self.static = np.zeros((0, table.n), dtype=bool)
        self.amounts = np.zeros((0, k), dtype=np.int64)
        self.eligible = np.zeros((0, table.n), dtype=bool)
        #: Whether a request key includes the project (some filter tells projects apart).
        self.by_project = any(FILTERS[f].by_project(table) for f in filters)

    # -- what weighers read -------------------------------------------------------------------

    def free_units(self, rc: str, hosts: Ints, rows: Ints) -> Floats:
        col = self._cols.get(rc)
        if col is None or col >= len(self.free_f):
            return np.zeros(hosts.size, dtype=np.float64)
        return self.free_f[col].take(hosts)

    def instances(self, hosts: Ints, rows: Ints) -> Floats:
        return self.consumers.take(hosts).astype(np.float64)

    # -- request keys -------------------------------------------------------------------------

    def key(self, shape: int, query: HostQuery) -> int:
        """The index of (shape, project if some filter tells projects apart), set up on
        first use."""
        ident = (shape, query.project_id if self.by_project else None)
        found = self.keys.get(ident)
        if found is not None:
            return found
        req = query.request
        if len(req.groups) != 1 or req.groups[0].suffix:
            raise Unsupported("the simulator handles flavors with one request group")
        amounts, asked, units_ok = self._units(req.groups[0].resources)
        ctx = self._context(query)
        steps = []
        static = np.ones(self.table.n, dtype=bool)
        for name in self.filters:
            if not FILTERS[name].usage:
                static = static & FILTERS[name].mask(ctx)
                steps.append((name, static))
        index = len(self.key_data)
        self.keys[ident] = index
        self.key_data.append(_Key(query, amounts, asked, steps, units_ok))
        self.static = np.vstack([self.static, (static & units_ok)[None, :]])
        self.amounts = np.vstack([self.amounts, amounts[None, :]])
        self.eligible = np.vstack([self.eligible, self._eligible_rows(index)[None, :]])
        return index

    def _units(self, resources: tuple[tuple[str, int], ...]
               ) -> tuple[Ints, list[tuple[str, int, int, Mask]], Mask]:
        """Per class column the amount asked (_NEVER: not asked); per class asked the
        hosts whose unit rules (min_unit, max_unit, step_size) allow it; where all do."""
        st = self.state
        k = len(self.free_f)
        amounts = np.full(k, _NEVER, dtype=np.int64)
        asked = []
        units_ok = np.ones(self.table.n, dtype=bool)
        r = self.rows
        for rc, amount in resources:
            col = st.classes.index.get(rc)
            if col is None or col >= k:
                units_ok[:] = False
                continue
            amounts[col] = amount
            unit = (self.has[:, col] & (st.min_unit[r, col] <= amount)
                    & (amount <= st.max_unit[r, col]) & (amount % st.step[r, col] == 0))
            asked.append((rc, col, amount, unit))
            units_ok &= unit
        return amounts, asked, units_ok

    def _context(self, query: HostQuery) -> FilterContext:
        q = replace(query, now=self.now, down_after_s=self.down_after_s)
        return FilterContext(self.state, self.table, q)

    def fits(self, index: int) -> Ints:
        """How many more boots of key ``index`` each host takes, by the enabled filters
        that read usage (their :meth:`~corral.scheduler.plugin.Filter.count`)."""
        data = self.key_data[index]
        room = Room(self.free, self.consumers, self.max_instances, data.amounts,
                    data.units_ok, data.asked)
        fit = np.full(self.table.n, np.iinfo(np.int64).max, dtype=np.int64)
        for f in self.usage:
            count = f.count(room)
            if count is not None:
                fit = np.minimum(fit, count)
        return fit

    def _eligible_rows(self, index: int) -> Mask:
        ok: Mask = self.static[index].copy()
        room = Room(self.free, self.consumers, self.max_instances, self.amounts[index], True)
        for f in self.usage:
            ok &= f.room(room)
        return ok

    # -- deciding -----------------------------------------------------------------------------

    def decide(self, index: int) -> int:
        """The host (HostTable index) a boot of key ``index`` goes to, or -1."""
        idx = np.flatnonzero(self.eligible[index])
        if idx.size == 0:
            return -1
        self.query = self.key_data[index].query
        total = score(self, idx, idx, weighers=self.weighers)
        if total is None:  # no weigher tells the hosts apart
            best = idx[: self.subset]
        elif self.subset == 1:
            return int(idx[int(total.argmax())])
        else:
            best = idx[best_of(idx, total, self.subset)]
        return int(best[self.rng.randrange(best.size)]) if best.size > 1 else int(best[0])

    def refusal(self, index: int) -> Refusal:
        """Which filter removed the last hosts (as the live explanation names it)."""
        data = self.key_data[index]
        if self.table.n == 0:
            return Refusal(None, s.HOSTS_UNAVAILABLE)
        before = np.ones(self.table.n, dtype=bool)
        static = dict(data.steps)
        room = Room(self.free, self.consumers, self.max_instances, data.amounts,
                    data.units_ok, data.asked)
        for name in self.filters:
            f = FILTERS[name]
            mask = before & (f.room(room) if f.usage else static[name])
            if not mask.any():
                return Refusal(name, f.reason[0], f.short_class(room, before))
            before = mask
        return Refusal(None, s.CLAIM_CONFLICT)

    # -- changes ------------------------------------------------------------------------------

    def place(self, host: int, amounts: Mapping[int, int], sign: int = 1) -> None:
        """Apply (sign +1) or remove (-1) an instance of ``amounts`` ({column: units})."""
        row = int(self.rows[host])
        st = self.state
        for col, amount in amounts.items():
            delta = sign * amount
            self.used[host, col] += delta
            st.used[row, col] += delta
            if self.has[host, col]:
                self.free[host, col] -= delta
            self.free_f[col][host] = float(self.free[host, col])
        self.consumers[host] += sign
        st.consumers[row] += sign
        ok = self.static[:, host].copy()
        room = Room(self.free[host], int(self.consumers[host]), int(self.max_instances[host]),
                    self.amounts, True)
        for f in self.usage:
            ok &= f.room(room)
        self.eligible[:, host] = ok

    # -- the live path, for checking ----------------------------------------------------------

    def check(self, index: int, chosen: int) -> str | None:
        """Run the live filters and weighers on the same state; None when they agree with
        ``chosen`` (a host or -1), else what differs. Only with host_subset_size 1."""
        data = self.key_data[index]
        ctx = self._context(data.query)
        funnel = run_filters(ctx, self.filters)
        passed = np.flatnonzero(funnel.passed)
        mine = np.flatnonzero(self.eligible[index])
        if not np.array_equal(passed, mine):
            return f"filters: live {passed.size} hosts, simulator {mine.size}"
        if passed.size == 0:
            return None if chosen == -1 else "live refuses, simulator places"
        live = int(weigh(ctx, passed, top=1).hosts[0])
        if live != chosen:
            return f"weighers: live {self.table.names[live]}, simulator " \
                   f"{self.table.names[chosen] if chosen >= 0 else None}"
        return None
