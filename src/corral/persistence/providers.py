"""SQL for resource providers: the tree, inventories, usage, and a provider's traits and
aggregates (mixed into the Repository).

A generation moves by compare-and-swap (:meth:`ProviderQueries.bump_generation`); every
change to a provider is named in the change feed (``snapshot.py``) in the same
transaction, so the candidates engine reloads it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from sqlalchemy.sql.selectable import Exists

from corral.domain import capacity, errors
from corral.domain.capacity import Inventory
from corral.domain.model import Provider, ProviderFilter
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.prepared import Prepared

_parent = t.resource_providers.alias("parent")
_root = t.resource_providers.alias("root")
_rp = t.resource_providers


def _provider_select() -> Select[tuple[object, ...]]:
    # The columns in Provider's field order, so that a row is Provider(*row).
    return (
        select(_rp.c.id, _rp.c.uuid, _rp.c.name, _rp.c.generation,
               _parent.c.uuid.label("parent_uuid"),
               func.coalesce(_root.c.uuid, _rp.c.uuid).label("root_uuid"),
               _rp.c.created_at, _rp.c.updated_at)
        .select_from(_rp.outerjoin(_parent, _rp.c.parent_provider_id == _parent.c.id)
                     .outerjoin(_root, _rp.c.root_provider_id == _root.c.id))
    )


def _in_aggregates(uuids: Iterable[str]) -> Exists:
    """The provider is in one of the aggregates ``uuids``."""
    pa, agg = t.provider_aggregates, t.aggregates
    return exists().where(pa.c.resource_provider_id == _rp.c.id, pa.c.aggregate_id == agg.c.id,
                          agg.c.uuid.in_(sorted(uuids)))


def _has_traits(names: Iterable[str]) -> Exists:
    """The provider carries one of the traits ``names``."""
    pt, tr = t.provider_traits, t.traits
    return exists().where(pt.c.resource_provider_id == _rp.c.id, pt.c.trait_id == tr.c.id,
                          tr.c.name.in_(sorted(names)))


def _provider(row: RowMapping) -> Provider:
    return Provider(
        id=row["id"], uuid=row["uuid"], name=row["name"], generation=row["generation"],
        parent_uuid=row["parent_uuid"], root_uuid=row["root_uuid"] or row["uuid"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


# Statements of the claim path, built once (building one costs more than running it).
_inv, _rc, _al = t.inventories, t.resource_classes, t.allocations
_INVENTORIES = (
    select(_inv.c.resource_provider_id, _rc.c.name, _inv.c.total, _inv.c.reserved,
           _inv.c.min_unit, _inv.c.max_unit, _inv.c.step_size, _inv.c.allocation_ratio)
    .join(_rc, _rc.c.id == _inv.c.resource_class_id)
    .where(_inv.c.resource_provider_id.in_(bindparam("ids", expanding=True)))
    .order_by(_rc.c.name))
_USAGES = (
    select(_al.c.resource_provider_id, _rc.c.name, func.sum(_al.c.used))
    .join(_rc, _rc.c.id == _al.c.resource_class_id)
    .where(_al.c.resource_provider_id.in_(bindparam("ids", expanding=True)))
    .group_by(_al.c.resource_provider_id, _rc.c.name))
_INVENTORIES_RAW = Prepared(_INVENTORIES)
_USAGES_RAW = Prepared(_USAGES)


class ProviderQueries:
    conn: Connection

    if TYPE_CHECKING:  # provided by SnapshotQueries and CatalogQueries in the Repository
        def log_provider_changes(self, ids: Iterable[int]) -> None: ...
        def resource_class_ids(self, names: Iterable[str]) -> dict[str, int]: ...

    # -- providers ---------------------------------------------------------------------

    def get_provider(self, uuid: str, *, for_update: bool = False) -> Provider:
        query = _provider_select().where(_rp.c.uuid == uuid)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update(of=_rp)
        row = self.conn.execute(query).mappings().first()
        if row is None:
            raise errors.ProviderNotFound(uuid)
        return _provider(row)

    def provider_exists_named(self, name: str, *, except_id: int | None = None) -> bool:
        query = select(exists().where(_rp.c.name == name, _rp.c.id != (except_id or -1)))
        return bool(self.conn.scalar(query))

    def create_provider(self, uuid: str, name: str, parent: Provider | None) -> Provider:
        now = utcnow()
        try:
            with self.conn.begin_nested():
                new_id = self.conn.execute(insert(_rp).values(
                    uuid=uuid, name=name, generation=0,
                    parent_provider_id=parent.id if parent else None,
                    root_provider_id=self.root_id(parent) if parent else None,
                    created_at=now, updated_at=now,
                ).returning(_rp.c.id)).scalar_one()
                if parent is None:
                    self.conn.execute(update(_rp).where(_rp.c.id == new_id)
                                      .values(root_provider_id=new_id))
        except IntegrityError as exc:
            taken = []
            if self.conn.scalar(select(exists().where(_rp.c.uuid == uuid))):
                taken.append(f"uuid: {uuid}")
            if self.conn.scalar(select(exists().where(_rp.c.name == name))):
                taken.append(f"name: {name}")
            raise errors.DuplicateName(
                f"Conflicting resource provider {', '.join(taken) or name} already exists."
            ) from exc
        self.log_provider_changes([new_id])
        return self.get_provider(uuid)

    def root_id(self, provider: Provider) -> int:
        return int(self.conn.scalar(select(_rp.c.root_provider_id).where(_rp.c.id == provider.id))
                   or provider.id)

    def subtree_ids(self, provider_id: int) -> set[int]:
        """The provider and all its descendants."""
        found = {provider_id}
        frontier = [provider_id]
        while frontier:
            children = list(self.conn.scalars(
                select(_rp.c.id).where(_rp.c.parent_provider_id.in_(frontier))))
            frontier = [c for c in children if c not in found]
            found.update(frontier)
        return found

    def has_children(self, provider_id: int) -> bool:
        return bool(self.conn.scalar(select(exists().where(_rp.c.parent_provider_id == provider_id))))

    def has_allocations(self, provider_id: int) -> bool:
        return bool(self.conn.scalar(
            select(exists().where(t.allocations.c.resource_provider_id == provider_id))))

    def update_provider(self, provider: Provider, *, name: str,
                        parent: Provider | None, reparent: bool) -> None:
        """Rename and (when ``reparent``) move a provider and its subtree.

        The generation stays, as Placement's: it guards what hangs on a provider
        (inventories, traits, aggregates, allocations), not its name or its parent. The
        change feed still records the change, so the engine reloads the provider.
        """
        values: dict[str, object] = {"name": name, "updated_at": utcnow()}
        try:
            with self.conn.begin_nested():
                if reparent:
                    new_root = self.root_id(parent) if parent else provider.id
                    values["parent_provider_id"] = parent.id if parent else None
                    subtree = self.subtree_ids(provider.id)
                    self.conn.execute(update(_rp).where(_rp.c.id.in_(subtree))
                                      .values(root_provider_id=new_root))
                    self.log_provider_changes(subtree)
                self.conn.execute(update(_rp).where(_rp.c.id == provider.id).values(**values))
                self.log_provider_changes([provider.id])
        except IntegrityError as exc:
            raise errors.DuplicateName(
                f"Conflicting resource provider {name} already exists.") from exc

    def delete_provider(self, provider: Provider) -> None:
        self.conn.execute(delete(t.inventories).where(t.inventories.c.resource_provider_id == provider.id))
        self.conn.execute(delete(t.provider_traits)
                          .where(t.provider_traits.c.resource_provider_id == provider.id))
        self.conn.execute(delete(t.provider_aggregates)
                          .where(t.provider_aggregates.c.resource_provider_id == provider.id))
        self.conn.execute(delete(_rp).where(_rp.c.id == provider.id))
        self.log_provider_changes([provider.id])

    def bump_generation(self, provider: Provider, seen: int | None = None) -> int:
        """Compare-and-swap the provider generation; returns the new one.

        Raises:
            ConcurrentUpdate: when ``seen`` (default: the generation read) is stale.
        """
        expected = provider.generation if seen is None else seen
        result = self.conn.execute(
            update(_rp).where(_rp.c.id == provider.id, _rp.c.generation == expected)
            .values(generation=expected + 1, updated_at=utcnow()))
        if result.rowcount != 1:
            current = self.conn.scalar(select(_rp.c.generation).where(_rp.c.id == provider.id))
            raise errors.ConcurrentUpdate(provider.uuid, expected, current)
        self.log_provider_changes([provider.id])
        return expected + 1

    def list_providers(self, flt: ProviderFilter) -> list[Provider]:
        query = _provider_select().order_by(_rp.c.id)
        if flt.name is not None:
            query = query.where(_rp.c.name == flt.name)
        if flt.uuid is not None:
            query = query.where(_rp.c.uuid == flt.uuid)
        if flt.in_tree is not None:
            tree_root = (select(_rp.c.root_provider_id).where(_rp.c.uuid == flt.in_tree)
                         .scalar_subquery())
            query = query.where(_rp.c.root_provider_id == tree_root)
        for any_of in flt.member_of:
            query = query.where(_in_aggregates(any_of))
        if flt.forbidden_aggregates:
            query = query.where(~_in_aggregates(flt.forbidden_aggregates))
        for any_of in flt.required:
            query = query.where(_has_traits(any_of))
        if flt.forbidden_traits:
            query = query.where(~_has_traits(flt.forbidden_traits))
        rows: Sequence[Any] = self.conn.execute(query).all()
        if flt.resources and rows:
            room = self._with_room(flt.resources)
            rows = [row for row in rows if row[0] in room]
        return [Provider(*row) for row in rows]

    def _with_room(self, wanted: Sequence[tuple[str, int]]) -> set[int]:
        """Ids of the providers with room for every ``(class, amount)`` of ``wanted``
        now (``capacity.fits``: units, step and free capacity).

        One statement for the whole fleet, whatever its size: the inventories of the
        wanted classes only, each with its usage summed in SQL.
        """
        inv, rc, al = t.inventories, t.resource_classes, t.allocations
        amounts = dict(wanted)
        class_ids = select(rc.c.id).where(rc.c.name.in_(sorted(amounts))).scalar_subquery()
        used = (select(al.c.resource_provider_id, al.c.resource_class_id,
                       func.sum(al.c.used).label("used"))
                .where(al.c.resource_class_id.in_(class_ids))
                .group_by(al.c.resource_provider_id, al.c.resource_class_id).subquery())
        rows = self.conn.execute(
            select(inv.c.resource_provider_id, rc.c.name, inv.c.total, inv.c.reserved,
                   inv.c.min_unit, inv.c.max_unit, inv.c.step_size, inv.c.allocation_ratio,
                   used.c.used)
            .join(rc, rc.c.id == inv.c.resource_class_id)
            .outerjoin(used, (used.c.resource_provider_id == inv.c.resource_provider_id)
                       & (used.c.resource_class_id == inv.c.resource_class_id))
            .where(rc.c.name.in_(sorted(amounts)))).all()
        fitting: dict[int, int] = defaultdict(int)
        for rp_id, name, total, reserved, min_unit, max_unit, step, ratio, in_use in rows:
            record = Inventory(total, reserved, min_unit, max_unit, step, float(ratio))
            if capacity.fits(record, int(in_use or 0), amounts[name]):
                fitting[rp_id] += 1
        return {rp_id for rp_id, count in fitting.items() if count == len(amounts)}

    # -- inventories and usage -----------------------------------------------------------

    def inventories(self, provider_ids: Iterable[int]) -> dict[int, dict[str, Inventory]]:
        ids = list(provider_ids)
        out: dict[int, dict[str, Inventory]] = {i: {} for i in ids}
        if not ids:
            return out
        rows = _INVENTORIES_RAW.execute(self.conn, {"ids": ids}).fetchall()
        for rp_id, name, total, reserved, min_unit, max_unit, step, ratio in rows:
            out[rp_id][name] = Inventory(total, reserved, min_unit, max_unit, step, float(ratio))
        return out

    def usages(self, provider_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        ids = list(provider_ids)
        out: dict[int, dict[str, int]] = {i: {} for i in ids}
        if not ids:
            return out
        rows = _USAGES_RAW.execute(self.conn, {"ids": ids}).fetchall()
        for rp_id, name, used in rows:
            out[rp_id][name] = int(used)
        return out

    def replace_inventories(self, provider: Provider, wanted: Mapping[str, Inventory]) -> None:
        """Make the provider's inventory exactly ``wanted`` (classes must exist)."""
        inv = t.inventories
        ids = self.resource_class_ids(wanted)
        missing = set(wanted) - set(ids)
        if missing:
            raise errors.UnknownResourceClass(sorted(missing)[0],
                                              f" in inventory for resource provider {provider.uuid}")
        current = self.inventories([provider.id])[provider.id]
        gone = [name for name in current if name not in wanted]
        if gone:
            gone_ids = self.resource_class_ids(gone)
            self.conn.execute(delete(inv).where(inv.c.resource_provider_id == provider.id,
                                                inv.c.resource_class_id.in_(gone_ids.values())))
        now = utcnow()
        for name, record in wanted.items():
            values = {"total": record.total, "reserved": record.reserved,
                      "min_unit": record.min_unit, "max_unit": record.max_unit,
                      "step_size": record.step_size, "allocation_ratio": record.allocation_ratio,
                      "updated_at": now}
            if name in current:
                if current[name] != record:
                    self.conn.execute(update(inv).where(
                        inv.c.resource_provider_id == provider.id,
                        inv.c.resource_class_id == ids[name]).values(**values))
            else:
                self.conn.execute(insert(inv).values(resource_provider_id=provider.id,
                                                     resource_class_id=ids[name],
                                                     created_at=now, **values))

    def inventory_updated(self, provider_id: int) -> datetime | None:
        updated: datetime | None = self.conn.scalar(select(func.max(t.inventories.c.updated_at))
                                .where(t.inventories.c.resource_provider_id == provider_id))
        return updated

    def provider_allocations(self, provider_id: int) -> dict[str, dict[str, int]]:
        al, rc, co = t.allocations, t.resource_classes, t.consumers
        rows = self.conn.execute(
            select(co.c.uuid, rc.c.name, al.c.used)
            .join(rc, rc.c.id == al.c.resource_class_id).join(co, co.c.id == al.c.consumer_id)
            .where(al.c.resource_provider_id == provider_id).order_by(co.c.uuid, rc.c.name))
        out: dict[str, dict[str, int]] = {}
        for consumer, name, used in rows:
            out.setdefault(consumer, {})[name] = out.get(consumer, {}).get(name, 0) + used
        return out

    # -- traits and aggregates of a provider ---------------------------------------------

    def _linked(self, provider_ids: Iterable[int], link: Table, far: Table, far_key: str,
                label: str) -> dict[int, list[str]]:
        """{provider id: sorted ``label`` values of the ``far`` rows linked through ``link``}."""
        ids = list(provider_ids)
        out: dict[int, list[str]] = {i: [] for i in ids}
        if not ids:
            return out
        rows = self.conn.execute(select(link.c.resource_provider_id, far.c[label])
                                 .join(far, far.c.id == link.c[far_key])
                                 .where(link.c.resource_provider_id.in_(ids))
                                 .order_by(far.c[label]))
        for rp_id, value in rows:
            out[rp_id].append(value)
        return out

    def provider_traits(self, provider_ids: Iterable[int]) -> dict[int, list[str]]:
        return self._linked(provider_ids, t.provider_traits, t.traits, "trait_id", "name")

    def set_provider_traits(self, provider: Provider, trait_ids: Iterable[int]) -> None:
        pt = t.provider_traits
        self.conn.execute(delete(pt).where(pt.c.resource_provider_id == provider.id))
        rows = [{"resource_provider_id": provider.id, "trait_id": i} for i in sorted(set(trait_ids))]
        if rows:
            self.conn.execute(insert(pt), rows)

    def provider_aggregates(self, provider_ids: Iterable[int]) -> dict[int, list[str]]:
        return self._linked(provider_ids, t.provider_aggregates, t.aggregates, "aggregate_id", "uuid")

    def set_provider_aggregates(self, provider: Provider, uuids: Iterable[str]) -> None:
        pa, agg = t.provider_aggregates, t.aggregates
        wanted = sorted(set(uuids))
        known = dict(self.conn.execute(select(agg.c.uuid, agg.c.id).where(agg.c.uuid.in_(wanted))).all())
        now = utcnow()
        for uuid in wanted:
            if uuid not in known:
                try:
                    with self.conn.begin_nested():
                        known[uuid] = self.conn.execute(
                            insert(agg).values(uuid=uuid, created_at=now, updated_at=now)
                            .returning(agg.c.id)).scalar_one()
                except IntegrityError:  # created by a concurrent request: use theirs
                    known[uuid] = self.conn.scalar(select(agg.c.id).where(agg.c.uuid == uuid))
        self.conn.execute(delete(pa).where(pa.c.resource_provider_id == provider.id))
        if wanted:
            self.conn.execute(insert(pa), [
                {"resource_provider_id": provider.id, "aggregate_id": known[u]} for u in wanted])

    def touch_provider(self, provider: Provider) -> None:
        """Record a change that does not move the generation (aggregates before 1.19)."""
        self.conn.execute(update(_rp).where(_rp.c.id == provider.id).values(updated_at=utcnow()))
        self.log_provider_changes([provider.id])

    def count_providers(self) -> int:
        return int(self.conn.scalar(select(func.count()).select_from(_rp)) or 0)

