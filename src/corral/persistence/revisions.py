"""Named revision counters (mixed into the Repository).

A process-local cache that depends on many rows (the scheduler's host table, the flavor
cache) checks one indexed row instead of the tables behind it: every write to those
tables moves the counter in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from corral.persistence import tables as t
from corral.persistence.prepared import Prepared

#: Moves on every host or host aggregate change (not heartbeats).
HOSTS = "hosts"
#: Moves on every change to a flavor, its extra specs or its access.
FLAVORS = "flavors"
#: Moves on every change to the project tree, a limit or a default limit.
PROJECTS = "projects"

_r = t.revisions
_REVISION = Prepared(select(_r.c.value).where(_r.c.name == bindparam("name")))
_BUMP = update(_r).where(_r.c.name == bindparam("key")).values(value=_r.c.value + 1)


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

    def revision(self, name: str) -> int:
        row = _REVISION.execute(self.conn, {"name": name}).fetchone()
        return int(row[0]) if row is not None else 0
