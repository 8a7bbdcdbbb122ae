"""The events of allocations written or removed through the Placement API
(docs/events.md): ``allocation.update`` for a consumer that holds something after
the write, ``allocation.delete`` for one that held something and now holds nothing.
One event per consumer (``object_id`` is the consumer's uuid), in the write's own
transaction. The instance API's claims write instance.* events instead.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from corral.domain import events as ev
from corral.domain.events import NewEvent
from corral.domain.model import ConsumerRow
from corral.persistence.clock import utcnow
from corral.services.stores import Repo


def holding(repo: Repo, consumers: Iterable[str]) -> set[str]:
    """Those of ``consumers`` that hold allocations now (before a write empties them)."""
    return {c for c in consumers
            if (row := repo.get_consumer(c)) is not None and repo.consumer_allocations(row.id)}


def written(repo: Repo, consumers: Iterable[str], emptied: set[str]) -> None:
    """After a write: an event for each consumer that holds something, and for each of
    ``emptied`` (they held something before the write) that holds nothing now."""
    at = utcnow()
    out: list[NewEvent] = []
    for consumer in dict.fromkeys(consumers):
        row = repo.get_consumer(consumer)
        held: dict[str, dict[str, int]] = defaultdict(dict)
        if row is not None:
            for rp_uuid, _gen, rc, used in repo.consumer_allocations(row.id):
                held[rp_uuid][rc] = used
        if held:
            out.append(_event(ev.ALLOCATION_UPDATE, consumer, row, dict(held), at))
        elif consumer in emptied:
            out.append(_event(ev.ALLOCATION_DELETE, consumer, row, {}, at))
    repo.add_events(out)


def deleted(repo: Repo, row: ConsumerRow) -> None:
    """``row`` held something and was deleted (DELETE /allocations/{consumer})."""
    repo.add_events([_event(ev.ALLOCATION_DELETE, row.uuid, row, {}, utcnow())])


def _event(event_type: str, consumer: str, row: ConsumerRow | None,
           held: dict[str, dict[str, int]], at: Any) -> NewEvent:
    resources: dict[str, int] = defaultdict(int)
    for amounts in held.values():
        for rc, amount in amounts.items():
            resources[rc] += amount
    return NewEvent(str(uuid.uuid4()), event_type, "consumer", consumer, {
        "consumer_id": consumer, "project_id": row.project if row else None,
        "user_id": row.user if row else None,
        "consumer_type": row.consumer_type if row else None,
        "generation": row.generation if row and held else None,
        "allocations": held, "resources": dict(sorted(resources.items())),
        "changed_at": at.isoformat() + "Z"}, at)
