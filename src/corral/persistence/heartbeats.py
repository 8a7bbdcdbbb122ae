"""SQL for heartbeats (mixed into the Repository): the heartbeat log, and folding it
into ``hosts.last_heartbeat``.

A flush writes one ``heartbeat_flushes`` row: its number in the ``beats`` change
sequence (persistence/revisions.py), its time, and the ids of the hosts it recorded.
It rewrites no host row: at 100,000 hosts, a flush of 500 names updating their rows
dirtied about 420 pages of the table, under the write lock every claim needs. Other
processes read only the flushes after the last one they saw (services/host_table.py).

The log is folded into ``hosts.last_heartbeat`` from time to time
(services/liveness.py): each host's latest time is written in id order, 1,000 hosts per
transaction (unless a flush left in the log names it again), and only then are the
folded flushes deleted. So at every moment a host's
last heartbeat is the later of its row's and of the log's flushes naming it, and the
readers here take the later of the two (:meth:`HeartbeatQueries.logged_heartbeats`,
:meth:`HeartbeatQueries.all_heartbeats`).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, DateTime, String, bindparam, case, delete, insert, select, update
from sqlalchemy.types import TypeEngine

from corral.persistence import tables as t
from corral.persistence.hosts import epoch_seconds, heartbeat_epoch
from corral.persistence.prepared import Prepared
from corral.persistence.revisions import BEATS, HOST_DELETES

_h = t.hosts
_hb = t.heartbeat_flushes

#: Names per statement when their ids are looked up (well under every driver's limit).
HEARTBEAT_CHUNK = 500


def _pack(ids: Sequence[int]) -> bytes:
    """Host ids as int32 little-endian (heartbeat_flushes.host_ids)."""
    packed = array("i", ids)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def latest(flushes: Sequence[tuple[int, float, bytes]], only: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Of flushes (sequence, epoch seconds, packed ids) in any order: the ids of the
    hosts they name (of ``only``, if given), ascending, and for each the index of the
    flush with its latest time (a flush of another process may commit after a later
    one)."""
    parts = [np.frombuffer(f[2], dtype="<i4") for f in flushes]
    ids = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
    flush = np.repeat(np.arange(len(flushes)), [len(p) for p in parts])
    if only is not None:
        keep = np.isin(ids, only)
        ids, flush = ids[keep], flush[keep]
    if not len(ids):
        return ids, flush
    # By id, then by time: the last entry of each id holds its latest time.
    at = np.array([f[1] for f in flushes], dtype=np.float64)
    order = np.lexsort((at[flush], ids))
    ids, flush = ids[order], flush[order]
    last = np.flatnonzero(np.append(ids[1:] != ids[:-1], True))
    return ids[last], flush[last]


_BEATS_SINCE = {d: Prepared(select(_hb.c.seq, epoch_seconds(d, _hb.c.at), _hb.c.host_ids)
                            .where(_hb.c.seq > bindparam("seen")).order_by(_hb.c.seq))
                for d in ("sqlite", "postgresql")}
_ALL_BEATS = {d: Prepared(select(_h.c.id, heartbeat_epoch(d)).where(_h.c.last_heartbeat.is_not(None)))
              for d in ("sqlite", "postgresql")}
_IDS_OF = Prepared(select(_h.c.id, _h.c.name)
                   .where(_h.c.name.in_(bindparam("names", expanding=True))))
_LOG_FLUSH = Prepared(insert(_hb))
def _fold(when_type: TypeEngine[Any]) -> Prepared:
    """A folded time, unless the row holds a later one (a report, or a fold of a later
    flush by another process)."""
    when = bindparam("when", type_=when_type)
    return Prepared(update(_h).where(_h.c.id == bindparam("host_id")).values(
        last_heartbeat=case((_h.c.last_heartbeat > when, _h.c.last_heartbeat), else_=when)))


#: On SQLite the time is bound as the text it is stored as, formatted once per flush
#: rather than once per host (the formatting was most of a fold's cost); the stored
#: texts compare as the times do. PostgreSQL's driver binds datetimes itself.
_FOLD = {"sqlite": _fold(String()), "postgresql": _fold(DateTime())}


