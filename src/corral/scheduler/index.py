"""HostIndex: the host-ordered arrays a decision reads, kept in step with the engine.

A decision over 100,000 hosts cannot afford to gather every host's provider row out of
the engine (fancy indexing), to ask the candidates engine to search the whole fleet,
or to sort every score. Per (HostTable, FleetState) pair this module keeps:

- host-ordered copies of what moves with claims (free units per class, instances),
  refreshed from the rows the engine reports changed since it last looked
  (``FleetState.changed_since``) and from the rows a decision in progress applies
  (:meth:`HostIndex.touch`); without that report (an engine that has none, or one
  too far back) everything is gathered again;
- masks that depend only on the fleet's structure (traits, unit rules, zone,
  aggregates, tenants), memoised by their inputs until a changed row alters a
  provider's structure (inventories' unit rules, traits, aggregates, tree), the
  layout moves or the HostTable is replaced (the *epoch*);
- per block of :data:`BLOCK` hosts, the largest and the smallest value of each of
  those arrays, so that the best hosts can be found by bounding whole blocks
  (:mod:`corral.scheduler.fast`).

Nothing here changes an answer: the masks are the filters' own, and what is copied is
what the filters and weighers would read through the rows. Only cost moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.engine.state import FleetState
from corral.scheduler.hosts import HostTable

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: Hosts per block of the bounds (a power of two; about 200 blocks at 100,000 hosts).
BLOCK = 512

#: Usage masks kept up to date at once (distinct flavors, in practice).
KEPT_LIMIT = 64



@dataclass(frozen=True)
class Column:
    """One value per host, host order, padded to whole blocks (the padding is never a
    candidate), with each block's largest and smallest value (bounds: they may count
    hosts that are not candidates)."""

    values: Floats
    high: Floats
    low: Floats


def column_of(values: Floats, blocks: int, block: int) -> Column:
    """A :class:`Column` of ``values`` (one per host), padded with zeros to ``blocks``
    blocks of ``block`` hosts."""
    padded = np.zeros(blocks * block, dtype=np.float64)
    padded[:values.size] = values
    shaped = padded.reshape(blocks, block)
    return Column(padded, shaped.max(axis=1), shaped.min(axis=1))


def engine_version(state: FleetState) -> int | None:
    """The engine's change counter (None: this engine keeps none)."""
    found = getattr(state, "version", None)
    return None if found is None else int(found)


def structure_of(state: FleetState) -> int | None:
    """The engine's structure counter (None: this engine keeps none: every sync then
    starts a new epoch)."""
    found = getattr(state, "structure", None)
    return None if found is None else int(found)


def changed_rows(state: FleetState, since: int) -> Ints | None:
    """The rows the engine wrote since ``since`` (None: it cannot say)."""
    ask = getattr(state, "changed_since", None)
    if ask is None:
        return None
    found = ask(since)
    return None if found is None else np.asarray(found, dtype=np.int64)


@dataclass
class _Fresh:
    """Which heartbeats are at least ``oldest``, as of a count of heartbeat writes."""

    writes: int
    oldest: float
    mask: Mask
    below: float | None = None
    """The latest heartbeat under ``oldest`` (-inf: none), once asked."""
    above: float = math.inf
    """The earliest at or past it."""

    def holds(self, heartbeat: Floats, oldest: float) -> bool:
        """Whether the mask is also that of ``oldest``: no heartbeat in between."""
        if self.below is None:
            self.below = float(np.max(heartbeat, where=heartbeat < self.oldest,
                                      initial=-math.inf))
            self.above = float(np.min(heartbeat, where=self.mask, initial=math.inf))
        return self.below < oldest <= self.above


