"""The inbox of corral's own event consumer: its table and SQL (mixed into the
Repository).

One row per event the consumer handled, keyed by ``message_id``, written in the
transaction that handled it (services/consumer.py): a second delivery of the same
event finds its row and is dropped. Rows older than the event retention are trimmed
(a duplicate cannot arrive that late: the relay republishes within one batch). The
table is declared here, on the schema's one ``metadata``; migration ``0010_inbox``
creates it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, DateTime, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from corral.domain.inbox import Delivered
from corral.persistence.tables import metadata

event_inbox = Table(
    "event_inbox", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("event_type", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),  # when the event was written
    Column("received_at", DateTime, nullable=False, index=True),
)

_i = event_inbox


class InboxQueries:
    conn: Connection

    def record_inbox(self, event: Delivered, at: datetime) -> bool:
        """Write ``event``'s inbox row in this transaction; False when its
        ``message_id`` is already there (a duplicate: nothing written)."""
        seen = self.conn.execute(select(_i.c.message_id).where(
            _i.c.message_id == event.message_id)).first()
        if seen is not None:
            return False
        try:
            with self.conn.begin_nested():  # a second consumer racing on the same event
                self.conn.execute(insert(_i).values(
                    message_id=event.message_id, event_type=event.event_type,
                    object_type=event.object_type, object_id=event.object_id,
                    created_at=event.created_at, received_at=at))
        except IntegrityError:
            return False
        return True

    def trim_inbox(self, before: datetime) -> int:
        """Forget inbox rows received before ``before``; how many."""
        return int(self.conn.execute(delete(_i).where(_i.c.received_at < before)).rowcount)
