"""SQL for idempotency keys (mixed into the Repository).

A row remembers what a keyed ``POST /v1/instances`` answered, written in the boot's own
transaction: either both the instances and the key are committed, or neither is. The
unique (scope, key) constraint decides a race between two calls with one key: the
second insert fails (on PostgreSQL it waits for the first transaction, then fails),
its boot rolls back, and its caller replays the first one's answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from corral.domain.errors import IdempotencyKeyTaken
from corral.domain.idempotency import StoredResponse
from corral.persistence import tables as t

_k = t.idempotency_keys


class IdempotencyQueries:
    conn: Connection

    def idempotent_response(self, scope: str, key: str, *, since: datetime
                            ) -> StoredResponse | None:
        """What the call with ``key`` in ``scope`` answered, unless stored before
        ``since`` (expired)."""
        row = self.conn.execute(
            select(_k.c.fingerprint, _k.c.status, _k.c.response, _k.c.created_at)
            .where(_k.c.scope == scope, _k.c.idempotency_key == key,
                   _k.c.created_at >= since)).first()
        return StoredResponse(*row) if row is not None else None

    def insert_idempotent_response(self, scope: str, key: str, *, fingerprint: str,
                                   status: int, response: str, now: datetime,
                                   expired_before: datetime) -> None:
        """Remember an answer. An expired row of the same key is replaced.

        Raises:
            IdempotencyKeyTaken: a live row holds the key (another call committed it
                first); the caller's transaction must roll back.
        """
        self.conn.execute(delete(_k).where(and_(
            _k.c.scope == scope, _k.c.idempotency_key == key,
            _k.c.created_at < expired_before)))
        try:
            self.conn.execute(insert(_k).values(
                scope=scope, idempotency_key=key, fingerprint=fingerprint, status=status,
                response=response, created_at=now))
        except IntegrityError as exc:
            raise IdempotencyKeyTaken(scope, key) from exc

    def prune_idempotency_keys(self, before: datetime) -> int:
        """Forget every key stored before ``before``; how many."""
        return self.conn.execute(delete(_k).where(_k.c.created_at < before)).rowcount
