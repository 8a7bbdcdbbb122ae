"""An instance as stored: the row the instance use cases read and write.

``Instance`` (domain/scheduling.py) is what the API shows; :class:`InstanceRow` is what
the ``instances`` table holds (host ids rather than names, the flavor snapshot as JSON),
and :class:`NewInstance` what a boot inserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewInstance:
    """An instance a boot's claim inserts (its timestamps are set by the store)."""

    uuid: str
    name: str
    project_id: str
    user_id: str
    flavor_id: str
    flavor: str
    """The flavor as claimed (JSON snapshot, domain/flavors.snapshot)."""
    state: str
    host_id: int
    availability_zone: str | None
    """The zone the boot asked for (None: any)."""
    server_group_uuid: str | None
    attempts: int
    alternates: tuple[str, ...]
    decision_uuid: str


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One row of the ``instances`` table."""

    uuid: str
    name: str
    project_id: str
    user_id: str
    flavor_id: str
    flavor: str
    """The flavor as claimed (JSON snapshot): moves and retries use it, not the catalogue."""
    state: str
    host_id: int | None
    availability_zone: str | None
    """The zone the boot asked for (the host's own zone is looked up)."""
    server_group_uuid: str | None
    new_flavor_id: str | None
    new_flavor: str | None
    """A resize in progress: the flavor being moved to (JSON snapshot)."""
    source_host_id: int | None
    migration_uuid: str | None
    """The consumer holding the source allocations of the instance's last move."""
    attempts: int
    alternates: tuple[str, ...]
    decision_uuid: str | None
    fault: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
