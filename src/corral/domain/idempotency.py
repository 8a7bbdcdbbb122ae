"""What a keyed request answered, as stored for its replays (``idempotency_keys``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer of the call that used an idempotency key first."""

    fingerprint: str
    """What identifies the request as sent (sha256 hex): a replay must match it."""
    status: int
    response: str
    """The answer's body (JSON)."""
    created_at: datetime
