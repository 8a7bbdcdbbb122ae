"""A scheduling decision as stored (the ``decisions`` table): who asked, what came of
it, and the whole record (request, configuration, funnel, weights, attempts) as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One row of the ``decisions`` table."""

    uuid: str
    kind: str
    """boot | resize | migrate | reschedule"""
    project_id: str
    instance_uuid: str | None
    outcome: str
    """scheduled | no_valid_host | dry_run | retries_exhausted"""
    reason: str | None
    host: str | None
    elapsed_ms: float
    record: str
    """The decision record, JSON."""
    created_at: datetime