class HeartbeatQueries:
    conn: Connection

    if TYPE_CHECKING:
        def next_in(self, name: str) -> int: ...
        def revision(self, name: str) -> int: ...

    def record_heartbeats(self, names: Iterable[str], when: datetime,
                          known: Mapping[str, int] | None = None, deletes: int = -1
                          ) -> dict[str, int]:
        """Record that hosts ``names`` were alive at ``when``: one heartbeat_flushes row
        naming them, stamped with this transaction's beats sequence; returns the names
        that are hosts, with their ids (the others are not). No host row is written or
        locked.

        ``known``: ids of names as a host table holds them, taken as they are if no
        host was deleted since that table was read (the ``host_deletes`` counter is
        still ``deletes``: a host's name cannot have changed hands); the other names
        are looked up."""
        wanted = sorted(set(names))
        found: dict[int, str] = {}
        if known and self.revision(HOST_DELETES) == deletes:
            found = {known[n]: n for n in wanted if n in known}
            wanted = [n for n in wanted if n not in known]
        for at in range(0, len(wanted), HEARTBEAT_CHUNK):
            cursor = _IDS_OF.execute(self.conn, {"names": wanted[at:at + HEARTBEAT_CHUNK]})
            found.update(cursor.fetchall())
        if found:
            _LOG_FLUSH.execute(self.conn, {"seq": self.next_in(BEATS), "at": when,
                                           "host_ids": _pack(sorted(found))})
        return {name: host_id for host_id, name in found.items()}

    def beats_since(self, seen: int) -> list[tuple[int, float, bytes]]:
        """(beats sequence, when in epoch seconds, host ids as int32 little-endian) of
        every heartbeat flush after ``seen`` not folded yet, in order."""
        cursor = _BEATS_SINCE[self.conn.dialect.name].execute(self.conn, {"seen": seen})
        return [(int(q), float(w), bytes(ids)) for q, w, ids in cursor.fetchall()]

    def unfolded(self) -> list[tuple[int, float, bytes, datetime]]:
        """Every flush in the log: (sequence, epoch seconds, packed ids, its time)."""
        when = epoch_seconds(self.conn.dialect.name, _hb.c.at)
        rows = self.conn.execute(select(_hb.c.seq, when, _hb.c.host_ids, _hb.c.at)
                                 .order_by(_hb.c.seq))
        return [(int(q), float(w), bytes(ids), at) for q, w, ids, at in rows]

    def logged_heartbeats(self, host_ids: Iterable[int] | None = None) -> dict[int, datetime]:
        """Each host's latest heartbeat in the log not folded yet (of ``host_ids``, or
        of every host): the later of it and ``hosts.last_heartbeat`` is the host's."""
        flushes = self.unfolded()
        only = None if host_ids is None else np.fromiter(host_ids, dtype=np.int64)
        ids, flush = latest([f[:3] for f in flushes], only)
        return {int(i): flushes[int(f)][3] for i, f in zip(ids, flush, strict=True)}

    def all_heartbeats(self) -> list[tuple[int, float]]:
        """(host id, last heartbeat in epoch seconds) of every host heard from: the
        later of its row's and the log's."""
        flushes = self.beats_since(0)
        found = dict(_ALL_BEATS[self.conn.dialect.name].execute(self.conn).fetchall())
        ids, flush = latest(flushes)
        for i, f in zip(ids.tolist(), flush.tolist(), strict=True):
            found[i] = max(found.get(i, 0.0), flushes[f][1])
        return list(found.items())

    def fold_heartbeats(self, host_ids: Sequence[int], when: Sequence[datetime]) -> None:
        """Write each host's heartbeat ``when`` into its row, unless it holds a later
        one (hosts gone since are skipped)."""
        dialect = self.conn.dialect
        store = _h.c.last_heartbeat.type._cached_bind_processor(dialect)  # noqa: SLF001
        stored = {w: store(w) if store else w for w in set(when)}  # one per flush
        _FOLD[dialect.name].executemany(self.conn, [
            {"host_id": i, "when": stored[w]} for i, w in zip(host_ids, when, strict=True)])

    def drop_flushes(self, through: int) -> None:
        """Delete the heartbeat flushes up to sequence ``through`` (once folded)."""
        self.conn.execute(delete(_hb).where(_hb.c.seq <= through))
