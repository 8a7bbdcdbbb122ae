"""A provider as one Python object (ProviderRecord), for what FleetState takes and
rebuilds on demand; the growing name maps and the bitset helpers the state uses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from corral.domain.capacity import Inventory

#: A provider's version: (generation, updated_at in microseconds, parent id, root id),
#: 0 for no parent. What the store's version reads return (persistence/snapshot.py).
Version = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One provider as a Python object: what :meth:`FleetState.apply` takes and
    :meth:`FleetState.record` rebuilds (the state keeps no such object)."""

    id: int
    uuid: str
    generation: int
    parent_id: int | None
    root_id: int
    inventories: dict[str, Inventory] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()
    version: tuple[object, ...] = ()
    """(generation, updated_at microseconds, parent id or 0, root id), or () when unknown."""
    consumers: int = 0
    """How many consumers hold allocations here (a host's instance count)."""


class Names:
    """A growing name -> column index map."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def get(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found

    def __len__(self) -> int:
        return len(self.names)



def names_of(words: npt.NDArray[np.uint64], names: Names) -> frozenset[str]:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    return frozenset(names.names[i] for i in np.flatnonzero(bits) if i < len(names))


class RecordSource(Protocol):
    """What builds a row's provider (FleetState)."""

    @property
    def n(self) -> int: ...
    def record(self, row: int) -> ProviderRecord | None: ...


class Records:
    """``state.records[row]``: the provider of a row built on demand (None when dead)."""

    def __init__(self, state: RecordSource) -> None:
        self.state = state

    def __getitem__(self, row: int) -> ProviderRecord | None:
        return self.state.record(int(row))

    def __len__(self) -> int:
        return self.state.n

    def __iter__(self) -> Iterator[ProviderRecord | None]:
        return (self.state.record(row) for row in range(self.state.n))
