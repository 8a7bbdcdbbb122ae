"""Events written with their change, listed for consumers, trimmed by retention.

Every function that changes state and has an event to tell writes it through
:func:`write` (instance payloads: services/instance_events.py) in the same ``repo``
transaction: the event log is the outbox the relay (``services/relay.py``) publishes.
``GET /v1/events`` reads it oldest first with a marker, which is also how a consumer
that was away catches up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from corral.domain import errors
from corral.domain.events import Event, EventFilter, NewEvent
from corral.persistence.clock import utcnow
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.events")

#: The most events one page of ``GET /v1/events`` holds.
MAX_PAGE = 1000


def write(repo: Repo, events: Sequence[NewEvent]) -> None:
    """Write ``events`` in ``repo``'s transaction (the change's own)."""
    repo.add_events(events)


def page(store: Store, where: EventFilter, *, marker: str | None, limit: int
         ) -> list[Event]:
    """Events oldest first, after the one whose ``message_id`` is ``marker``.

    Raises:
        InvalidInput: ``limit`` outside 1..MAX_PAGE, or a marker that is no event.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise errors.InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    with store.read() as repo:
        after = None
        if marker is not None:
            after = repo.event_id_of(marker)
            if after is None:
                raise errors.InvalidInput(f"no event has message_id {marker!r}", field="marker")
        return repo.list_events(where, after=after, limit=limit)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Events the broker has not confirmed: how many, when the oldest was written and
    how old it is now (0 with none)."""

    pending: int
    oldest_at: datetime | None
    oldest_age_s: float


def backlog(store: Store) -> Backlog:
    """The relay's lag, whichever process relays (``corral doctor rabbit`` reads it)."""
    with store.read() as repo:
        count, oldest = repo.pending_summary()
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(count, oldest, age)


def trim(store: Store, retention_s: float, *, sent_only: bool) -> int:
    """Forget events older than the retention (only those the broker confirmed, when
    ``sent_only``: a relay is configured); how many."""
    with store.write() as repo:
        gone = repo.trim_events(utcnow() - timedelta(seconds=retention_s), sent_only=sent_only)
    if gone:
        log.info("events_trimmed", events=gone)
    return gone
