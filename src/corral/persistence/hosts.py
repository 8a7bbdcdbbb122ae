"""SQL for hosts and host aggregates (mixed into the Repository).

Rows come back as the domain's row types (:class:`~corral.domain.hosts.HostRow`,
:class:`~corral.domain.hosts.AggregateRow`); the services turn them into records. On
PostgreSQL, :meth:`HostQueries.lock_hosts` takes the host rows in id order so that
changes touching the same host (membership, zones, overcommit) queue instead of
racing; SQLite's write transactions are serialised already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Float,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Select

from corral.domain import errors
from corral.domain.hosts import AggregateRow, HostRow
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.prepared import Prepared
from corral.persistence.revisions import HOST_DELETES, HOST_ROWS, HOSTS

_h = t.hosts
_agg = t.host_aggregates
_meta = t.host_aggregate_metadata
_members = t.host_aggregate_hosts
_rp = t.resource_providers


def _host_select() -> Select[tuple[object, ...]]:
    """The columns of a HostRow, in its order."""
    return (select(_h.c.id, _h.c.name, _h.c.resource_provider_id, _rp.c.uuid, _rp.c.generation,
                   _h.c.enabled, _h.c.disabled_reason, _h.c.forced_down, _h.c.last_heartbeat,
                   _h.c.cpu_allocation_ratio, _h.c.ram_allocation_ratio,
                   _h.c.disk_allocation_ratio, _h.c.reserved_host_memory_mb,
                   _h.c.vcpus, _h.c.memory_mb, _h.c.disk_gb, _h.c.failed_builds,
                   _h.c.created_at, _h.c.updated_at)
            .join(_rp, _rp.c.id == _h.c.resource_provider_id))


def _host_row(row: Sequence[Any]) -> HostRow:
    return HostRow(*row)


def epoch_seconds(dialect: str, column: ColumnElement[datetime]) -> ColumnElement[float]:
    """A stored time as seconds since the epoch, computed by the database (converting
    datetimes in Python costs more than reading them)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return cast(func.strftime(literal_column("'%s'"), column), Float)


def heartbeat_epoch(dialect: str) -> ColumnElement[float]:
    """A host's last heartbeat, in seconds since the epoch."""
    return epoch_seconds(dialect, _h.c.last_heartbeat)


def _table_select(dialect: str) -> Select[tuple[object, ...]]:
    """What the scheduler's host table reads of each host, in name order."""
    return (select(_h.c.id, _h.c.name, _rp.c.uuid, _h.c.enabled, _h.c.forced_down,
                   heartbeat_epoch(dialect), _h.c.failed_builds, _h.c.cpu_allocation_ratio,
                   _h.c.ram_allocation_ratio, _h.c.disk_allocation_ratio,
                   _h.c.reserved_host_memory_mb, _h.c.row_seq)
            .join(_rp, _rp.c.id == _h.c.resource_provider_id).order_by(_h.c.name))


_TABLE_ROWS = {d: Prepared(_table_select(d)) for d in ("sqlite", "postgresql")}
_TABLE_ROWS_SINCE = {d: Prepared(_table_select(d).where(_h.c.row_seq > bindparam("seen")))
                     for d in ("sqlite", "postgresql")}
_MEMBERSHIPS = Prepared(select(_members.c.host_id, _agg.c.name)
                        .join(_agg, _agg.c.id == _members.c.aggregate_id))
_MEMBERSHIPS_OF = Prepared(select(_members.c.host_id, _agg.c.name)
                           .join(_agg, _agg.c.id == _members.c.aggregate_id)
                           .where(_members.c.host_id.in_(bindparam("ids", expanding=True))))

_AGGREGATE = select(_agg.c.id, _agg.c.name, _agg.c.uuid, _agg.c.created_at, _agg.c.updated_at)


