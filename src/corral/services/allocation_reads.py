"""Reading allocations: what one consumer holds, and a project's usage by consumer type
(re-exported by services/allocations.py, where the Placement handlers find them)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from corral.services.stores import Store


@dataclass(frozen=True)
class ConsumerAllocations:
    consumer: str
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    provider_generations: dict[str, int] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None
    generation: int | None = None
    consumer_type: str | None = None
    updated_at: datetime | None = None


def get_consumer_allocations(store: Store, consumer: str) -> ConsumerAllocations:
    with store.read() as repo:
        row = repo.get_consumer(consumer)
        if row is None:
            return ConsumerAllocations(consumer)
        allocs: dict[str, dict[str, int]] = defaultdict(dict)
        gens: dict[str, int] = {}
        for rp_uuid, gen, rc, used in repo.consumer_allocations(row.id):
            allocs[rp_uuid][rc] = used
            gens[rp_uuid] = gen
    return ConsumerAllocations(consumer, dict(allocs), gens, row.project, row.user,
                               row.generation, row.consumer_type or "unknown", row.updated_at)


def project_usages(store: Store, project: str, user: str | None = None,
                   consumer_type: str | None = None) -> dict[str, tuple[dict[str, int], int]]:
    """Usage of a project (optionally one user) grouped by consumer type."""
    with store.read() as repo:
        return repo.usage_totals(project=project, user=user, consumer_type=consumer_type)
