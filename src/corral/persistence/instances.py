"""SQL for instances, scheduling decisions and what the scheduler reads of hosts
(mixed into the Repository)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, or_, select, update

from corral.domain import scheduling
from corral.domain.decisions import DecisionRow
from corral.domain.instances import InstanceRow, NewInstance
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.prepared import Prepared
from corral.persistence.revisions import HOST_ROWS

_i = t.instances
_d = t.decisions
_h = t.hosts
_agg = t.host_aggregates
_members = t.host_aggregate_hosts
_sg = t.server_groups
_INSERT_DECISION = Prepared(insert(_d))
_INSERT_INSTANCE = Prepared(insert(_i))


def _instance_row(r: RowMapping) -> InstanceRow:
    return InstanceRow(
        uuid=r["uuid"], name=r["name"], project_id=r["project_id"], user_id=r["user_id"],
        flavor_id=r["flavor_id"], flavor=r["flavor"], state=r["state"], host_id=r["host_id"],
        availability_zone=r["availability_zone"], server_group_uuid=r["server_group_uuid"],
        new_flavor_id=r["new_flavor_id"], new_flavor=r["new_flavor"],
        source_host_id=r["source_host_id"], migration_uuid=r["migration_uuid"],
        attempts=r["attempts"], alternates=tuple(json.loads(r["alternates"])),
        decision_uuid=r["decision_uuid"], fault=r["fault"], created_at=r["created_at"],
        updated_at=r["updated_at"], deleted_at=r["deleted_at"])


def _decision_row(r: RowMapping) -> DecisionRow:
    return DecisionRow(
        uuid=r["uuid"], kind=r["kind"], project_id=r["project_id"],
        instance_uuid=r["instance_uuid"], outcome=r["outcome"], reason=r["reason"],
        host=r["host"], elapsed_ms=r["elapsed_ms"], record=r["record"],
        created_at=r["created_at"])


class InstanceQueries:
    conn: Connection

    if TYPE_CHECKING:
        def bump_revision(self, name: str) -> None: ...
        def next_in(self, name: str) -> int: ...
        def lock_hosts(self, ids: Iterable[int]) -> None: ...

    # -- what the scheduler reads of hosts ---------------------------------------------------

    def memberships(self) -> list[tuple[int, int]]:
        """Every (host id, aggregate id) pair."""
        rows = self.conn.execute(select(_members.c.host_id, _members.c.aggregate_id))
        return [(h, a) for h, a in rows]

    def host_ids_by_name(self, names: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        rows = self.conn.execute(select(_h.c.name, _h.c.id).where(_h.c.name.in_(wanted)))
        return {name: hid for name, hid in rows}

    def host_names_by_id(self, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = sorted({i for i in ids if i is not None})
        if not wanted:
            return {}
        rows = self.conn.execute(select(_h.c.id, _h.c.name).where(_h.c.id.in_(wanted)))
        return {hid: name for hid, name in rows}

    def count_failed_build(self, host_id: int, *, failed: bool) -> None:
        """One more failed build on a host, or (a build succeeded) back to none."""
        value = _h.c.failed_builds + 1 if failed else 0
        query = update(_h).where(_h.c.id == host_id)
        if not failed and not self.conn.execute(
                select(_h.c.id).where(_h.c.id == host_id, _h.c.failed_builds != 0)).first():
            return  # the common case (a build succeeded where none failed): no write
        # The host's row before the host_rows sequence, as every host write takes them
        # (persistence/hosts.py): the other order deadlocks with a host report.
        self.lock_hosts([host_id])
        self.conn.execute(query.values(failed_builds=value, row_seq=self.next_in(HOST_ROWS)))

    # -- instances ---------------------------------------------------------------------------

    def insert_instances(self, new: Sequence[NewInstance]) -> list[InstanceRow]:
        """Insert instances; returns the rows as stored (with their timestamps)."""
        now = utcnow()
        stored = [InstanceRow(
            uuid=n.uuid, name=n.name, project_id=n.project_id, user_id=n.user_id,
            flavor_id=n.flavor_id, flavor=n.flavor, state=n.state, host_id=n.host_id,
            availability_zone=n.availability_zone, server_group_uuid=n.server_group_uuid,
            new_flavor_id=None, new_flavor=None, source_host_id=None, migration_uuid=None,
            attempts=n.attempts, alternates=n.alternates, decision_uuid=n.decision_uuid,
            fault=None, created_at=now, updated_at=now, deleted_at=None) for n in new]
        _INSERT_INSTANCE.executemany(self.conn, [_values_of(r) for r in stored])
        return stored

    def get_instance_row(self, uuid: str, *, for_update: bool = False) -> InstanceRow | None:
        query = select(_i).where(_i.c.uuid == uuid)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _instance_row(row)

    def instance_rows(self, *, project_id: str | None = None, host_id: int | None = None,
                      state: str | None = None, include_deleted: bool = False,
                      limit: int | None = None) -> list[InstanceRow]:
        query = select(_i).order_by(_i.c.created_at, _i.c.id)
        if project_id is not None:
            query = query.where(_i.c.project_id == project_id)
        if host_id is not None:
            query = query.where(_i.c.host_id == host_id)
        if state is not None:
            query = query.where(_i.c.state == state)
        elif not include_deleted:
            query = query.where(_i.c.state != scheduling.DELETED)
        if limit is not None:
            query = query.limit(limit)
        return [_instance_row(r) for r in self.conn.execute(query).mappings()]

    def update_instance(self, uuid: str, values: Mapping[str, object]) -> None:
        self.conn.execute(update(_i).where(_i.c.uuid == uuid).values(**values,
                                                                     updated_at=utcnow()))

    def instance_counts(self, host_ids: Iterable[int]) -> dict[int, int]:
        """{host id: its live instances}."""
        wanted = sorted(set(host_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(select(_i.c.host_id, func.count())
                                 .where(_i.c.host_id.in_(wanted), _i.c.state.in_(scheduling.LIVE_STATES))
                                 .group_by(_i.c.host_id))
        return {host_id: int(n) for host_id, n in rows}

    def hosts_of_instances(self, uuids: Iterable[str]) -> dict[str, str]:
        """{instance uuid: its host's name} for the live instances among ``uuids``."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        rows = self.conn.execute(select(_i.c.uuid, _h.c.name).join(_h, _h.c.id == _i.c.host_id)
                                 .where(_i.c.uuid.in_(wanted), _i.c.state.in_(scheduling.LIVE_STATES)))
        return {u: name for u, name in rows}

    def live_instance_projects(self, uuids: Iterable[str]) -> dict[str, str]:
        """{instance uuid: its project} for the live instances among ``uuids``."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        rows = self.conn.execute(select(_i.c.uuid, _i.c.project_id)
                                 .where(_i.c.uuid.in_(wanted),
                                        _i.c.state.in_(scheduling.LIVE_STATES)))
        return {u: p for u, p in rows}

    def group_members_by_host(self, group_uuid: str, *, besides: str | None = None
                              ) -> dict[str, int]:
        """{host name: live members of the server group there}, not counting ``besides``
        (the instance being moved)."""
        query = (select(_h.c.name, func.count()).join(_h, _h.c.id == _i.c.host_id)
                 .where(_i.c.server_group_uuid == group_uuid, _i.c.state.in_(scheduling.LIVE_STATES)))
        if besides is not None:
            query = query.where(_i.c.uuid != besides)
        rows = self.conn.execute(query.group_by(_h.c.name))
        return {name: int(n) for name, n in rows}

    def lock_server_group(self, group_uuid: str) -> None:
        """Serialise claims into one group (PostgreSQL; SQLite writers are serial)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(select(_sg.c.id).where(_sg.c.uuid == group_uuid).with_for_update())

    # -- decisions ---------------------------------------------------------------------------

    def insert_decision(self, row: DecisionRow) -> None:
        self.insert_decisions([row])

    def insert_decisions(self, rows: Sequence[DecisionRow]) -> None:
        """Insert decision records, in order, with one statement (a group commit's)."""
        _INSERT_DECISION.executemany(self.conn, [{
            "uuid": row.uuid, "kind": row.kind, "project_id": row.project_id,
            "instance_uuid": row.instance_uuid, "outcome": row.outcome, "reason": row.reason,
            "host": row.host, "elapsed_ms": row.elapsed_ms, "record": row.record,
            "created_at": row.created_at} for row in rows])

    def prune_decisions(self, before: datetime) -> int:
        """Delete the decisions made before ``before``; returns how many."""
        return int(self.conn.execute(delete(_d).where(_d.c.created_at < before)).rowcount)

    def update_decision(self, uuid: str, values: Mapping[str, object]) -> None:
        self.conn.execute(update(_d).where(_d.c.uuid == uuid).values(**values))

    def get_decision_row(self, uuid: str) -> DecisionRow | None:
        row = self.conn.execute(select(_d).where(_d.c.uuid == uuid)).mappings().first()
        return None if row is None else _decision_row(row)

    def decision_rows(self, *, project_id: str | None = None, instance_uuid: str | None = None,
                      also: str | None = None, limit: int = 50) -> list[DecisionRow]:
        """Newest first; with ``instance_uuid``, its decisions and the decision ``also``."""
        query = select(_d).order_by(_d.c.id.desc()).limit(limit)
        if project_id is not None:
            query = query.where(_d.c.project_id == project_id)
        if instance_uuid is not None:
            query = query.where(or_(_d.c.instance_uuid == instance_uuid, _d.c.uuid == also))
        return [_decision_row(r) for r in self.conn.execute(query).mappings()]


def _values_of(row: InstanceRow) -> dict[str, Any]:
    """A row's column values (the alternates as their JSON list)."""
    return {"uuid": row.uuid, "name": row.name, "project_id": row.project_id,
            "user_id": row.user_id, "flavor_id": row.flavor_id, "flavor": row.flavor,
            "new_flavor": row.new_flavor, "state": row.state, "host_id": row.host_id,
            "availability_zone": row.availability_zone,
            "server_group_uuid": row.server_group_uuid, "attempts": row.attempts,
            "alternates": json.dumps(list(row.alternates)), "decision_uuid": row.decision_uuid,
            "new_flavor_id": row.new_flavor_id, "source_host_id": row.source_host_id,
            "migration_uuid": row.migration_uuid, "fault": row.fault,
            "created_at": row.created_at, "updated_at": row.updated_at,
            "deleted_at": row.deleted_at}
