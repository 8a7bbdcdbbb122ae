"""SQL for heartbeats (mixed into the Repository): recording them in one flush, and
reading the flushes logged since a sequence number.

A flush updates ``hosts.last_heartbeat`` of the hosts it names and logs their ids in
one ``heartbeat_flushes`` row stamped with the ``beats`` change sequence
(persistence/revisions.py): other processes read only the flushes after the last one
they saw (services/host_table.py).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, case, delete, insert, select, update
from sqlalchemy.sql import ColumnElement

from corral.persistence import tables as t
from corral.persistence.hosts import epoch_seconds, heartbeat_epoch
from corral.persistence.prepared import Prepared
from corral.persistence.revisions import BEATS

_h = t.hosts
_hb = t.heartbeat_flushes

#: Names per statement when heartbeats are recorded (well under every driver's limit).
HEARTBEAT_CHUNK = 500
#: Heartbeat flushes are kept this long; a reader further behind reads every host's.
FLUSH_KEEP_S = 300
#: Old flushes are dropped once every this many flushes.
FLUSH_PRUNE_EVERY = 64


def _at_epoch(dialect: str) -> ColumnElement[float]:
    return epoch_seconds(dialect, _hb.c.at)


def _pack(ids: Sequence[int]) -> bytes:
    """Host ids as int32 little-endian (heartbeat_flushes.host_ids)."""
    packed = array("i", ids)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


_BEATS_SINCE = {d: Prepared(select(_hb.c.seq, _at_epoch(d), _hb.c.host_ids)
                            .where(_hb.c.seq > bindparam("seen")).order_by(_hb.c.seq))
                for d in ("sqlite", "postgresql")}
_ALL_BEATS = {d: Prepared(select(_h.c.id, heartbeat_epoch(d)).where(_h.c.last_heartbeat.is_not(None)))
              for d in ("sqlite", "postgresql")}
_BY_NAMES = _h.c.name.in_(bindparam("names", expanding=True))
#: A flush's time, unless the host holds a later one: flushes take their time before
#: they queue for the rows, so one from another process may commit after a later one.
_NEWER = case((_h.c.last_heartbeat > bindparam("when"), _h.c.last_heartbeat),
              else_=bindparam("when"))
_RECORD_BEATS = {
    "sqlite": Prepared(update(_h).where(_BY_NAMES).values(last_heartbeat=_NEWER)
                       .returning(_h.c.id, _h.c.name)),
    "postgresql": Prepared(
        # FOR NO KEY UPDATE, not FOR UPDATE: the key share lock a boot takes on each
        # host it inserts an instance on (the foreign key) must not wait for a flush,
        # or a boot placing on hosts out of id order and a flush deadlock.
        update(_h).where(_h.c.id.in_(select(_h.c.id).where(_BY_NAMES).order_by(_h.c.id)
                                     .with_for_update(key_share=True).scalar_subquery()))
        .values(last_heartbeat=_NEWER).returning(_h.c.id, _h.c.name)),
}
_LOG_FLUSH = Prepared(insert(_hb))

class HeartbeatQueries:
    conn: Connection

    if TYPE_CHECKING:
        def next_in(self, name: str) -> int: ...

    def record_heartbeats(self, names: Iterable[str], when: datetime) -> set[str]:
        """Record that hosts ``names`` were alive at ``when``, and log which in one
        heartbeat_flushes row stamped with this transaction's beats sequence; returns the
        names that are hosts (the others are not). On PostgreSQL the rows are locked in
        id order, as :meth:`lock_hosts` does, so a flush never deadlocks with an
        operator's change, and only against other writes of the row (FOR NO KEY
        UPDATE), so never with a boot inserting instances on them."""
        wanted = sorted(set(names))
        if not wanted:
            return set()
        statement = _RECORD_BEATS[self.conn.dialect.name]
        found: dict[int, str] = {}
        for at in range(0, len(wanted), HEARTBEAT_CHUNK):
            cursor = statement.execute(self.conn, {"names": wanted[at:at + HEARTBEAT_CHUNK],
                                                   "when": when})
            found.update(cursor.fetchall())
        if found:
            seq = self.next_in(BEATS)
            _LOG_FLUSH.execute(self.conn, {"seq": seq, "at": when,
                                           "host_ids": _pack(sorted(found))})
            if seq % FLUSH_PRUNE_EVERY == 0:
                self.conn.execute(delete(_hb).where(
                    _hb.c.at < when - timedelta(seconds=FLUSH_KEEP_S)))
        return set(found.values())

    def beats_since(self, seen: int) -> list[tuple[int, float, bytes]]:
        """(beats sequence, when in epoch seconds, host ids as int32 little-endian) of
        every heartbeat flush after ``seen``, in order (the oldest may have been
        dropped: see FLUSH_KEEP_S)."""
        cursor = _BEATS_SINCE[self.conn.dialect.name].execute(self.conn, {"seen": seen})
        return [(int(q), float(w), bytes(ids)) for q, w, ids in cursor.fetchall()]

    def all_heartbeats(self) -> list[tuple[int, float]]:
        """(host id, last heartbeat in epoch seconds) of every host heard from."""
        return list(_ALL_BEATS[self.conn.dialect.name].execute(self.conn).fetchall())
