"""The storage port of corral's own consumer's inbox (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from corral.domain.inbox import Delivered


class InboxStore(Protocol):
    """The consumer's inbox: which events were handled, by ``message_id``."""

    def record_inbox(self, event: Delivered, at: datetime) -> bool: ...
    def trim_inbox(self, before: datetime) -> int: ...