class HostIndex:
    """The arrays of one HostTable over one FleetState (the caller holds the engine's
    lock). Built by :class:`IndexCache`; :meth:`sync` before each decision."""

    def __init__(self, state: FleetState, table: HostTable, block: int = BLOCK) -> None:
        self.state = state
        self.table = table
        self.n = table.n
        self.block = block
        self.blocks = max(1, -(-self.n // block))
        self.layout = state.layout
        self.shape = self._shape()
        self.rows: Ints = table.rows(state).copy()
        self.host_of_row = np.full(state.rows, -1, dtype=np.int64)
        on = np.flatnonzero(self.rows >= 0)
        self.host_of_row[self.rows[on]] = on
        self.epoch = 0
        self.version = engine_version(state)
        self._memo: dict[Hashable, Mask] = {}
        self._kept: dict[Hashable, tuple[Mask, Callable[[Ints], Mask]]] = {}
        self._flat: bool | None = None
        self._fresh: _Fresh | None = None
        #: Every host (read-only): what a filter that keeps them all returns.
        self.everyone = np.ones(self.n, dtype=bool)
        self.everyone.setflags(write=False)
        self.gather()

    def _shape(self) -> tuple[object, ...]:
        st = self.state
        return (st.rows, st.capacity.shape, st.trait_bits.shape, st.agg_bits.shape)

    # -- gathering -------------------------------------------------------------------------

    def gather(self) -> None:
        """Everything read again through the rows (a new index, or no change report)."""
        st, n = self.state, self.n
        k = st.capacity.shape[1]
        pad = self.blocks * self.block
        ok = np.flatnonzero(self.rows >= 0)
        at = self.rows[ok]
        self.loaded = np.zeros(n, dtype=bool)
        self.loaded[ok] = st.alive[at]
        self.free = np.zeros((k, pad), dtype=np.int64)
        self.free[:, ok] = (st.capacity[at] - st.used[at]).T
        self.has = np.zeros((k, pad), dtype=bool)
        self.has[:, ok] = st.has[at].T
        self.consumers = np.zeros(pad, dtype=np.int64)
        self.consumers[ok] = st.consumers[at]
        # Weighed values: free units of each class (0 where a host has none), instances.
        self.values = np.zeros((k + 1, pad), dtype=np.float64)
        self.values[:k] = np.where(self.has, self.free, 0)
        self.values[k] = self.consumers
        shaped = self.values.reshape(k + 1, self.blocks, self.block)
        self.high = shaped.max(axis=2)
        self.low = shaped.min(axis=2)
        self.structure = structure_of(st)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.epoch += 1
        self._memo.clear()
        self._kept.clear()
        self._flat = None

    # -- keeping in step -------------------------------------------------------------------

    def current(self) -> bool:
        """Whether this index still describes its state's layout (else rebuild it)."""
        return self.state.layout == self.layout and self._shape() == self.shape

    def sync(self) -> None:
        """Catch up with the rows the engine changed since the last look."""
        version = engine_version(self.state)
        if version is not None and version == self.version:
            return
        changed = None if version is None or self.version is None else \
            changed_rows(self.state, self.version)
        if changed is None:
            self.gather()
        else:
            self.touch(changed)
            structure = structure_of(self.state)
            if structure is None or structure != self.structure:
                self.structure = structure
                self._new_epoch()
        self.version = version

    def touch(self, rows: Sequence[int] | Ints) -> None:
        """Read the usage of ``rows`` of the engine again (rows a claim or a decision
        wrote; a change of structure is the engine's :attr:`FleetState.structure`,
        which :meth:`sync` follows)."""
        st = self.state
        at = np.unique(np.asarray(rows, dtype=np.int64))
        at = at[(at >= 0) & (at < self.host_of_row.size)]
        if at.size == 0:
            return
        hosts = self.host_of_row[at]
        on = hosts >= 0
        h, r = hosts[on], at[on]
        if h.size == 0:
            return
        k = self.free.shape[0]
        self.loaded[h] = st.alive[r]
        self.free[:, h] = (st.capacity[r] - st.used[r]).T
        self.has[:, h] = st.has[r].T
        self.consumers[h] = st.consumers[r]
        self.values[:k, h] = np.where(self.has[:, h], self.free[:, h], 0)
        self.values[k, h] = self.consumers[h]
        size = self.block
        for b in np.unique(h // size).tolist():
            part = self.values[:, b * size:(b + 1) * size]
            self.high[:, b] = part.max(axis=1)
            self.low[:, b] = part.min(axis=1)
        for mask, at_hosts in self._kept.values():
            mask[h] = at_hosts(h)

    # -- what the decision reads -------------------------------------------------------------

    def memo(self, key: Hashable, compute: Callable[[], Mask]) -> Mask:
        """A structural mask, computed once per epoch (read-only: combine, never write)."""
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= 4 * KEPT_LIMIT:
                self._memo.clear()
            found = compute()
            found.setflags(write=False)
            self._memo[key] = found
        return found

    def kept(self, key: Hashable, at_hosts: Callable[[Ints], Mask]) -> Mask:
        """A mask of the usage, kept up to date host by host: ``at_hosts(hosts)`` is its
        value at ``hosts`` (an array of host indexes), from this index's arrays and the
        table only. Computed whole once, then at the hosts each touch reads again (a
        copy comes back)."""
        found = self._kept.get(key)
        if found is None:
            if len(self._kept) >= KEPT_LIMIT:
                self._kept.clear()
            found = (at_hosts(np.arange(self.n)), at_hosts)
            self._kept[key] = found
        return found[0].copy()

    def fresh(self, oldest: float) -> Mask:
        """Hosts whose heartbeat is at least ``oldest`` (read-only; NaN, never heard
        from, is not). Kept while no heartbeat is written and no host's heartbeat lies
        between ``oldest`` and the value it was computed for: the same hosts pass."""
        table = self.table
        writes = table.heartbeat_writes[0]
        found = self._fresh
        if found is None or found.writes != writes:
            found = self._fresh = _Fresh(writes, oldest, table.heartbeat >= oldest)
            found.mask.setflags(write=False)
        elif found.oldest != oldest and not found.holds(table.heartbeat, oldest):
            self._fresh = None
            return self.fresh(oldest)
        return found.mask

    @property
    def flat(self) -> bool:
        """Every loaded host is a provider tree of one (no children) and no sharing
        provider is alive: a host's tree can take a single-group request exactly when
        the host's own provider can."""
        if self._flat is None:
            st = self.state
            n = st.n
            rows = self.rows[self.loaded]
            sharing = bool((st.sharing[:n] & st.alive[:n]).any())
            self._flat = not sharing and bool(
                ((st.parent[rows] < 0) & (st.tree_size[rows] == 1)).all())
        return self._flat

    def column(self, rc: str | None) -> Column:
        """Free units of ``rc`` on each host (None: instances on each host)."""
        st = self.state
        if rc is None:
            i = self.free.shape[0]
        else:
            col = st.classes.index.get(rc)
            if col is None or col >= self.free.shape[0]:
                return column_of(np.zeros(self.n), self.blocks, self.block)
            i = col
        return Column(self.values[i], self.high[i], self.low[i])

    def fits(self, resources: tuple[tuple[str, int], ...]) -> Mask:
        """Hosts loaded whose own provider takes every ``(class, amount)`` (unit rules and
        free units; engine/masks.py ``fits`` read at each host), kept up to date."""
        cols = []
        for rc, amount in resources:
            col = self.state.classes.index.get(rc)
            if col is None or col >= self.free.shape[0]:
                return np.zeros(self.n, dtype=bool)
            cols.append((col, amount, self._units(col, amount)))

        def at_hosts(h: Ints) -> Mask:
            ok = self.loaded[h]
            for col, amount, units in cols:
                ok &= units[h] & (self.free[col, h] >= amount)
            return ok

        return self.kept(("fits", resources), at_hosts)

    def _units(self, col: int, amount: int) -> Mask:
        """Where the unit rules of ``col`` allow ``amount`` (memoised: structural)."""
        found = self._memo.get(("units", col, amount))
        if found is None:
            found = self.memo(("units", col, amount), lambda: self._unit_rules(col, amount))
        return found

    def _unit_rules(self, col: int, amount: int) -> Mask:
        st = self.state
        ok = np.zeros(self.n, dtype=bool)
        on = np.flatnonzero(self.loaded)
        r = self.rows[on]
        ok[on] = (st.has[r, col] & (st.min_unit[r, col] <= amount)
                  & (st.max_unit[r, col] >= amount) & (amount % st.step[r, col] == 0))
        return ok


class IndexCache:
    """The process's one HostIndex, rebuilt when the HostTable object, the FleetState
    object or the engine's layout changes."""

    def __init__(self, block: int = BLOCK) -> None:
        self.block = block
        self._index: HostIndex | None = None

    def get(self, state: FleetState, table: HostTable) -> HostIndex:
        found = self._index
        if found is None or found.state is not state or found.table is not table \
                or not found.current():
            found = self._index = HostIndex(state, table, self.block)
        else:
            found.sync()
        return found

    def current(self, state: FleetState) -> HostIndex | None:
        """The index over ``state`` as it is (None: none, or out of step)."""
        found = self._index
        return found if found is not None and found.state is state and found.current() \
            else None
