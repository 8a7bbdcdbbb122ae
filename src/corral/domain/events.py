"""Events: what corral tells the world of its changes (docs/events.md).

An event is written in the transaction of the change it tells of (the outbox), so no
change commits without its event and no event outlives a change that rolled back. Its
``message_id`` is stable: the relay publishes it as the AMQP ``message_id`` and
publishes it again, with the same id, when a confirm was lost, so consumers drop
duplicates by it. ``event_type`` names the change as OpenStack notifications do
(``instance.create.start``); the routing key is the event type. ``object_type`` and
``object_id`` name the aggregate whose events stay in order.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

Priority = Literal["INFO", "WARN", "ERROR"]

#: The version of every payload schema in docs/events.md. A field added keeps the
#: major version; a field removed or changed in meaning moves it.
PAYLOAD_VERSION: Final = "1.0"

#: Who publishes: the service and the machine it runs on, as OpenStack's publisher_id.
PUBLISHER_ID: Final = f"corral.{socket.gethostname()}"

#: The version of the instance.* payloads: 1.1 added flavor_name, resources and
#: changed_at (and before/after for moves, fault for build errors).
INSTANCE_PAYLOAD_VERSION: Final = "1.1"

# The event types corral writes (docs/events.md lists each payload; the names follow
# OpenStack's notifications, docs/events.md says where corral's differ).
INSTANCE_CREATE_START: Final = "instance.create.start"
INSTANCE_CREATE_END: Final = "instance.create.end"
INSTANCE_CREATE_ERROR: Final = "instance.create.error"
INSTANCE_RESIZE_END: Final = "instance.resize.end"
INSTANCE_RESIZE_CONFIRM_END: Final = "instance.resize_confirm.end"
INSTANCE_RESIZE_REVERT_END: Final = "instance.resize_revert.end"
INSTANCE_MIGRATE_END: Final = "instance.migrate.end"
INSTANCE_MIGRATE_CONFIRM_END: Final = "instance.migrate_confirm.end"
INSTANCE_MIGRATE_REVERT_END: Final = "instance.migrate_revert.end"
INSTANCE_DELETE_END: Final = "instance.delete.end"
ALLOCATION_UPDATE: Final = "allocation.update"
ALLOCATION_DELETE: Final = "allocation.delete"
HOST_UP: Final = "host.up"
HOST_DOWN: Final = "host.down"
QUOTA_DRIFT: Final = "quota.drift"

#: Instance events that end a move, by kind (resize | migrate) and step.
MOVE_EVENTS: Final[dict[tuple[str, str], str]] = {
    ("resize", "claim"): INSTANCE_RESIZE_END,
    ("resize", "confirm"): INSTANCE_RESIZE_CONFIRM_END,
    ("resize", "revert"): INSTANCE_RESIZE_REVERT_END,
    ("migrate", "claim"): INSTANCE_MIGRATE_END,
    ("migrate", "confirm"): INSTANCE_MIGRATE_CONFIRM_END,
    ("migrate", "revert"): INSTANCE_MIGRATE_REVERT_END,
}

INSTANCE_EVENTS: Final[tuple[str, ...]] = (
    INSTANCE_CREATE_START, INSTANCE_CREATE_END, INSTANCE_CREATE_ERROR, *MOVE_EVENTS.values(),
    INSTANCE_DELETE_END)
#: Every event type of corral's own (the admin changes' events are named after their
#: audit action: docs/audit-log.md).
EVENT_TYPES: Final[tuple[str, ...]] = (
    *INSTANCE_EVENTS, ALLOCATION_UPDATE, ALLOCATION_DELETE, HOST_UP, HOST_DOWN, QUOTA_DRIFT)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to write, in the transaction of its change."""

    message_id: str
    event_type: str
    object_type: str
    object_id: str
    payload: dict[str, Any]
    created_at: datetime
    priority: Priority = "INFO"
    payload_version: str = PAYLOAD_VERSION


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing keeps (None: any)."""

    event_type: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """An event as stored: ``id`` orders them; ``sent_at`` is when the broker confirmed
    it (None: not yet, or no broker is configured)."""

    id: int
    message_id: str
    event_type: str
    priority: str
    publisher_id: str
    created_at: datetime
    object_type: str
    object_id: str
    payload_version: str
    payload: dict[str, Any]
    sent_at: datetime | None

    def message(self) -> dict[str, Any]:
        """The body published to the broker and answered by ``GET /v1/events``."""
        return {"message_id": self.message_id, "event_type": self.event_type,
                "priority": self.priority, "publisher_id": self.publisher_id,
                "timestamp": self.created_at.isoformat() + "Z",
                "object_type": self.object_type, "object_id": self.object_id,
                "payload_version": self.payload_version, "payload": self.payload}
