"""The event outbox and the relay's lease: their tables and SQL (mixed into the
Repository).

Events are inserted in the transaction of their change, many at once for a batch of
boots. The relay reads the unsent tail in id order (a partial index holds just that
tail), stamps what the broker confirmed, and holds a lease row so that one relay at a
time publishes, whatever the number of processes and hosts. The tables are declared
here, on the schema's one ``metadata`` (``tables.py`` is full); migration
``0009_events`` creates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from corral.domain.events import PUBLISHER_ID, Event, EventFilter, NewEvent
from corral.persistence.tables import metadata

events = Table(
    "events", metadata,
    # The outbox (services/events.py): written in the transaction of the change it
    # tells of; the relay publishes it to RabbitMQ and stamps sent_at after the broker
    # confirmed. id orders events (per object too: changes of one object take its row).
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("publisher_id", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("payload_version", String(8), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("sent_at", DateTime, nullable=True),
    Index("ix_events_object", "object_type", "object_id"),
    Index("ix_events_event_type", "event_type"),
    # What the relay reads: the unsent tail, without walking the sent history.
    Index("ix_events_pending", "id", sqlite_where=text("sent_at IS NULL"),
          postgresql_where=text("sent_at IS NULL")),
)

relay_leases = Table(
    "relay_leases", metadata,
    # Who publishes the outbox: one holder at a time across every process and host,
    # until expires_at unless renewed (services/relay.py).
    Column("name", String(32), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

_e = events
_l = relay_leases


def _event(row: Any) -> Event:
    return Event(row.id, row.message_id, row.event_type, row.priority, row.publisher_id,
                 row.created_at, row.object_type, row.object_id, row.payload_version,
                 orjson.loads(row.payload), row.sent_at)


class EventQueries:
    conn: Connection

    def add_events(self, events: Sequence[NewEvent]) -> None:
        """Write ``events`` in this transaction (one statement for all)."""
        if not events:
            return
        self.conn.execute(insert(_e), [
            {"message_id": e.message_id, "event_type": e.event_type, "priority": e.priority,
             "publisher_id": PUBLISHER_ID, "created_at": e.created_at,
             "object_type": e.object_type, "object_id": e.object_id,
             "payload_version": e.payload_version,
             "payload": orjson.dumps(e.payload).decode()} for e in events])

    def pending_events(self, limit: int) -> list[Event]:
        """The oldest events the broker has not confirmed, oldest first."""
        rows = self.conn.execute(select(_e).where(_e.c.sent_at.is_(None))
                                 .order_by(_e.c.id).limit(limit))
        return [_event(r) for r in rows]

    def pending_summary(self) -> tuple[int, datetime | None]:
        """How many events wait for the broker, and when the oldest was written."""
        row = self.conn.execute(select(func.count(), func.min(_e.c.created_at))
                                .where(_e.c.sent_at.is_(None))).one()
        return int(row[0]), row[1]

    def mark_events_sent(self, ids: Sequence[int], at: datetime) -> None:
        self.conn.execute(update(_e).where(_e.c.id.in_(list(ids)), _e.c.sent_at.is_(None))
                          .values(sent_at=at))

    def list_events(self, where: EventFilter, *, after: int | None, limit: int
                    ) -> list[Event]:
        """Events oldest first, after the one of id ``after``, filtered."""
        query = select(_e).order_by(_e.c.id).limit(limit)
        if after is not None:
            query = query.where(_e.c.id > after)
        for column, value in ((_e.c.event_type, where.event_type),
                              (_e.c.object_type, where.object_type),
                              (_e.c.object_id, where.object_id)):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(_e.c.created_at >= where.since)
        if where.until is not None:
            query = query.where(_e.c.created_at < where.until)
        return [_event(r) for r in self.conn.execute(query)]

    def event_id_of(self, message_id: str) -> int | None:
        found: int | None = self.conn.execute(
            select(_e.c.id).where(_e.c.message_id == message_id)).scalar()
        return found

    def trim_events(self, before: datetime, *, sent_only: bool) -> int:
        """Forget events written before ``before`` (only those the broker confirmed,
        when ``sent_only``); how many."""
        query = delete(_e).where(_e.c.created_at < before)
        if sent_only:
            query = query.where(_e.c.sent_at.is_not(None))
        return int(self.conn.execute(query).rowcount)

    def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold lease ``name`` until ``until`` when free, expired or already ours."""
        taken = self.conn.execute(update(_l).where(
            _l.c.name == name, (_l.c.holder == holder) | (_l.c.expires_at < now))
            .values(holder=holder, expires_at=until)).rowcount
        if taken:
            return True
        if self.conn.execute(select(_l.c.name).where(_l.c.name == name)).first() is not None:
            return False
        try:
            with self.conn.begin_nested():  # a racing first holder inserts it too
                self.conn.execute(insert(_l).values(name=name, holder=holder, expires_at=until))
        except IntegrityError:
            return False
        return True

    def holds_lease(self, name: str, holder: str, now: datetime) -> bool:
        return self.conn.execute(select(_l.c.name).where(
            _l.c.name == name, _l.c.holder == holder, _l.c.expires_at >= now)
            .with_for_update()).first() is not None

    def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds lease ``name`` now (None: nobody, or it expired)."""
        found: str | None = self.conn.execute(select(_l.c.holder).where(
            _l.c.name == name, _l.c.expires_at >= now)).scalar()
        return found

    def drop_lease(self, name: str, holder: str) -> None:
        self.conn.execute(delete(_l).where(_l.c.name == name, _l.c.holder == holder))
