"""The audit trail's table and SQL (mixed into the Repository).

``audit_log`` has one row per recorded change (services/audit_log.py writes it in the
transaction of the change, so a change rolled back leaves no row). Rows are only ever
inserted; ``id`` grows with every insert and is the listing's order and marker. The
table is declared here, on the schema's one ``metadata``, because ``tables.py`` is full;
migration ``0008_audit_log`` creates it.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    insert,
    select,
)

from corral.domain.audit_log import Actor, AuditEntry, AuditQuery
from corral.persistence.tables import metadata

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False, index=True),
    # Who: as authentication found them (origin 'api'), or a local command ('local').
    Column("actor_user_id", String(255), nullable=False, index=True),
    Column("actor_project_id", String(255), nullable=True, index=True),
    Column("actor_roles", Text, nullable=False),  # JSON list
    Column("request_id", String(64), nullable=True),
    Column("origin", String(16), nullable=False),
    # What: limits.set, flavor.create... on an object; before and after as JSON.
    Column("action", String(64), nullable=False, index=True),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Index(None, "object_type", "object_id"),
)


def _plain(value: object) -> object:
    """What JSON cannot hold as such: times as ISO 8601 UTC, anything else as text."""
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return str(value)


def _dumps(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=_plain)


def _entry(row: RowMapping) -> AuditEntry:
    actor = Actor(user_id=row["actor_user_id"], project_id=row["actor_project_id"],
                  roles=tuple(json.loads(row["actor_roles"])), request_id=row["request_id"],
                  origin=row["origin"])
    return AuditEntry(
        id=row["id"], created_at=row["created_at"], actor=actor, action=row["action"],
        object_type=row["object_type"], object_id=row["object_id"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]))


class AuditQueries:
    conn: Connection

    def insert_audit_entry(self, actor: Actor, *, at: datetime, action: str,
                           object_type: str, object_id: str, before: object,
                           after: object) -> None:
        self.conn.execute(insert(audit_log).values(
            created_at=at, actor_user_id=actor.user_id, actor_project_id=actor.project_id,
            actor_roles=json.dumps(list(actor.roles)), request_id=actor.request_id,
            origin=actor.origin, action=action, object_type=object_type,
            object_id=object_id, before=_dumps(before), after=_dumps(after)))

    def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """One page of the trail: ``query.limit`` entries at most, in id order."""
        c = audit_log.c
        stmt = select(audit_log)
        for column, value in ((c.actor_user_id, query.actor_user_id),
                              (c.actor_project_id, query.actor_project_id),
                              (c.object_type, query.object_type),
                              (c.object_id, query.object_id), (c.action, query.action)):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.since is not None:
            stmt = stmt.where(c.created_at >= query.since)
        if query.before is not None:
            stmt = stmt.where(c.created_at < query.before)
        if query.marker is not None:
            stmt = stmt.where(c.id < query.marker if query.newest_first else c.id > query.marker)
        stmt = stmt.order_by(c.id.desc() if query.newest_first else c.id).limit(query.limit)
        return [_entry(row) for row in self.conn.execute(stmt).mappings()]
