"""What a set of aggregates decides for its hosts, and the HostTable's column helpers.

Most hosts of a fleet share a handful of distinct aggregate sets (a zone, a rack
group, a tenant pool): :func:`resolve_sets` reads the aggregates' metadata once per
distinct set (zone, strategy, instance cap, weigher multipliers, tenants, members),
and the HostTable spreads the answers to its hosts by indexing with each host's set
code, so a table of 100,000 hosts resolves its aggregates in a few array takes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, overload

import numpy as np
import numpy.typing as npt

TENANT_KEY = "filter_tenant_id"
#: Aggregate metadata ``<weigher>_weight_multiplier`` overrides a weigher's multiplier.
MULTIPLIER_SUFFIX = "_weight_multiplier"
_NO_CAP = np.iinfo(np.int64).max
T = TypeVar("T")
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


class _Sized(Protocol):
    n: int


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


@dataclass
class SetValues:
    """What each distinct aggregate set decides, one entry per set (by its code)."""

    zones: list[str]
    """Every zone named, sorted (``zone_code`` indexes it; -1: none)."""
    zone_code: Ints
    strategies: list[str]
    sign: Floats
    max_instances: Ints
    isolated: Bools
    tenants: dict[str, Bools]
    overrides: dict[str, Floats]
    """{weigher: its smallest multiplier in the set's aggregates; inf: none set}."""
    members: dict[str, Bools]
    """{aggregate: the sets it is in}."""


def resolve_sets(sets: Sequence[tuple[str, ...]], aggregates: Sequence[AggregateInfo],
                 policy: Policy) -> SetValues:
    """What ``aggregates``' metadata says for each set of aggregate names in ``sets``
    (each sorted by name), the policy filling the gaps: the last zone by name, the first
    strategy by name, the smallest cap and multipliers, the union of tenants."""
    metadata = {a.name: a.metadata for a in aggregates}
    k = len(sets)
    zone: list[str | None] = [None] * k
    strategy: list[str | None] = [None] * k
    cap = np.full(k, _NO_CAP, dtype=np.int64)
    overrides: dict[str, Floats] = {}
    tenants: dict[str, Bools] = {}
    isolated = np.zeros(k, dtype=bool)
    members = {a.name: np.zeros(k, dtype=bool) for a in aggregates}
    for s, names in enumerate(sets):
        for name in names:
            md = metadata.get(name)
            if md is None:
                continue
            members[name][s] = True
            if "availability_zone" in md:
                zone[s] = md["availability_zone"]
            if "scheduler_strategy" in md and strategy[s] is None:
                strategy[s] = md["scheduler_strategy"]
            for key, value in md.items():
                if key.endswith(MULTIPLIER_SUFFIX):
                    m = overrides.setdefault(key[:-len(MULTIPLIER_SUFFIX)], np.full(k, np.inf))
                    m[s] = min(m[s], float(value))
            if "max_instances_per_host" in md:
                cap[s] = min(cap[s], int(md["max_instances_per_host"]))
            projects = set().union(*(split_values(v) for key, v in md.items()
                                     if key.startswith(TENANT_KEY)))
            if projects:
                isolated[s] = True
                for project in projects:
                    tenants.setdefault(project, np.zeros(k, dtype=bool))[s] = True
    zones = sorted({z for z in zone if z is not None})
    strategies = [s or policy.strategy for s in strategy]
    return SetValues(
        zones=zones,
        zone_code=np.array([-1 if z is None else zones.index(z) for z in zone], dtype=np.int64),
        strategies=strategies,
        sign=np.array([-1.0 if s == "pack" else 1.0 for s in strategies], dtype=np.float64),
        max_instances=np.where(cap == _NO_CAP, policy.max_instances_per_host, cap),
        isolated=isolated, tenants=tenants, overrides=overrides, members=members)


class Interned(Generic[T]):
    """Distinct values and the code of each (a list and a dict)."""

    def __init__(self) -> None:
        self.values: list[T] = []
        self.codes: dict[T, int] = {}

    def code(self, value: T) -> int:
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.values)
            self.values.append(value)
        return found


class Column(Sequence[T]):
    """A read-only per-host view computed from the columns (no list kept)."""

    def __init__(self, table: _Sized, get: str) -> None:
        self._table = table
        self._get = get

    def __len__(self) -> int:
        return self._table.n

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        fetch = getattr(self._table, self._get)
        if isinstance(i, slice):
            return [fetch(k) for k in range(*i.indices(self._table.n))]
        if i < 0:
            i += self._table.n
        if not 0 <= i < self._table.n:
            raise IndexError(i)
        found: T = fetch(i)
        return found

    def __iter__(self) -> Iterator[T]:
        fetch = getattr(self._table, self._get)
        return (fetch(k) for k in range(self._table.n))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