class HostQueries:
    conn: Connection

    if TYPE_CHECKING:  # provided by RevisionQueries in the Repository
        def bump_revision(self, name: str) -> None: ...
        def next_in(self, name: str) -> int: ...

    # -- hosts -------------------------------------------------------------------------------

    def get_host_row(self, name: str) -> HostRow | None:
        row = self.conn.execute(_host_select().where(_h.c.name == name)).first()
        return None if row is None else _host_row(row)

    def get_host_row_by_provider(self, provider_uuid: str) -> HostRow | None:
        row = self.conn.execute(_host_select().where(_rp.c.uuid == provider_uuid)).first()
        return None if row is None else _host_row(row)

    def get_aggregate_row_by_uuid(self, uuid: str) -> AggregateRow | None:
        row = self.conn.execute(_AGGREGATE.where(_agg.c.uuid == uuid)).first()
        return None if row is None else AggregateRow(*row)

    def host_rows(self, ids: Iterable[int] | None = None) -> list[HostRow]:
        query = _host_select().order_by(_h.c.name)
        if ids is not None:
            query = query.where(_h.c.id.in_(sorted(set(ids))))
        return [_host_row(row) for row in self.conn.execute(query)]

    def lock_hosts(self, ids: Iterable[int]) -> None:
        """Lock host rows until the transaction ends (PostgreSQL; a no-op on SQLite).

        FOR NO KEY UPDATE: it orders every write of host rows, but lets a boot take the
        key share lock of the instances' foreign key. A boot holds its providers when it
        inserts its instances, and a host write goes on to the host's provider: if the
        one waited for the other's lock on the host, they would deadlock. (A delete of
        the row still waits for those boots: the DELETE takes the stronger lock.)"""
        wanted = sorted(set(ids))
        if wanted and self.conn.dialect.name == "postgresql":
            self.conn.execute(select(_h.c.id).where(_h.c.id.in_(wanted)).order_by(_h.c.id)
                              .with_for_update(key_share=True))

    def insert_host(self, name: str, provider_id: int, *, vcpus: int, memory_mb: int,
                    disk_gb: int, heartbeat: datetime) -> int:
        now = utcnow()
        seq = self.next_in(HOST_ROWS)
        try:
            with self.conn.begin_nested():
                return int(self.conn.execute(insert(_h).values(
                    name=name, resource_provider_id=provider_id, enabled=True,
                    disabled_reason=None, forced_down=False, last_heartbeat=heartbeat,
                    vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb, row_seq=seq,
                    created_at=now, updated_at=now).returning(_h.c.id)).scalar_one())
        except IntegrityError as exc:
            raise errors.DuplicateName(f"Host {name!r} already exists.") from exc

    def update_host(self, host_id: int, values: Mapping[str, object]) -> None:
        self.touch_hosts([host_id], values)

    def touch_hosts(self, host_ids: Iterable[int], values: Mapping[str, object] | None = None
                    ) -> None:
        """Stamp hosts with this transaction's host_rows sequence (readers of changed
        rows see them again), setting ``values`` too."""
        ids = sorted(set(host_ids))
        if ids:
            self.conn.execute(update(_h).where(_h.c.id.in_(ids)).values(
                **(values or {}), row_seq=self.next_in(HOST_ROWS), updated_at=utcnow()))

    # -- what the scheduler's host table reads ------------------------------------------------

    def host_table_rows(self, since: int | None = None) -> list[tuple[Any, ...]]:
        """Every host (or those whose row changed after the host_rows sequence
        ``since``), in name order: (id, name, provider uuid, enabled, forced down,
        heartbeat in epoch seconds or None, failed builds, cpu, ram and disk ratios,
        reserved memory, row_seq)."""
        dialect = self.conn.dialect.name
        if since is None:
            return list(_TABLE_ROWS[dialect].execute(self.conn).fetchall())
        return list(_TABLE_ROWS_SINCE[dialect].execute(self.conn, {"seen": since}).fetchall())

    def aggregate_names_of(self, host_ids: Iterable[int] | None = None
                           ) -> list[tuple[int, str]]:
        """(host id, aggregate name) of every membership (of ``host_ids`` only)."""
        if host_ids is None:
            return list(_MEMBERSHIPS.execute(self.conn).fetchall())
        ids = sorted(set(host_ids))
        if not ids:
            return []
        return list(_MEMBERSHIPS_OF.execute(self.conn, {"ids": ids}).fetchall())

    def delete_host(self, host_id: int) -> None:
        self.bump_revision(HOST_DELETES)
        self.conn.execute(delete(_members).where(_members.c.host_id == host_id))
        self.conn.execute(delete(_h).where(_h.c.id == host_id))

    def host_aggregates_of(self, host_ids: Iterable[int]
                           ) -> dict[int, dict[str, dict[str, str]]]:
        """{host id: {aggregate name: its metadata}} for every aggregate of each host."""
        ids = sorted(set(host_ids))
        out: dict[int, dict[str, dict[str, str]]] = {i: {} for i in ids}
        if not ids:
            return out
        rows = self.conn.execute(
            select(_members.c.host_id, _agg.c.name, _meta.c.key, _meta.c.value)
            .join(_agg, _agg.c.id == _members.c.aggregate_id)
            .outerjoin(_meta, _meta.c.aggregate_id == _agg.c.id)
            .where(_members.c.host_id.in_(ids)).order_by(_agg.c.name))
        for host_id, agg_name, key, value in rows:
            found = out[host_id].setdefault(agg_name, {})
            if key is not None:
                found[key] = value
        return out

    # -- aggregates --------------------------------------------------------------------------

    def get_aggregate_row(self, name: str, *, for_update: bool = False) -> AggregateRow | None:
        query = _AGGREGATE.where(_agg.c.name == name)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return None if row is None else AggregateRow(*row)

    def aggregate_rows(self) -> list[AggregateRow]:
        return [AggregateRow(*row) for row in self.conn.execute(_AGGREGATE.order_by(_agg.c.name))]

    def aggregate_metadata(self, aggregate_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        ids = sorted(set(aggregate_ids))
        out: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            rows = self.conn.execute(select(_meta.c.aggregate_id, _meta.c.key, _meta.c.value)
                                     .where(_meta.c.aggregate_id.in_(ids)).order_by(_meta.c.key))
            for agg_id, key, value in rows:
                out[agg_id][key] = value
        return out

    def aggregate_hosts(self, aggregate_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
        """{aggregate id: [(host id, host name)]}, by host name."""
        ids = sorted(set(aggregate_ids))
        out: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
        if ids:
            rows = self.conn.execute(select(_members.c.aggregate_id, _h.c.id, _h.c.name)
                                     .join(_h, _h.c.id == _members.c.host_id)
                                     .where(_members.c.aggregate_id.in_(ids)).order_by(_h.c.name))
            for agg_id, host_id, host_name in rows:
                out[agg_id].append((host_id, host_name))
        return out

    def availability_zones(self) -> list[str]:
        """Every zone an aggregate's metadata names, sorted."""
        rows = self.conn.scalars(select(_meta.c.value).distinct()
                                 .where(_meta.c.key == "availability_zone")
                                 .order_by(_meta.c.value))
        return list(rows)

    def zones_of_hosts(self, host_ids: Iterable[int], *, except_aggregate: int | None = None
                       ) -> dict[int, list[tuple[str, str]]]:
        """{host id: [(zone, aggregate name)]} from the hosts' aggregates (but
        ``except_aggregate``)."""
        ids = sorted(set(host_ids))
        out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
        if ids:
            rows = self.conn.execute(
                select(_members.c.host_id, _meta.c.value, _agg.c.name)
                .join(_agg, _agg.c.id == _members.c.aggregate_id)
                .join(_meta, _meta.c.aggregate_id == _agg.c.id)
                .where(_members.c.host_id.in_(ids), _meta.c.key == "availability_zone",
                       _agg.c.id != (-1 if except_aggregate is None else except_aggregate))
                .order_by(_agg.c.name))
            for host_id, zone, agg_name in rows:
                out[host_id].append((zone, agg_name))
        return out

    def insert_aggregate(self, name: str, uuid: str, metadata: Mapping[str, str]) -> int:
        now = utcnow()
        try:
            with self.conn.begin_nested():
                agg_id = int(self.conn.execute(insert(_agg).values(
                    name=name, uuid=uuid, created_at=now, updated_at=now)
                    .returning(_agg.c.id)).scalar_one())
        except IntegrityError as exc:
            raise errors.DuplicateName(f"Host aggregate {name!r} already exists.") from exc
        self.bump_revision(HOSTS)
        if metadata:
            self.conn.execute(insert(_meta), [{"aggregate_id": agg_id, "key": k, "value": v}
                                              for k, v in sorted(metadata.items())])
        return agg_id

    def change_aggregate_metadata(self, aggregate_id: int, set_: Mapping[str, str],
                                  unset: Iterable[str]) -> None:
        gone = sorted(set(unset) | set(set_))
        if gone:
            self.conn.execute(delete(_meta).where(_meta.c.aggregate_id == aggregate_id,
                                                  _meta.c.key.in_(gone)))
        if set_:
            self.conn.execute(insert(_meta), [{"aggregate_id": aggregate_id, "key": k, "value": v}
                                              for k, v in sorted(set_.items())])
        self.touch_aggregate(aggregate_id)
        # Its members' effective values may move: readers of changed rows see them again.
        self.touch_hosts(self.conn.scalars(select(_members.c.host_id)
                                           .where(_members.c.aggregate_id == aggregate_id)))

    def touch_aggregate(self, aggregate_id: int) -> None:
        self.conn.execute(update(_agg).where(_agg.c.id == aggregate_id)
                          .values(updated_at=utcnow()))
        self.bump_revision(HOSTS)

    def delete_aggregate(self, aggregate_id: int) -> None:
        self.bump_revision(HOSTS)
        self.conn.execute(delete(_meta).where(_meta.c.aggregate_id == aggregate_id))
        self.conn.execute(delete(_agg).where(_agg.c.id == aggregate_id))

    def add_aggregate_host(self, aggregate_id: int, host_id: int) -> bool:
        """False when the host is a member already."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(_members).values(aggregate_id=aggregate_id,
                                                          host_id=host_id))
        except IntegrityError:
            return False
        self.touch_aggregate(aggregate_id)
        self.touch_hosts([host_id])  # its aggregates are part of its row for readers
        return True

    def remove_aggregate_host(self, aggregate_id: int, host_id: int) -> bool:
        """False when the host was not a member."""
        result = self.conn.execute(delete(_members).where(_members.c.aggregate_id == aggregate_id,
                                                          _members.c.host_id == host_id))
        if result.rowcount:
            self.touch_aggregate(aggregate_id)
            self.touch_hosts([host_id])
        return bool(result.rowcount)

    def forget_placement_aggregate(self, uuid: str) -> None:
        """Drop the Placement aggregate ``uuid`` when no provider is in it any more."""
        pa, agg = t.provider_aggregates, t.aggregates
        self.conn.execute(delete(agg).where(
            agg.c.uuid == uuid, ~exists().where(pa.c.aggregate_id == agg.c.id)))
