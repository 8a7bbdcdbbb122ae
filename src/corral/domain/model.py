"""Plain records the services hand around: providers and their parts, and the rows
storage returns of providers, consumers and their allocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from corral.domain.capacity import Inventory


@dataclass(frozen=True, slots=True)
class Provider:
    """A resource provider: a compute host, a NUMA node, a shared storage pool..."""

    id: int
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProviderFilter:
    """What GET /resource_providers may be narrowed by; every field is optional.

    ``member_of`` is a list of any-of sets, AND-ed; ``required`` likewise for traits.
    """

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: tuple[frozenset[str], ...] = ()
    forbidden_aggregates: frozenset[str] = frozenset()
    required: tuple[frozenset[str], ...] = ()
    forbidden_traits: frozenset[str] = frozenset()
    resources: tuple[tuple[str, int], ...] = ()


class ProviderSnapshot(NamedTuple):
    """Everything the candidates engine loads of one provider (a named tuple: the engine
    reads thousands at once)."""

    id: int
    uuid: str
    generation: int
    parent_id: int | None
    root_id: int
    inventories: dict[str, Inventory]
    used: dict[str, int]
    traits: list[str]
    aggregates: list[str]
    version: tuple[int, int, int, int]
    """What changes when the provider does: (generation, updated_at in microseconds,
    parent id or 0, root id or 0), see :func:`provider_version`."""
    consumers: int
    """How many consumers hold allocations against it."""


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    """A stored consumer, its owner and type by their external names."""

    id: int
    uuid: str
    project: str
    user: str
    consumer_type: str | None
    generation: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LockedProvider:
    """A provider a claim locked, with the generation it saw."""

    id: int
    uuid: str
    generation: int


_EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)


def micros(when: datetime | None) -> int:
    """A stored (naive UTC) time as whole microseconds since 1970: exact, and a plain
    integer the engine keeps in an array (0 for none)."""
    if when is None:
        return 0
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return (when - _EPOCH) // _MICRO


def provider_version(generation: int, updated_at: datetime | None, parent: int | None,
                     root: int | None) -> tuple[int, int, int, int]:
    """A provider's version as the engine compares it: (generation, updated_at in
    microseconds, parent id or 0, root id or 0)."""
    return int(generation), micros(updated_at), int(parent or 0), int(root or 0)
