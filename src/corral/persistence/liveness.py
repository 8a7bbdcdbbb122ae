"""What each host's liveness was last told as (services/host_liveness.py).

``host_liveness`` holds, per host, the state (up or down) its last ``host.up`` or
``host.down`` event told; a host without a row was never told down and counts as up.
The sweep that compares it with the state computed from heartbeats changes a row and
writes its event in one transaction, under the host's row lock, so each change of a
host's liveness is told exactly once whatever the number of processes sweeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
)

from corral.persistence import tables as t
from corral.persistence.tables import metadata

host_liveness = Table(
    "host_liveness", metadata,
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    # The host's name when told: a row left by a deleted host never matches another.
    Column("name", String(255), nullable=False),
    Column("state", String(8), nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

#: (host id, name, provider uuid, forced down, last heartbeat in its row, state told)
LivenessRow = tuple[int, str, str, bool, datetime | None, str]


class LivenessQueries:
    """Mixin of the Repository: the hosts' liveness as last told."""

    conn: Connection

    def liveness_rows(self, ids: Iterable[int] | None = None) -> list[LivenessRow]:
        """Every host (or those of ``ids``) with the state it was last told as."""
        h, rp, lv = t.hosts, t.resource_providers, host_liveness
        query = (select(h.c.id, h.c.name, rp.c.uuid, h.c.forced_down, h.c.last_heartbeat,
                        lv.c.state)
                 .select_from(h.join(rp, rp.c.id == h.c.resource_provider_id)
                              .outerjoin(lv, (lv.c.host_id == h.c.id) & (lv.c.name == h.c.name)))
                 .order_by(h.c.id))
        if ids is not None:
            query = query.where(h.c.id.in_(sorted(set(ids))))
        return [(i, n, u, bool(f), b, s or "up") for i, n, u, f, b, s in self.conn.execute(query)]

    def set_liveness(self, host_id: int, name: str, state: str, at: datetime) -> None:
        self.conn.execute(delete(host_liveness).where(host_liveness.c.host_id == host_id))
        self.conn.execute(insert(host_liveness).values(host_id=host_id, name=name, state=state,
                                                       changed_at=at))
