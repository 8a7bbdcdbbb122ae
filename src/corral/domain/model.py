"""Plain records the services hand around: providers and their parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
