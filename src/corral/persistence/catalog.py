"""SQL for resource classes and traits (mixed into the Repository).

Names are created on first use by the services (standard catalogues at start-up, custom
names when a host reports them); a race to create one name ends with both callers seeing
it, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from corral.domain import errors
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.prepared import Prepared

_IDS_BY_NAME = {table.name: Prepared(select(table.c.name, table.c.id)
                                     .where(table.c.name.in_(bindparam("names", expanding=True))))
                for table in (t.resource_classes, t.traits)}


class CatalogQueries:
    conn: Connection

    def _names(self, table: Table) -> list[str]:
        return list(self.conn.scalars(select(table.c.name).order_by(table.c.name)))

    def _ensure_names(self, table: Table, names: Iterable[str]) -> int:
        present = set(self._names(table))
        missing = sorted(set(names) - present)
        if missing:
            now = utcnow()
            self.conn.execute(insert(table), [
                {"name": n, "created_at": now, "updated_at": now} for n in missing
            ])
        return len(missing)

    def _ids(self, table: Table, names: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        rows = _IDS_BY_NAME[table.name].execute(self.conn, {"names": wanted}).fetchall()
        return {name: id_ for name, id_ in rows}

    def ensure_resource_classes(self, names: Iterable[str]) -> int:
        return self._ensure_names(t.resource_classes, names)

    def ensure_traits(self, names: Iterable[str]) -> int:
        return self._ensure_names(t.traits, names)

    def resource_class_names(self) -> list[str]:
        return self._names(t.resource_classes)

    def resource_class_ids(self, names: Iterable[str]) -> dict[str, int]:
        return self._ids(t.resource_classes, names)

    def trait_ids(self, names: Iterable[str]) -> dict[str, int]:
        return self._ids(t.traits, names)

    def resource_class_updated(self, name: str) -> datetime | None:
        return self.conn.scalar(
            select(t.resource_classes.c.updated_at).where(t.resource_classes.c.name == name))

    def trait_updated(self, name: str) -> datetime | None:
        return self.conn.scalar(select(t.traits.c.updated_at).where(t.traits.c.name == name))

    def _create_name(self, table: Table, name: str) -> bool:
        """Insert a class or trait; False when it already exists (not an error here)."""
        now = utcnow()
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(table).values(name=name, created_at=now, updated_at=now))
        except IntegrityError:
            return False
        return True

    def create_resource_class(self, name: str) -> bool:
        return self._create_name(t.resource_classes, name)

    def create_trait(self, name: str) -> bool:
        return self._create_name(t.traits, name)

    def rename_resource_class(self, old: str, new: str) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(t.resource_classes)
                                  .where(t.resource_classes.c.name == old)
                                  .values(name=new, updated_at=utcnow()))
        except IntegrityError as exc:
            raise errors.AlreadyExists(f"Resource class {new} already exists.") from exc

    def resource_class_in_use(self, rc_id: int) -> bool:
        inv = self.conn.scalar(select(exists().where(t.inventories.c.resource_class_id == rc_id)))
        alloc = self.conn.scalar(select(exists().where(t.allocations.c.resource_class_id == rc_id)))
        return bool(inv or alloc)

    def delete_resource_class(self, rc_id: int) -> None:
        self.conn.execute(delete(t.resource_classes).where(t.resource_classes.c.id == rc_id))

    def trait_in_use(self, trait_id: int) -> bool:
        return bool(self.conn.scalar(
            select(exists().where(t.provider_traits.c.trait_id == trait_id))))

    def delete_trait(self, trait_id: int) -> None:
        self.conn.execute(delete(t.traits).where(t.traits.c.id == trait_id))

    def list_traits(self, *, names: Iterable[str] | None = None, prefix: str | None = None,
                    associated: bool | None = None) -> list[str]:
        query = select(t.traits.c.name).order_by(t.traits.c.name)
        if names is not None:
            query = query.where(t.traits.c.name.in_(list(names)))
        if prefix is not None:
            # Escape LIKE wildcards: trait names may contain '_'.
            pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(t.traits.c.name.like(pattern, escape="\\"))
        if associated is not None:
            used = exists().where(t.provider_traits.c.trait_id == t.traits.c.id)
            query = query.where(used if associated else ~used)
        return list(self.conn.scalars(query))
