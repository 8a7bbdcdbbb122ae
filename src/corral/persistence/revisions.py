"""Named revision counters (mixed into the Repository).

A process-local cache that depends on many rows (the scheduler's host table, the flavor
cache) checks one indexed row instead of the tables behind it: every write to those
tables moves the counter in the same transaction.

Two counters are change sequences: a transaction takes the next value
(:meth:`RevisionQueries.next_in`) and stamps it on what it writes (hosts.row_seq, the
heartbeat_flushes row), so a reader asks for ``seq > seen`` and gets only what moved. Taking
the value updates the counter's row, which stays locked until the transaction ends
(on PostgreSQL; SQLite serialises writers anyway), so values commit in their order:
once a row stamped ``n`` is visible, every transaction stamped below ``n`` has
committed, and a reader may remember the largest value it read.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from corral.persistence import tables as t
from corral.persistence.prepared import Prepared

#: Moves on every host aggregate change (created, deleted, its metadata, its members).
HOSTS = "hosts"
#: Moves when a host is deleted.
HOST_DELETES = "host_deletes"
#: A change sequence: once per transaction that changes host rows (not heartbeats).
HOST_ROWS = "host_rows"
#: A change sequence: once per transaction that records heartbeats (its
#: heartbeat_flushes row).
BEATS = "beats"
#: Moves on every change to a flavor, its extra specs or its access.
FLAVORS = "flavors"
#: Moves on every change to the project tree, a limit or a default limit.
PROJECTS = "projects"

_r = t.revisions
_REVISION = Prepared(select(_r.c.value).where(_r.c.name == bindparam("name")))
_BUMP = update(_r).where(_r.c.name == bindparam("key")).values(value=_r.c.value + 1)
_NEXT = _BUMP.returning(_r.c.value)
_VALUES = Prepared(select(_r.c.name, _r.c.value)
                   .where(_r.c.name.in_(bindparam("names", expanding=True))))


def read_revision(engine: Engine, name: str) -> int:
    """One counter read on its own: a single statement needs no transaction around it,
    and skipping SQLAlchemy's BEGIN/COMMIT halves the cost of a cache check."""
    raw = engine.raw_connection()
    try:
        row = _REVISION.execute_on(engine.dialect, raw, {"name": name}).fetchone()
    finally:
        raw.close()  # back to the pool, which ends whatever the driver began
    return int(row[0]) if row is not None else 0


class RevisionQueries:
    conn: Connection

    def bump_revision(self, name: str) -> None:
        if self.conn.execute(_BUMP, {"key": name}).rowcount:
            return
        try:  # the row is missing (an emptied table): start it
            with self.conn.begin_nested():
                self.conn.execute(insert(_r).values(name=name, value=1))
        except IntegrityError:  # another writer just did
            self.conn.execute(_BUMP, {"key": name})

    def next_in(self, name: str) -> int:
        """Move the change sequence ``name`` and return its new value (once per
        transaction: later calls in the same one return the same value)."""
        taken: dict[str, int] = self.__dict__.setdefault("_sequences_taken", {})
        found = taken.get(name)
        if found is None:
            row = self.conn.execute(_NEXT, {"key": name}).fetchone()
            if row is None:
                self.bump_revision(name)
                row = self.conn.execute(select(_r.c.value).where(_r.c.name == name)).one()
            found = taken[name] = int(row[0])
        return found

    def revisions(self, names: list[str]) -> dict[str, int]:
        """Several counters in one statement (a missing one is 0)."""
        found = {name: 0 for name in names}
        for name, value in _VALUES.execute(self.conn, {"names": names}).fetchall():
            found[name] = int(value)
        return found

    def revision(self, name: str) -> int:
        row = _REVISION.execute(self.conn, {"name": name}).fetchone()
        return int(row[0]) if row is not None else 0
