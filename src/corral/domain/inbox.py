"""What corral's own consumer keeps of each event it handled (docs/events.md).

The inbox makes the consumer idempotent: an event is handled and its ``message_id``
written in one transaction, and a ``message_id`` already in the inbox is a duplicate
(delivery is at least once) that is acknowledged and dropped without being handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event as the broker delivered it to corral's consumer."""

    message_id: str
    event_type: str
    object_type: str
    object_id: str
    #: When the event was written (its ``timestamp``): the consumer's lag is measured
    #: from it.
    created_at: datetime
    payload_version: str
    payload: dict[str, Any]
