"""SQL for flavors and server groups (mixed into the Repository).

Flavors are found by their public id (``flavorid``) or, failing that, by name. Extra
specs and access lists are keyed by the flavor's internal row id. Uniqueness of names
and ids is checked before writing (for a clear message) and enforced by the unique
constraints (for the race), both ending in DuplicateName.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, RowMapping, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from corral.domain import errors, scheduling
from corral.domain.flavors import Flavor, ServerGroup
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.persistence.revisions import FLAVORS

_f = t.flavors
_specs = t.flavor_extra_specs
_access = t.flavor_projects
_sg = t.server_groups


def _flavor(row: RowMapping, specs: Mapping[str, str]) -> Flavor:
    return Flavor(
        id=row["flavorid"], name=row["name"], vcpus=row["vcpus"], ram_mb=row["ram_mb"],
        disk_gb=row["disk_gb"], ephemeral_gb=row["ephemeral_gb"], swap_mb=row["swap_mb"],
        is_public=bool(row["is_public"]), description=row["description"],
        extra_specs=dict(sorted(specs.items())), created_at=row["created_at"],
        updated_at=row["updated_at"])


def _server_group(row: RowMapping, members: Sequence[str] = ()) -> ServerGroup:
    return ServerGroup(
        id=row["uuid"], name=row["name"], policy=row["policy"], project_id=row["project_id"],
        user_id=row["user_id"], max_server_per_host=row["max_server_per_host"],
        members=tuple(members), created_at=row["created_at"])


class FlavorQueries:
    conn: Connection

    if TYPE_CHECKING:  # provided by RevisionQueries in the Repository
        def bump_revision(self, name: str) -> None: ...

    # -- flavors -------------------------------------------------------------------------

    def _flavor_row(self, ref: str, *, for_update: bool = False) -> RowMapping:
        for column in (_f.c.flavorid, _f.c.name):
            query = select(_f).where(column == ref)
            if for_update and self.conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = self.conn.execute(query).mappings().first()
            if row is not None:
                return row
        raise errors.FlavorNotFound(ref)

    def _specs_of(self, ids: list[int]) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            rows = self.conn.execute(select(_specs.c.flavor_id, _specs.c.key, _specs.c.value)
                                     .where(_specs.c.flavor_id.in_(ids)))
            for flavor_id, key, value in rows:
                found[flavor_id][key] = value
        return found

    def get_flavor(self, ref: str, *, for_update: bool = False) -> Flavor:
        """The flavor whose id is ``ref``, else whose name is. Raises FlavorNotFound."""
        row = self._flavor_row(ref, for_update=for_update)
        return _flavor(row, self._specs_of([row["id"]])[row["id"]])

    def flavor_visible_to(self, flavor_id: str, project_id: str) -> bool:
        """Whether ``project_id`` may see the flavor with public id ``flavor_id``."""
        shared = exists().where(_access.c.flavor_id == _f.c.id,
                                _access.c.project_id == project_id)
        return bool(self.conn.scalar(select(exists().where(
            _f.c.flavorid == flavor_id, or_(_f.c.is_public.is_(True), shared)))))

    def list_flavors(self, *, project_id: str | None, is_public: bool | None,
                     min_vcpus: int, min_ram_mb: int, min_disk_gb: int) -> list[Flavor]:
        """Flavors by name. ``project_id`` None: all of them; else public or shared with it."""
        query = select(_f).where(_f.c.vcpus >= min_vcpus, _f.c.ram_mb >= min_ram_mb,
                                 _f.c.disk_gb >= min_disk_gb).order_by(_f.c.name)
        if is_public is not None:
            query = query.where(_f.c.is_public.is_(is_public))
        if project_id is not None:
            shared = exists().where(_access.c.flavor_id == _f.c.id,
                                    _access.c.project_id == project_id)
            query = query.where(or_(_f.c.is_public.is_(True), shared))
        rows = list(self.conn.execute(query).mappings())
        specs = self._specs_of([r["id"] for r in rows])
        return [_flavor(r, specs[r["id"]]) for r in rows]

    def _flavor_taken(self, flavor: Flavor) -> list[str]:
        taken = []
        if self.conn.scalar(select(exists().where(_f.c.flavorid == flavor.id))):
            taken.append(f"id {flavor.id!r}")
        if self.conn.scalar(select(exists().where(_f.c.name == flavor.name))):
            taken.append(f"name {flavor.name!r}")
        return taken

    def create_flavor(self, flavor: Flavor) -> Flavor:
        """Insert the flavor with its extra specs. Raises DuplicateName (id or name)."""
        self.bump_revision(FLAVORS)
        taken = self._flavor_taken(flavor)
        if taken:
            raise errors.DuplicateName(f"A flavor with {' and '.join(taken)} already exists")
        now = utcnow()
        try:
            with self.conn.begin_nested():
                new_id = self.conn.execute(insert(_f).values(
                    flavorid=flavor.id, name=flavor.name, vcpus=flavor.vcpus,
                    ram_mb=flavor.ram_mb, disk_gb=flavor.disk_gb,
                    ephemeral_gb=flavor.ephemeral_gb, swap_mb=flavor.swap_mb,
                    is_public=flavor.is_public, description=flavor.description,
                    created_at=now, updated_at=now,
                ).returning(_f.c.id)).scalar_one()
        except IntegrityError as exc:
            raise errors.DuplicateName(
                f"A flavor with id {flavor.id!r} or name {flavor.name!r} already exists"
            ) from exc
        if flavor.extra_specs:
            self.conn.execute(insert(_specs), [
                {"flavor_id": new_id, "key": k, "value": v} for k, v in flavor.extra_specs.items()])
        return self.get_flavor(flavor.id)

    def set_flavor_description(self, flavor_id: str, description: str | None) -> None:
        self.bump_revision(FLAVORS)
        self.conn.execute(update(_f).where(_f.c.flavorid == flavor_id)
                          .values(description=description, updated_at=utcnow()))

    def delete_flavor(self, flavor_id: str) -> None:
        self.bump_revision(FLAVORS)
        row_id = self._flavor_row(flavor_id)["id"]
        self.conn.execute(delete(_specs).where(_specs.c.flavor_id == row_id))
        self.conn.execute(delete(_access).where(_access.c.flavor_id == row_id))
        self.conn.execute(delete(_f).where(_f.c.id == row_id))

    def replace_extra_specs(self, flavor_id: str, specs: Mapping[str, str]) -> None:
        """Make the flavor's extra specs exactly ``specs`` (one delete, one insert)."""
        self.bump_revision(FLAVORS)
        row_id = self._flavor_row(flavor_id)["id"]
        self.conn.execute(delete(_specs).where(_specs.c.flavor_id == row_id))
        if specs:
            self.conn.execute(insert(_specs), [
                {"flavor_id": row_id, "key": k, "value": v} for k, v in specs.items()])
        self.conn.execute(update(_f).where(_f.c.id == row_id).values(updated_at=utcnow()))

    # -- access ----------------------------------------------------------------------------

    def flavor_projects(self, flavor_id: str) -> list[str]:
        row_id = self._flavor_row(flavor_id)["id"]
        return list(self.conn.scalars(select(_access.c.project_id)
                                      .where(_access.c.flavor_id == row_id)
                                      .order_by(_access.c.project_id)))

    def add_flavor_project(self, flavor_id: str, project_id: str) -> None:
        """Raises FlavorAccessExists when the project already has access."""
        self.bump_revision(FLAVORS)
        row_id = self._flavor_row(flavor_id)["id"]
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(_access).values(flavor_id=row_id, project_id=project_id))
        except IntegrityError as exc:
            raise errors.FlavorAccessExists(flavor_id, project_id) from exc

    def remove_flavor_project(self, flavor_id: str, project_id: str) -> None:
        """Raises FlavorAccessNotFound when the project had no access."""
        self.bump_revision(FLAVORS)
        row_id = self._flavor_row(flavor_id)["id"]
        gone = self.conn.execute(delete(_access).where(_access.c.flavor_id == row_id,
                                                       _access.c.project_id == project_id))
        if gone.rowcount == 0:
            raise errors.FlavorAccessNotFound(flavor_id, project_id)

    # -- server groups ---------------------------------------------------------------------

    def create_server_group(self, group: ServerGroup) -> ServerGroup:
        now = utcnow()
        self.conn.execute(insert(_sg).values(
            uuid=group.id, name=group.name, policy=group.policy, project_id=group.project_id,
            user_id=group.user_id, max_server_per_host=group.max_server_per_host,
            created_at=now, updated_at=now))
        return self.get_server_group(group.id)

    def get_server_group(self, uuid: str) -> ServerGroup:
        row = self.conn.execute(select(_sg).where(_sg.c.uuid == uuid)).mappings().first()
        if row is None:
            raise errors.ServerGroupNotFound(uuid)
        return _server_group(row, self._members([uuid]).get(uuid, []))

    def _members(self, group_uuids: Sequence[str]) -> dict[str, list[str]]:
        """{group uuid: its live instances, oldest first}."""
        i = t.instances
        out: dict[str, list[str]] = {}
        if not group_uuids:
            return out
        rows = self.conn.execute(
            select(i.c.server_group_uuid, i.c.uuid)
            .where(i.c.server_group_uuid.in_(sorted(set(group_uuids))),
                   i.c.state.in_(scheduling.LIVE_STATES))
            .order_by(i.c.created_at, i.c.id))
        for group, member in rows:
            out.setdefault(group, []).append(member)
        return out

    def list_server_groups(self, *, project_id: str | None = None,
                           name: str | None = None) -> list[ServerGroup]:
        query = select(_sg).order_by(_sg.c.project_id, _sg.c.name, _sg.c.uuid)
        if project_id is not None:
            query = query.where(_sg.c.project_id == project_id)
        if name is not None:
            query = query.where(_sg.c.name == name)
        rows = list(self.conn.execute(query).mappings())
        members = self._members([r["uuid"] for r in rows])
        return [_server_group(r, members.get(r["uuid"], [])) for r in rows]

    def delete_server_group(self, uuid: str) -> None:
        if self.conn.execute(delete(_sg).where(_sg.c.uuid == uuid)).rowcount == 0:
            raise errors.ServerGroupNotFound(uuid)
