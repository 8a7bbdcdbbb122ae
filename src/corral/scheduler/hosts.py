"""HostTable: the compute hosts as aligned arrays, beside the FleetState of providers.

One entry per host, sorted by name (so ties between equally weighed hosts go the same
way every time): liveness inputs, recent build failures, zone, and what its aggregates'
metadata resolve to (strategy, weigher multipliers, instance cap, tenant isolation).
Aggregate metadata is resolved once, when the table is built; a decision only indexes.
The table is rebuilt when hosts or aggregates change, which is rare next to claims.
It knows no filter or weigher by name: a weigher asks for its multipliers by its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from corral.domain.overcommit import Effective
from corral.engine.state import FleetState

TENANT_KEY = "filter_tenant_id"
#: Aggregate metadata ``<weigher>_weight_multiplier`` overrides a weigher's multiplier.
MULTIPLIER_SUFFIX = "_weight_multiplier"
_NO_CAP = np.iinfo(np.int64).max
Floats = npt.NDArray[np.float64]


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


@dataclass(frozen=True)
class AggregateInfo:
    name: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class Policy:
    """The configured defaults a host falls back to when its aggregates say nothing."""

    strategy: str = "spread"
    max_instances_per_host: int = 50
    multipliers: Mapping[str, float] = field(default_factory=dict)
    """{weigher: multiplier}; a weigher not named here weighs 1.0."""


def split_values(value: str) -> frozenset[str]:
    """An aggregate metadata value as the set of its comma-separated items."""
    return frozenset(v.strip() for v in value.split(",") if v.strip())


class HostTable:
    def __init__(self, hosts: Sequence[HostInfo], aggregates: Sequence[AggregateInfo],
                 policy: Policy) -> None:
        ordered = sorted(hosts, key=lambda h: h.name)
        self.hosts = ordered
        self.n = len(ordered)
        self.policy = policy
        self._columns(ordered)
        by_name = {a.name: a for a in aggregates}
        self.aggregates = [by_name[a] for a in sorted(by_name)]
        self._members(ordered)
        self._resolve()
        self._rows: npt.NDArray[np.int64] | None = None
        self._layout = -1
        self._weights: dict[str, tuple[float | None, Floats]] = {}

    def _columns(self, ordered: Sequence[HostInfo]) -> None:
        """The hosts' own fields as aligned arrays."""
        self.names = [h.name for h in ordered]
        self.index = {h.name: i for i, h in enumerate(ordered)}
        self.ids = np.array([h.id for h in ordered], dtype=np.int64)
        self.enabled = np.array([h.enabled for h in ordered], dtype=bool)
        self.forced_down = np.array([h.forced_down for h in ordered], dtype=bool)
        self.heartbeat = np.array([np.nan if h.heartbeat is None else h.heartbeat
                                   for h in ordered], dtype=np.float64)
        self.failed_builds = np.array([h.failed_builds for h in ordered], dtype=np.int64)
        self.any_failed_builds = bool(self.failed_builds.any())

    def _members(self, ordered: Sequence[HostInfo]) -> None:
        """{aggregate: the indexes of its hosts}."""
        members: dict[str, list[int]] = {a.name: [] for a in self.aggregates}
        for i, h in enumerate(ordered):
            for a in h.aggregates:
                if a in members:
                    members[a].append(i)
        self.members = {a: np.array(idx, dtype=np.int64) for a, idx in members.items()}

    def _resolve(self) -> None:
        """What the aggregates' metadata says per host, the policy filling the gaps."""
        n, policy = self.n, self.policy
        self.zone: list[str | None] = [None] * n
        strategy: list[str | None] = [None] * n
        self._overrides: dict[str, Floats] = {}
        max_instances = np.full(n, _NO_CAP, dtype=np.int64)
        self.isolated = np.zeros(n, dtype=bool)
        self.tenants: dict[str, npt.NDArray[np.bool_]] = {}
        for agg in self.aggregates:  # by name: the first one naming a strategy wins
            idx = self.members[agg.name]
            md = agg.metadata
            for i in idx.tolist():
                if "availability_zone" in md:
                    self.zone[i] = md["availability_zone"]
                if "scheduler_strategy" in md and strategy[i] is None:
                    strategy[i] = md["scheduler_strategy"]
            for key, value in md.items():
                if key.endswith(MULTIPLIER_SUFFIX):
                    m = self._overrides.setdefault(key[:-len(MULTIPLIER_SUFFIX)],
                                                   np.full(n, np.inf))
                    m[idx] = np.minimum(m[idx], float(value))
            if "max_instances_per_host" in md:
                max_instances[idx] = np.minimum(max_instances[idx],
                                                int(md["max_instances_per_host"]))
            self._isolate(idx, md)
        self.max_instances = np.where(max_instances == _NO_CAP,
                                      policy.max_instances_per_host, max_instances)
        self.strategy = [s or policy.strategy for s in strategy]
        #: +1 where free resources attract (spread), -1 where they repel (pack).
        self.sign = np.array([-1.0 if s == "pack" else 1.0 for s in self.strategy])
        zones = sorted({z for z in self.zone if z is not None})
        self.zone_code = np.array([-1 if z is None else zones.index(z) for z in self.zone],
                                  dtype=np.int64)
        self.zones = zones

    def _isolate(self, idx: npt.NDArray[np.int64], md: Mapping[str, str]) -> None:
        """Hosts of an aggregate carrying ``filter_tenant_id*`` take only those projects."""
        tenants = set().union(*(split_values(v) for k, v in md.items()
                                if k.startswith(TENANT_KEY)))
        if tenants:
            self.isolated[idx] = True
            for project in tenants:
                self.tenants.setdefault(project, np.zeros(self.n, dtype=bool))[idx] = True

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
        found = self._weights.get(weigher)
        if found is None:
            m = self.multiplier(weigher)
            per_host = m * self.sign if signed else m
            n = self.n
            const = None if n and not (per_host == per_host[0]).all() else \
                float(per_host[0]) if n else 0.0
            found = self._weights[weigher] = (const, per_host)
        return found

    def rows(self, state: FleetState) -> npt.NDArray[np.int64]:
        """Each host's provider row in ``state`` (-1: not loaded), cached per layout."""
        if self._rows is None or self._layout != state.layout:
            self._rows = np.array([state.row_of_uuid.get(h.provider_uuid, -1)
                                   for h in self.hosts], dtype=np.int64)
            self._layout = state.layout
        return self._rows

    def mask_of(self, names: object) -> npt.NDArray[np.bool_]:
        """Hosts named in ``names`` (unknown names match nothing)."""
        mask = np.zeros(self.n, dtype=bool)
        idx = [self.index[h] for h in names if h in self.index]  # type: ignore[attr-defined]
        mask[idx] = True
        return mask
