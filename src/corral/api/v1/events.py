"""GET /v1/events: the event log, oldest first, for admins and catching-up consumers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from corral.api.context import RequestContext
from corral.api.v1.common import allow, settings_of, store_of, timestamp
from corral.api.v1.types import QueryPageLimit
from corral.domain.events import Event, EventFilter
from corral.services import events as svc

MayEventsList = Annotated[RequestContext, Depends(allow("corral:events:list"))]

router = APIRouter(tags=["events"])


def event_body(event: Event) -> dict[str, Any]:
    """An event as published, with when the broker confirmed it (null: not yet)."""
    sent = event.sent_at.isoformat() + "Z" if event.sent_at is not None else None
    return {**event.message(), "sent_at": sent}


@router.get("/events")
def list_events(
    request: Request, _ctx: MayEventsList,
    event_type: Annotated[str | None, Query(description="Only this type, e.g. "
                                            "instance.create.start.")] = None,
    object_type: Annotated[str | None, Query(description="Only events of this kind of "
                                             "object (instance, host...).")] = None,
    object_id: Annotated[str | None, Query(description="Only events of this object.")] = None,
    since: Annotated[datetime | None, Query(description="Written at or after (ISO 8601, UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Written before (ISO 8601, UTC).")] = None,
    marker: Annotated[str | None, Query(description="The message_id of the last event of "
                                        "the previous page.")] = None,
    limit: QueryPageLimit = 100,
) -> dict[str, Any]:
    """Events oldest first; ``next_marker`` continues from the last one."""
    where = EventFilter(event_type, object_type, object_id, _naive(since), _naive(until))
    found = svc.page(store_of(request), where, marker=marker, limit=limit)
    return {"events": [event_body(e) for e in found],
            "next_marker": found[-1].message_id if len(found) == limit else None}


@router.get("/events/pending")
def show_event_backlog(request: Request, _ctx: MayEventsList) -> dict[str, Any]:
    """The relay's lag: events the broker has not confirmed yet and the age of the
    oldest (with no broker configured, every event stays unsent)."""
    found = svc.backlog(store_of(request))
    return {"pending": found.pending, "oldest_pending_at": timestamp(found.oldest_at),
            "oldest_pending_age_s": round(found.oldest_age_s, 3),
            "broker_configured": bool(settings_of(request).brokers)}


def _naive(value: datetime | None) -> datetime | None:
    """A UTC time as the database holds it (naive)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
