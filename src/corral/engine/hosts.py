"""HostTable: the compute hosts as aligned arrays, beside the FleetState of providers.

One entry per host, sorted by name (so ties between equally weighed hosts go the same
way every time): liveness inputs, recent build failures, zone, and what its aggregates'
metadata resolve to (strategy, weigher multipliers, instance cap, tenant isolation).
Aggregate metadata is resolved once, when the table is built; a decision only indexes.
The table is rebuilt when hosts or aggregates change, which is rare next to claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from corral.domain.overcommit import Effective
from corral.engine.state import FleetState

#: Weighers, in the order their components are shown. Each has a multiplier
#: ``<name>_weight_multiplier`` in the settings, overridable by aggregate metadata.
WEIGHERS: tuple[str, ...] = ("ram", "cpu", "disk", "num_instances", "soft_affinity",
                             "soft_anti_affinity", "build_failure")
TENANT_KEY = "filter_tenant_id"
#: Weighers of free resources: their sign flips between spread (+) and pack (-).
SIGNED = frozenset({"ram", "cpu", "disk"})


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
    multipliers: Mapping[str, float] = field(default_factory=lambda: {w: 1.0 for w in WEIGHERS})


def split_values(value: str) -> frozenset[str]:
    """An aggregate metadata value as the set of its comma-separated items."""
    return frozenset(v.strip() for v in value.split(",") if v.strip())


class HostTable:
    def __init__(self, hosts: Sequence[HostInfo], aggregates: Sequence[AggregateInfo],
                 policy: Policy) -> None:
        ordered = sorted(hosts, key=lambda h: h.name)
        self.hosts = ordered
        self.n = n = len(ordered)
        self.names = [h.name for h in ordered]
        self.index = {h.name: i for i, h in enumerate(ordered)}
        self.ids = np.array([h.id for h in ordered], dtype=np.int64)
        self.enabled = np.array([h.enabled for h in ordered], dtype=bool)
        self.forced_down = np.array([h.forced_down for h in ordered], dtype=bool)
        self.heartbeat = np.array([np.nan if h.heartbeat is None else h.heartbeat
                                   for h in ordered], dtype=np.float64)
        self.failed_builds = np.array([h.failed_builds for h in ordered], dtype=np.int64)
        self.policy = policy
        by_name = {a.name: a for a in aggregates}
        self.aggregates = [by_name[a] for a in sorted(by_name)]
        members: dict[str, list[int]] = {a: [] for a in by_name}
        for i, h in enumerate(ordered):
            for a in h.aggregates:
                if a in members:
                    members[a].append(i)
        self.members = {a: np.array(idx, dtype=np.int64) for a, idx in members.items()}
        self.zone: list[str | None] = [None] * n
        strategy: list[str | None] = [None] * n
        multipliers = {w: np.full(n, np.inf) for w in WEIGHERS}
        max_instances = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
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
            for w in WEIGHERS:
                key = f"{w}_weight_multiplier"
                if key in md:
                    multipliers[w][idx] = np.minimum(multipliers[w][idx], float(md[key]))
            if "max_instances_per_host" in md:
                max_instances[idx] = np.minimum(max_instances[idx],
                                                int(md["max_instances_per_host"]))
            tenants = set().union(*(split_values(v) for k, v in md.items()
                                    if k.startswith(TENANT_KEY)))
            if tenants:
                self.isolated[idx] = True
                for project in tenants:
                    self.tenants.setdefault(project, np.zeros(n, dtype=bool))[idx] = True
        self.multipliers = {w: np.where(np.isinf(m), policy.multipliers[w], m)
                            for w, m in multipliers.items()}
        self.max_instances = np.where(max_instances == np.iinfo(np.int64).max,
                                      policy.max_instances_per_host, max_instances)
        self.strategy = [s or policy.strategy for s in strategy]
        #: +1 where free resources attract (spread), -1 where they repel (pack).
        self.sign = np.array([-1.0 if s == "pack" else 1.0 for s in self.strategy])
        #: Each weigher's multiplier per host, pack or spread applied; and the one value
        #: when every host has the same (most fleets: no per-aggregate override).
        self.weights = {w: m * self.sign if w in SIGNED else m
                        for w, m in self.multipliers.items()}
        self.weight_const: dict[str, float | None] = {
            w: None if n and not (m == m[0]).all() else float(m[0]) if n else 0.0
            for w, m in self.weights.items()}
        self.any_failed_builds = bool(self.failed_builds.any())
        zones = sorted({z for z in self.zone if z is not None})
        self.zone_code = np.array([-1 if z is None else zones.index(z) for z in self.zone],
                                  dtype=np.int64)
        self.zones = zones
        self._rows: npt.NDArray[np.int64] | None = None
        self._layout = -1

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
