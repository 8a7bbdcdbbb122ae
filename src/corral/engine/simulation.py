"""The simulator's incremental scheduler: the live filters and weighers, kept warm.

A live decision (services/scheduler.py ``_pick``) runs every filter over every host and
weighs the survivors: about 0.6 ms at 10,000 hosts. The simulator makes hundreds of
thousands of decisions against a fleet it alone changes, so :class:`Placer` keeps what
does not change and updates what does:

* per request key (a shape, and the project when tenant isolation is in play) the
  *static* funnel: the live filter functions that depend on neither usage nor instance
  counts (compute, availability_zone, aggregate_extra_specs, tenant_isolation, traits)
  run once over the fleet, plus the unit rules of ``resources`` (has the class,
  min_unit, max_unit, step);
* per key the eligibility mask: static & every class fits (``used + amount <=
  capacity``) & fewer instances than ``max_instances_per_host``. A placement or a
  departure changes one host, so only that host's column is recomputed, for every key
  at once;
* a decision then weighs the eligible hosts as :func:`corral.engine.weighers.weigh`
  does, operation for operation (so the floating-point scores, and the ties broken by
  host name, are the same), and picks the best, or at random among the best
  ``host_subset_size``.

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
import numpy.typing as npt

from corral.domain import scheduling as s
from corral.engine.filters import FILTERS, FilterContext, HostQuery, run_filters
from corral.engine.hosts import WEIGHERS, HostTable
from corral.engine.state import FleetState
from corral.engine.weighers import weigh

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: Filters run once per request key (they read neither usage nor instance counts).
STATIC_FILTERS = (s.COMPUTE, s.AVAILABILITY_ZONE, s.AGGREGATE_EXTRA_SPECS, s.TENANT_ISOLATION,
                  s.TRAITS)
#: Filters that never remove a host for a simulated boot (no hints, no server group).
NEUTRAL_FILTERS = (s.SAME_HOST, s.DIFFERENT_HOST, s.SERVER_GROUP)
_FREE = {"ram": "MEMORY_MB", "cpu": "VCPU", "disk": "DISK_GB"}
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
    asked: list[tuple[int, int]]
    units: list[Mask]
    """Per asked class (same order): the hosts whose unit rules allow the amount."""
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
        self.state, self.table, self.filters = state, table, filters
        self.subset = host_subset_size
        self.now, self.down_after_s = now, down_after_s
        self.rng = rng or random.Random(0)
        self.rows = table.rows(state).copy()
        k = len(state.classes)
        self.capacity = state.capacity[self.rows, :k].copy()
        self.used = state.used[self.rows, :k].copy()
        self.has = state.has[self.rows, :k].copy()
        self.free = np.where(self.has, self.capacity - self.used, 0)
        self.consumers = state.consumers[self.rows].copy()
        self.max_instances = table.max_instances.astype(np.int64)
        self.count_instances = s.NUM_INSTANCES in filters
        #: Raw values of the free-resource weighers (float, as free_at_hosts gives them).
        self.raw = {w: self._raw_of(w) for w in _FREE}
        self.active = [w for w in WEIGHERS if table.weight_const[w] != 0.0
                       and (w in _FREE or w == "num_instances")]
        self.keys: dict[tuple[int, str | None], int] = {}
        self.key_data: list[_Key] = []
        self.static = np.zeros((0, table.n), dtype=bool)
        self.amounts = np.zeros((0, k), dtype=np.int64)
        self.eligible = np.zeros((0, table.n), dtype=bool)
        self.isolation = bool(table.isolated.any()) and s.TENANT_ISOLATION in filters

    def _raw_of(self, weigher: str) -> Floats:
        col = self.state.classes.index.get(_FREE[weigher])
        if col is None or col >= self.free.shape[1]:
            return np.zeros(self.table.n, dtype=np.float64)
        return self.free[:, col].astype(np.float64)

    # -- request keys -------------------------------------------------------------------------

    def key(self, shape: int, query: HostQuery) -> int:
        """The index of (shape, project if isolation matters), set up on first use."""
        ident = (shape, query.project_id if self.isolation else None)
        found = self.keys.get(ident)
        if found is not None:
            return found
        req = query.request
        if len(req.groups) != 1 or req.groups[0].suffix:
            raise Unsupported("the simulator handles flavors with one request group")
        ctx = self._context(query)
        st = self.state
        k = self.free.shape[1]
        amounts = np.full(k, _NEVER, dtype=np.int64)
        asked = []
        units: list[Mask] = []
        units_ok = np.ones(self.table.n, dtype=bool)
        for rc, amount in req.groups[0].resources:
            col = st.classes.index.get(rc)
            if col is None or col >= k:
                units_ok[:] = False
                continue
            amounts[col] = amount
            asked.append((col, amount))
            r = self.rows
            unit = (self.has[:, col] & (st.min_unit[r, col] <= amount)
                    & (amount <= st.max_unit[r, col]) & (amount % st.step[r, col] == 0))
            units.append(unit)
            units_ok &= unit
        steps = []
        static = np.ones(self.table.n, dtype=bool)
        for name in self.filters:
            if name in STATIC_FILTERS:
                static = static & FILTERS[name](ctx)
                steps.append((name, static))
        static = static & units_ok
        index = len(self.key_data)
        self.keys[ident] = index
        self.key_data.append(_Key(query, amounts, asked, units, steps, units_ok))
        self.static = np.vstack([self.static, static[None, :]])
        self.amounts = np.vstack([self.amounts, amounts[None, :]])
        self.eligible = np.vstack([self.eligible, self._eligible_rows(index)[None, :]])
        return index

    def _context(self, query: HostQuery) -> FilterContext:
        q = replace(query, now=self.now, down_after_s=self.down_after_s)
        return FilterContext(self.state, self.table, q)

    def _eligible_rows(self, index: int) -> Mask:
        ok = self.static[index] & (self.free >= self.amounts[index]).all(axis=1)
        if self.count_instances:
            ok &= self.consumers < self.max_instances
        return np.asarray(ok, dtype=bool)

    # -- deciding -----------------------------------------------------------------------------

    def decide(self, index: int) -> int:
        """The host (HostTable index) a boot of key ``index`` goes to, or -1."""
        idx = np.flatnonzero(self.eligible[index])
        if idx.size == 0:
            return -1
        total: Floats | None = None
        for name in self.active:
            if name == "num_instances":
                x = self.consumers.take(idx).astype(np.float64)
            else:
                x = self.raw[name].take(idx)
            low, high = x.min(), x.max()
            if high == low:
                continue  # normalised to all 0: adds nothing
            # In place, the same IEEE operations as weigh(): (x - low) / (high - low),
            # times the multiplier (exact, so skipped, when it is 1 or -1), summed in
            # WEIGHERS order.
            np.subtract(x, low, out=x)
            np.divide(x, high - low, out=x)
            const = self.table.weight_const[name]
            if const is None:
                x = self.table.weights[name][idx] * x
            elif const not in (1.0, -1.0):
                np.multiply(const, x, out=x)
            elif const == -1.0:
                if total is None:
                    total = np.negative(x, out=x)
                else:
                    np.subtract(total, x, out=total)
                continue
            if total is None:
                total = x
            else:
                np.add(total, x, out=total)
        if total is None:
            best = idx[: self.subset]
        elif self.subset == 1:
            return int(idx[int(total.argmax())])
        else:
            keep = np.arange(idx.size)
            if self.subset < idx.size:
                cut = np.partition(-total, self.subset - 1)[self.subset - 1]
                keep = np.flatnonzero(-total <= cut)
            best = idx[keep[np.lexsort((idx[keep], -total[keep]))][: self.subset]]
        return int(best[self.rng.randrange(best.size)]) if best.size > 1 else int(best[0])

    def refusal(self, index: int) -> Refusal:
        """Which filter removed the last hosts (as the live explanation names it)."""
        data = self.key_data[index]
        if self.table.n == 0:
            return Refusal(None, s.HOSTS_UNAVAILABLE)
        before = np.ones(self.table.n, dtype=bool)
        static = dict(data.steps)
        for name in self.filters:
            if name in static:
                mask = static[name]
            elif name == s.RESOURCES:
                mask = before & data.units_ok & (self.free >= data.amounts).all(axis=1)
            elif name == s.NUM_INSTANCES:
                mask = before & (self.consumers < self.max_instances)
            else:
                mask = before
            if not mask.any():
                code = s.FILTER_REASONS[name][0]
                rc = self._short_class(data, before) if name == s.RESOURCES else (
                    s.INSTANCES if name == s.NUM_INSTANCES else None)
                return Refusal(name, code, rc)
            before = mask
        return Refusal(None, s.CLAIM_CONFLICT)

    def _short_class(self, data: _Key, hosts: Mask) -> str | None:
        """The class that the most of ``hosts`` lack first (in the request's order)."""
        names = self.state.classes.names
        left = hosts.copy()
        counts: dict[str, int] = {}
        for (col, amount), unit in zip(data.asked, data.units, strict=True):
            short = left & ~(unit & (self.free[:, col] >= amount))
            counts[names[col]] = int(short.sum())
            left &= ~short
        return max(counts, key=lambda c: counts[c]) if counts else None

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
        for name, rc in _FREE.items():
            found = st.classes.index.get(rc)
            if found is not None and found in amounts:
                self.raw[name][host] = float(self.free[host, found])
        self.consumers[host] += sign
        st.consumers[row] += sign
        ok = self.static[:, host] & (self.free[host] >= self.amounts).all(axis=1)
        if self.count_instances:
            ok &= bool(self.consumers[host] < self.max_instances[host])
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
