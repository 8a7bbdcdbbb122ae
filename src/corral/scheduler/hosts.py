"""HostTable: the compute hosts as aligned arrays, beside the FleetState of providers.

One entry per host, sorted by name (so ties between equally weighed hosts go the same
way every time): liveness inputs, recent build failures, zone, and what its aggregates'
metadata resolve to (strategy, weigher multipliers, instance cap, tenant isolation).

Columns only, no object per host: a host's aggregates are a code into the table's list
of distinct aggregate sets (most hosts share a few), its effective overcommit values a
code into the list of distinct values, and everything its aggregates decide (zone,
sign, cap, multipliers, tenants, members) is resolved once per distinct set, then
spread to the hosts by indexing with the codes. :attr:`HostTable.hosts` builds a
:class:`HostInfo` on demand for the cold readers (decision records, explanations).

Only the heartbeat column changes in place (:meth:`HostTable.beat`: one float per
heartbeat). Any other change gives a new table sharing what did not change
(services/host_table.py keeps the current one): changed host rows
(:meth:`HostTable.changed`), new hosts at their place in name order
(:meth:`HostTable.inserted`), new aggregate metadata (:meth:`HostTable.with_aggregates`),
so a cache keyed on the table object sees every structural change. It knows no filter
or weigher by name: a weigher asks for its multipliers by its name.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.domain.overcommit import Effective
from corral.engine.state import FleetState
from corral.scheduler.host_sets import (
    MULTIPLIER_SUFFIX,
    TENANT_KEY,
    AggregateInfo,
    Column,
    Interned,
    Policy,
    resolve_sets,
    split_values,
)

__all__ = ["MULTIPLIER_SUFFIX", "TENANT_KEY", "AggregateInfo", "HostChange", "HostInfo",
           "HostTable", "Policy", "split_values"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HostInfo:
    """One host as the scheduler reads it from the store."""

    id: int
    name: str
    provider_uuid: str
    enabled: bool
    forced_down: bool
    heartbeat: float | None
    """Seconds since the epoch of the last heartbeat; None: never heard from."""
    failed_builds: int
    effective: Effective
    aggregates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostChange:
    """A host row as read again after it changed (services/host_table.py)."""

    id: int
    name: str
    provider_uuid: str
    enabled: bool
    forced_down: bool
    heartbeat: float
    """Seconds since the epoch; NaN: never heard from."""
    failed_builds: int
    effective: Effective
    aggregates: tuple[str, ...]


class HostTable:
    """The hosts as columns, sorted by name; see the module docstring."""

    def __init__(self, hosts: Sequence[HostInfo], aggregates: Sequence[AggregateInfo],
                 policy: Policy) -> None:
        ordered = sorted(hosts, key=lambda h: h.name)
        self._setup(
            names=[h.name for h in ordered],
            ids=np.array([h.id for h in ordered], dtype=np.int64),
            provider_uuids=[h.provider_uuid for h in ordered],
            enabled=np.array([h.enabled for h in ordered], dtype=bool),
            forced_down=np.array([h.forced_down for h in ordered], dtype=bool),
            heartbeat=np.array([np.nan if h.heartbeat is None else h.heartbeat
                                for h in ordered], dtype=np.float64),
            failed_builds=np.array([h.failed_builds for h in ordered], dtype=np.int64),
            aggregate_sets=[tuple(sorted(h.aggregates)) for h in ordered],
            effectives=[h.effective for h in ordered],
            aggregates=aggregates, policy=policy)

    @classmethod
    def from_columns(cls, *, names: list[str], ids: Ints, provider_uuids: list[str],
                     enabled: Bools, forced_down: Bools, heartbeat: Floats,
                     failed_builds: Ints, aggregate_sets: Sequence[tuple[str, ...]],
                     effectives: Sequence[Effective], aggregates: Sequence[AggregateInfo],
                     policy: Policy) -> HostTable:
        """A table from aligned columns already sorted by name (the store's order)."""
        table = cls.__new__(cls)
        table._setup(names=names, ids=ids, provider_uuids=provider_uuids, enabled=enabled,
                     forced_down=forced_down, heartbeat=heartbeat, failed_builds=failed_builds,
                     aggregate_sets=aggregate_sets, effectives=effectives,
                     aggregates=aggregates, policy=policy)
        return table

    def _setup(self, *, names: list[str], ids: Ints, provider_uuids: list[str],
               enabled: Bools, forced_down: Bools, heartbeat: Floats, failed_builds: Ints,
               aggregate_sets: Sequence[tuple[str, ...]], effectives: Sequence[Effective],
               aggregates: Sequence[AggregateInfo], policy: Policy) -> None:
        self.policy = policy
        self.names = names
        self.n = len(names)
        self.index = {name: i for i, name in enumerate(names)}
        self.ids = ids
        self.provider_uuids = provider_uuids
        self.enabled = enabled
        self.forced_down = forced_down
        self.heartbeat = heartbeat
        #: Moves with every write to :attr:`heartbeat` (shared, as the column is, by the
        #: tables made from this one: a reader caching what it derived from the column
        #: sees a heartbeat written through any of them).
        self.heartbeat_writes = [0]
        self.failed_builds = failed_builds
        self.any_failed_builds = bool(failed_builds.any())
        self._sets: Interned[tuple[str, ...]] = Interned()
        self._set_code = np.array([self._sets.code(s) for s in aggregate_sets],
                                  dtype=np.int32)
        self._effectives: Interned[Effective] = Interned()
        self._effective_code = np.array([self._effectives.code(e) for e in effectives],
                                        dtype=np.int32)
        self._rows: Ints | None = None
        self._layout = -1
        self._slots: Ints | None = None
        by_name = {a.name: a for a in aggregates}
        self.aggregates = [by_name[a] for a in sorted(by_name)]
        self._resolve()

    # -- what the aggregates say ------------------------------------------------------------

    def with_aggregates(self, aggregates: Sequence[AggregateInfo]) -> HostTable:
        """A table like this one under new aggregates and metadata (memberships come
        with the hosts' rows)."""
        table = copy.copy(self)
        by_name = {a.name: a for a in aggregates}
        table.aggregates = [by_name[a] for a in sorted(by_name)]
        table._resolve()
        return table

    def changed(self, changes: Iterable[HostChange]) -> tuple[HostTable, list[HostChange]]:
        """A table with changed host rows applied, and the changes of hosts it does not
        have (new ones: see :meth:`inserted`). A change of aggregates resolves them
        again. The heartbeat column is shared (same hosts, same places)."""
        table = copy.copy(self)
        table.ids, table.enabled = self.ids.copy(), self.enabled.copy()
        table.forced_down, table.failed_builds = self.forced_down.copy(), self.failed_builds.copy()
        table.provider_uuids = list(self.provider_uuids)
        table._set_code = self._set_code.copy()
        table._effective_code = self._effective_code.copy()
        new = table._change(changes)
        return table, new

    def inserted(self, hosts: Iterable[HostChange]) -> HostTable:
        """A table with new hosts, each at its place in name order."""
        table = copy.copy(self)
        table.names, table.index = list(self.names), dict(self.index)
        table.provider_uuids = list(self.provider_uuids)
        table._insert(hosts)
        return table

    def _resolve(self) -> None:
        """What the aggregates' metadata says per distinct set of aggregates, the policy
        filling the gaps, spread to the hosts by their set's code."""
        found = resolve_sets(self._sets.values, self.aggregates, self.policy)
        code = self._set_code
        k = len(self._sets.values)
        self.zones = found.zones
        self._strategies = found.strategies
        if not k:  # no host at all
            code = np.zeros(0, dtype=np.int32)
            found = resolve_sets([()], self.aggregates, self.policy)
        self.zone_code = found.zone_code[code]
        #: +1 where free resources attract (spread), -1 where they repel (pack).
        self.sign = found.sign[code]
        self.max_instances = found.max_instances[code]
        self.isolated = found.isolated[code]
        #: Whether any host is reserved to some projects (else tenant isolation keeps all).
        self.any_isolated = bool(self.isolated.any())
        self.tenants: dict[str, Bools] = {p: hit[code] for p, hit in found.tenants.items()}
        self._overrides = {w: m[code] for w, m in found.overrides.items()}
        self.members: dict[str, Ints] = {a: np.flatnonzero(hit[code])
                                         for a, hit in found.members.items()}
        self._weights: dict[str, tuple[float | None, Floats]] = {}

    # -- per-host views for the cold paths --------------------------------------------------

    @property
    def hosts(self) -> Sequence[HostInfo]:
        """Each host as a :class:`HostInfo`, built when read (records, explanations)."""
        return Column(self, "info")

    @property
    def zone(self) -> Sequence[str | None]:
        """Each host's availability zone (None: in none)."""
        return Column(self, "zone_of")

    @property
    def strategy(self) -> Sequence[str]:
        """Each host's strategy (pack or spread)."""
        return Column(self, "strategy_of")

    def zone_of(self, i: int) -> str | None:
        code = int(self.zone_code[i])
        return None if code < 0 else self.zones[code]

    def strategy_of(self, i: int) -> str:
        return self._strategies[int(self._set_code[i])]

    def effective(self, i: int) -> Effective:
        return self._effectives.values[int(self._effective_code[i])]

    def aggregates_of(self, i: int) -> tuple[str, ...]:
        return self._sets.values[int(self._set_code[i])]

    def info(self, i: int) -> HostInfo:
        beat = float(self.heartbeat[i])
        return HostInfo(id=int(self.ids[i]), name=self.names[i],
                        provider_uuid=self.provider_uuids[i], enabled=bool(self.enabled[i]),
                        forced_down=bool(self.forced_down[i]),
                        heartbeat=None if np.isnan(beat) else beat,
                        failed_builds=int(self.failed_builds[i]),
                        effective=self.effective(i), aggregates=self.aggregates_of(i))

    # -- keeping it fresh -------------------------------------------------------------------

    def beat(self, idx: Ints | Sequence[int], when: Floats | float) -> None:
        """Heartbeats: hosts ``idx`` were last heard from at ``when`` (epoch seconds),
        unless they hold a later time (a flush of another process may commit after a
        later one); ``idx`` without repeats."""
        self.heartbeat[idx] = np.fmax(self.heartbeat[idx], when)
        self.heartbeat_writes[0] += 1

    def indexes_of(self, ids: Ints) -> Ints:
        """The table index of each host id (-1: not in the table), by an array."""
        slots = self._slots
        if slots is None:
            slots = np.full(int(self.ids.max(initial=-1)) + 1, -1, dtype=np.int64)
            slots[self.ids] = np.arange(self.n)
            self._slots = slots
        out = np.full(len(ids), -1, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(slots))
        out[inside] = slots[ids[inside]]
        return out

    def _change(self, changes: Iterable[HostChange]) -> list[HostChange]:
        new: list[HostChange] = []
        regroup = False
        for c in changes:
            i = self.index.get(c.name)
            if i is None:
                new.append(c)
                continue
            if self.ids[i] != c.id:  # the name is another host's now
                self.ids[i] = c.id
                self._slots = None
                self.heartbeat[i] = c.heartbeat
            else:  # the row's time may be older than a logged flush's
                self.heartbeat[i] = np.fmax(self.heartbeat[i], c.heartbeat)
            self.provider_uuids[i] = c.provider_uuid
            self.enabled[i] = c.enabled
            self.forced_down[i] = c.forced_down
            self.heartbeat_writes[0] += 1
            self.failed_builds[i] = c.failed_builds
            self._effective_code[i] = self._effectives.code(c.effective)
            code = self._sets.code(c.aggregates)
            if code != self._set_code[i]:
                self._set_code[i] = code
                regroup = True
        self.any_failed_builds = bool(self.failed_builds.any())
        if regroup:
            self._resolve()
        return new

    def _insert(self, hosts: Iterable[HostChange]) -> None:
        for c in sorted(hosts, key=lambda h: h.name):
            if c.name in self.index:
                continue
            at = bisect.bisect_left(self.names, c.name)
            self.names.insert(at, c.name)
            self.provider_uuids.insert(at, c.provider_uuid)
            self.ids = np.insert(self.ids, at, c.id)
            self.enabled = np.insert(self.enabled, at, c.enabled)
            self.forced_down = np.insert(self.forced_down, at, c.forced_down)
            self.heartbeat = np.insert(self.heartbeat, at, c.heartbeat)
            self.heartbeat_writes = [0]  # a column of its own
            self.failed_builds = np.insert(self.failed_builds, at, c.failed_builds)
            self._set_code = np.insert(self._set_code, at, self._sets.code(c.aggregates))
            self._effective_code = np.insert(self._effective_code, at,
                                             self._effectives.code(c.effective))
            self.n += 1
            for k in range(at, self.n):
                self.index[self.names[k]] = k
        self.any_failed_builds = bool(self.failed_builds.any())
        self._rows = None
        self._slots = None
        self._resolve()

    # -- what filters and weighers read -----------------------------------------------------

    def multiplier(self, weigher: str) -> Floats:
        """``weigher``'s multiplier per host: the smallest of its aggregates' values, else
        the configured one."""
        default = self.policy.multipliers.get(weigher, 1.0)
        found = self._overrides.get(weigher)
        if found is None:
            return np.full(self.n, default)
        return np.where(np.isinf(found), default, found)

    def weight(self, weigher: str, signed: bool) -> tuple[float | None, Floats]:
        """(the one multiplier every host has, or None; the multiplier per host), pack or
        spread applied when ``signed``. Cached: most fleets have one value per weigher."""
        found = self._weights.get(weigher if signed else "~" + weigher)
        if found is None:
            m = self.multiplier(weigher)
            per_host = m * self.sign if signed else m
            n = self.n
            const = None if n and not (per_host == per_host[0]).all() else \
                float(per_host[0]) if n else 0.0
            if const is not None:  # one value for all: a read-only view of it, no array
                per_host = np.broadcast_to(np.float64(const), (n,))
            found = self._weights[weigher if signed else "~" + weigher] = (const, per_host)
        return found

    def rows(self, state: FleetState) -> Ints:
        """Each host's provider row in ``state`` (-1: not loaded), cached per layout."""
        if self._rows is None or self._layout != state.layout or len(self._rows) != self.n:
            get = state.row_of_uuid.get
            self._rows = np.fromiter((get(u, -1) for u in self.provider_uuids),
                                     dtype=np.int64, count=self.n)
            self._layout = state.layout
            # The engine's own uuid strings, not copies (8 MB at 100,000 hosts).
            uuids, held = self.provider_uuids, state.uuid_of
            for i, row in enumerate(self._rows.tolist()):
                if row >= 0:
                    uuids[i] = held[row]
        return self._rows

    def mask_of(self, names: object) -> Bools:
        """Hosts named in ``names`` (unknown names match nothing)."""
        mask = np.zeros(self.n, dtype=bool)
        idx = [self.index[h] for h in names if h in self.index]  # type: ignore[attr-defined]
        mask[idx] = True
        return mask
