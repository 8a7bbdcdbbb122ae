"""SQL for consumers and their allocations (mixed into the Repository).

Claims lock the providers they touch (``SELECT ... FOR UPDATE`` in provider-id order
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers) before they
count usage, so the count a claim checks is the count it commits against.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from corral.domain import errors
from corral.domain.model import ConsumerRow, LockedProvider
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.prepared import Prepared

# The statements of every claim, built once: building one costs three times running it.
_rp = t.resource_providers
_LOCKING = (select(_rp.c.id, _rp.c.uuid, _rp.c.generation)
            .where(_rp.c.uuid.in_(bindparam("uuids", expanding=True))).order_by(_rp.c.id))
_LOCK = Prepared(_LOCKING)
_LOCK_FOR_UPDATE = Prepared(_LOCKING.with_for_update())
_BUMP = Prepared(update(_rp).where(_rp.c.id == bindparam("pid"),
                                   _rp.c.generation == bindparam("seen"))
                 .values(generation=bindparam("next"), updated_at=bindparam("now")))
_NEW_CONSUMER = Prepared(insert(t.consumers).returning(t.consumers.c.id))
_NEW_CONSUMERS = Prepared(insert(t.consumers))
_CONSUMER_IDS = Prepared(select(t.consumers.c.uuid, t.consumers.c.id)
                         .where(t.consumers.c.uuid.in_(bindparam("uuids", expanding=True))))
_CONSUMER_COLUMNS = ("uuid", "project_id", "user_id", "consumer_type_id", "generation",
                     "created_at", "updated_at")
_NEW_ALLOCATIONS = Prepared(insert(t.allocations))
_BY_EXTERNAL = {table.name: Prepared(select(table.c.id).where(table.c[column] == bindparam("value")))
                for table, column in ((t.projects, "external_id"), (t.users, "external_id"),
                                      (t.consumer_types, "name"))}


class AllocationQueries:
    conn: Connection

    #: Providers this transaction moved: id -> (new generation, new updated_at).
    bumped: dict[int, tuple[int, datetime]]

    if TYPE_CHECKING:  # provided by SnapshotQueries in the Repository
        def log_provider_changes(self, ids: Iterable[int]) -> None: ...

    # -- projects, users, consumer types ------------------------------------------------

    def _ensure_external(self, table: Table, column: str, value: str) -> int:
        col = table.c[column]
        found = _BY_EXTERNAL[table.name].execute(self.conn, {"value": value}).fetchone()
        if found is not None:
            return int(found[0])
        now = utcnow()
        try:
            with self.conn.begin_nested():
                return int(self.conn.execute(
                    insert(table).values({column: value, "created_at": now, "updated_at": now})
                    .returning(table.c.id)).scalar_one())
        except IntegrityError:  # a concurrent request created it first
            return int(self.conn.execute(select(table.c.id).where(col == value)).scalar_one())

    def ensure_project(self, external_id: str) -> int:
        return self._ensure_external(t.projects, "external_id", external_id)

    def ensure_user(self, external_id: str) -> int:
        return self._ensure_external(t.users, "external_id", external_id)

    def ensure_consumer_type(self, name: str) -> int:
        return self._ensure_external(t.consumer_types, "name", name)

    # -- consumers ---------------------------------------------------------------------

    def get_consumer(self, uuid: str) -> ConsumerRow | None:
        co, pr, us, ct = t.consumers, t.projects, t.users, t.consumer_types
        row = self.conn.execute(
            select(co.c.id, co.c.uuid, pr.c.external_id.label("project"),
                   us.c.external_id.label("user"), ct.c.name.label("ctype"),
                   co.c.generation, co.c.updated_at)
            .join(pr, pr.c.id == co.c.project_id).join(us, us.c.id == co.c.user_id)
            .outerjoin(ct, ct.c.id == co.c.consumer_type_id)
            .where(co.c.uuid == uuid)).first()
        if row is None:
            return None
        return ConsumerRow(row.id, row.uuid, row.project, row.user, row.ctype,
                           int(row.generation), row.updated_at)

    def lock_consumers(self, uuids: Iterable[str]) -> None:
        """Lock existing consumers for this transaction, in uuid order (PostgreSQL; SQLite
        writers are already serialised). Consumers that do not exist yet are guarded by
        the unique uuid instead: a second creator fails on insert."""
        wanted = sorted(set(uuids))
        if wanted and self.conn.dialect.name == "postgresql":
            co = t.consumers
            self.conn.execute(select(co.c.id).where(co.c.uuid.in_(wanted))
                              .order_by(co.c.uuid).with_for_update())

    def create_consumer(self, uuid: str, project_id: int, user_id: int,
                        type_id: int | None) -> int:
        """Insert a consumer at generation 1 (it is created by its first write); returns its
        id. A concurrent creator of the same uuid makes this a ConsumerGenerationConflict
        (the transaction is then rolled back by the caller)."""
        now = utcnow()
        try:
            return int(_NEW_CONSUMER.execute(self.conn, {
                "uuid": uuid, "project_id": project_id, "user_id": user_id,
                "consumer_type_id": type_id, "generation": 1, "created_at": now,
                "updated_at": now}, columns=_CONSUMER_COLUMNS).fetchone()[0])
        except IntegrityError as exc:
            raise errors.ConsumerGenerationConflict(uuid, None, "a concurrent writer") from exc

    def create_consumers(self, new: Mapping[str, tuple[int, int, int | None]]
                         ) -> dict[str, int]:
        """Insert consumers at generation 1, in order, with one statement: {uuid: (project
        id, user id, type id)}; returns {uuid: id}. A uuid taken meanwhile is a
        ConsumerGenerationConflict naming the first of ``new`` (the caller's own fresh
        uuids: one cannot say which)."""
        now = utcnow()
        try:
            _NEW_CONSUMERS.executemany(self.conn, [
                {"uuid": uuid, "project_id": project_id, "user_id": user_id,
                 "consumer_type_id": type_id, "generation": 1, "created_at": now,
                 "updated_at": now} for uuid, (project_id, user_id, type_id) in new.items()])
        except IntegrityError as exc:
            raise errors.ConsumerGenerationConflict(next(iter(new)), None,
                                                    "a concurrent writer") from exc
        rows = _CONSUMER_IDS.execute(self.conn, {"uuids": list(new)}).fetchall()
        return {uuid: int(i) for uuid, i in rows}

    def update_consumer(self, consumer: ConsumerRow, *, project_id: int, user_id: int,
                        type_id: int | None, keep_type: bool) -> int:
        """Set owner/type and move the generation by compare-and-swap; returns the new one."""
        values: dict[str, object] = {"project_id": project_id, "user_id": user_id,
                                     "generation": consumer.generation + 1, "updated_at": utcnow()}
        if not keep_type:
            values["consumer_type_id"] = type_id
        result = self.conn.execute(
            update(t.consumers)
            .where(t.consumers.c.id == consumer.id, t.consumers.c.generation == consumer.generation)
            .values(**values))
        if result.rowcount != 1:
            raise errors.ConsumerGenerationConflict(consumer.uuid, consumer.generation,
                                                    "a concurrent writer")
        return consumer.generation + 1

    def delete_consumer(self, consumer_id: int) -> None:
        self.conn.execute(delete(t.consumers).where(t.consumers.c.id == consumer_id))

    # -- allocations -------------------------------------------------------------------

    def consumer_allocations(self, consumer_id: int) -> list[tuple[str, int, str, int]]:
        """(provider uuid, provider generation, class, used) of one consumer."""
        al, rp, rc = t.allocations, t.resource_providers, t.resource_classes
        rows = self.conn.execute(
            select(rp.c.uuid, rp.c.generation, rc.c.name, al.c.used)
            .join(rp, rp.c.id == al.c.resource_provider_id)
            .join(rc, rc.c.id == al.c.resource_class_id)
            .where(al.c.consumer_id == consumer_id).order_by(rp.c.uuid, rc.c.name))
        return [(u, int(g), n, int(used)) for u, g, n, used in rows]

    def consumer_provider_uuids(self, consumer_ids: Iterable[int]) -> set[str]:
        ids = list(consumer_ids)
        if not ids:
            return set()
        al, rp = t.allocations, t.resource_providers
        return set(self.conn.scalars(
            select(rp.c.uuid).join(al, al.c.resource_provider_id == rp.c.id)
            .where(al.c.consumer_id.in_(ids)).distinct()))

    def lock_providers(self, uuids: Iterable[str]) -> dict[str, LockedProvider]:
        """Lock the named providers for this transaction, in id order (no deadlocks)."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        query = _LOCK_FOR_UPDATE if self.conn.dialect.name == "postgresql" else _LOCK
        return {u: LockedProvider(i, u, int(g))
                for i, u, g in query.execute(self.conn, {"uuids": wanted}).fetchall()}

    def delete_allocations(self, consumer_ids: Iterable[int]) -> None:
        ids = list(consumer_ids)
        if ids:
            self.conn.execute(delete(t.allocations).where(t.allocations.c.consumer_id.in_(ids)))

    def insert_allocations(self, rows: Sequence[Mapping[str, object]]) -> None:
        if rows:
            now = utcnow()
            _NEW_ALLOCATIONS.executemany(
                self.conn, [{**r, "created_at": now, "updated_at": now} for r in rows])

    def bump_provider_generations(self, providers: Collection[LockedProvider],
                                  steps: Mapping[int, int] | None = None) -> None:
        """Move each provider's generation by ``steps[id]`` (all by one without ``steps``).

        A step of 0 keeps the generation (Placement does not move it there) but still
        marks the provider changed: the change feed names it, and its ``updated_at`` is
        written to the microsecond (other writes keep whole seconds), so the version an
        engine compares (generation, updated_at, ...) differs and it reloads the usage.
        Compare-and-swap on the generation locked, whatever the step.
        """
        now = utcnow()
        touched = datetime.now(UTC).replace(tzinfo=None)
        moved = {p.id: 1 if steps is None else steps.get(p.id, 0) for p in providers}
        result = _BUMP.executemany(self.conn, [
            {"pid": p.id, "seen": p.generation, "next": p.generation + moved[p.id],
             "now": now if moved[p.id] else touched} for p in providers])
        if result is not None and result.rowcount != len(providers):
            self._missed_bump(providers, moved)
        for p in providers:
            if moved[p.id]:
                self.bumped[p.id] = (p.generation + moved[p.id], now)
        self.log_provider_changes(p.id for p in providers)

    def _missed_bump(self, providers: Collection[LockedProvider], moved: Mapping[int, int]
                     ) -> None:
        """Raise ConcurrentUpdate for the first provider (in the order bumped) whose
        generation was not where this transaction saw it (one statement bumped them all)."""
        now = {i: int(g) for i, _u, g in
               _LOCK.execute(self.conn, {"uuids": sorted(p.uuid for p in providers)})}
        for p in providers:
            if now.get(p.id) != p.generation + moved[p.id]:
                raise errors.ConcurrentUpdate(p.uuid)
        raise errors.ConcurrentUpdate(next(iter(providers)).uuid)

    def usage_totals(self, *, project: str, user: str | None = None,
                     consumer_type: str | None = None
                     ) -> dict[str, tuple[dict[str, int], int]]:
        """Usage of a project (and user), grouped by consumer type.

        Returns {type: ({class: used}, consumers)}. Consumers with no type are grouped
        as 'unknown'. ``consumer_type='all'`` folds every type into one 'all' group;
        any other value keeps only that type.
        """
        al, co, pr, us, rc, ct = (t.allocations, t.consumers, t.projects, t.users,
                                  t.resource_classes, t.consumer_types)
        group: ColumnElement[str]
        group = (literal("all") if consumer_type == "all"
                 else func.coalesce(ct.c.name, literal("unknown")))
        source = (al.join(co, co.c.id == al.c.consumer_id)
                  .join(pr, pr.c.id == co.c.project_id)
                  .join(us, us.c.id == co.c.user_id)
                  .outerjoin(ct, ct.c.id == co.c.consumer_type_id))
        conditions = [pr.c.external_id == project]
        if user is not None:
            conditions.append(us.c.external_id == user)
        if consumer_type not in (None, "all"):
            conditions.append(group == consumer_type)
        used_rows = self.conn.execute(
            select(group.label("g"), rc.c.name, func.sum(al.c.used))
            .select_from(source.join(rc, rc.c.id == al.c.resource_class_id))
            .where(*conditions).group_by(group, rc.c.name))
        count_rows = self.conn.execute(
            select(group.label("g"), func.count(func.distinct(co.c.id)))
            .select_from(source).where(*conditions).group_by(group))
        counts = {g: int(n) for g, n in count_rows}
        out: dict[str, tuple[dict[str, int], int]] = {}
        for g, name, used in used_rows:
            out.setdefault(g, ({}, counts.get(g, 0)))[0][name] = int(used)
        return out
