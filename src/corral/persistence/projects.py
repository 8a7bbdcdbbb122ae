"""SQL for the project tree, its limits and the subtree part of the ledger (mixed into
the Repository).

A project is a row of ``projects``: the id clients use (``external_id``), an optional
name, and a parent (NULL: a root). Claims create a project they have not seen as a root.
Limits are rows of ``quota_limits`` (per project) and ``quota_defaults``; usage is the
ledger ``quota_usage`` (own and subtree per project and resource).

Every write here belongs to a transaction that first bumped the ``projects`` revision
(the services do it): on PostgreSQL that row lock is what holds claims still while the
tree or a limit changes, and it serialises tree writes among themselves, so the
update-then-insert of a limit cannot race another writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from corral.domain import scheduling
from corral.domain.project_checks import ProjectExists
from corral.domain.project_records import ProjectRecord, ProjectRow
from corral.persistence import tables as t
from corral.persistence.clock import utcnow

_p = t.projects
_lim = t.quota_limits
_def = t.quota_defaults
_use = t.quota_usage
_BY_EXTERNAL = select(_p.c.id, _p.c.external_id, _p.c.name, _p.c.parent_id).where(
    _p.c.external_id == bindparam("external_id"))
_BY_ID = select(_p.c.id, _p.c.external_id, _p.c.name, _p.c.parent_id).where(
    _p.c.id == bindparam("id"))


class ProjectQueries:
    conn: Connection

    def project_by_external_id(self, external_id: str) -> ProjectRow | None:
        row = self.conn.execute(_BY_EXTERNAL, {"external_id": external_id}).first()
        return ProjectRow(*row) if row is not None else None

    def project_chain(self, external_id: str) -> list[ProjectRow]:
        """The project then each ancestor up to its root; [] when the project is unknown.

        One query per level: trees are shallow (a depth of 8 is already deep) and the
        walk stops at the root. A cycle (impossible through the services) ends the walk.
        """
        row = self.project_by_external_id(external_id)
        chain: list[ProjectRow] = []
        seen: set[int] = set()
        while row is not None and row.id not in seen:
            chain.append(row)
            seen.add(row.id)
            if row.parent_id is None:
                break
            found = self.conn.execute(_BY_ID, {"id": row.parent_id}).first()
            row = ProjectRow(*found) if found is not None else None
        return chain

    # -- the tree ------------------------------------------------------------------------

    def project_records(self) -> list[ProjectRecord]:
        """Every project (one query: the services validate limits on the whole tree)."""
        rows = self.conn.execute(select(_p.c.id, _p.c.external_id, _p.c.name, _p.c.parent_id,
                                        _p.c.created_at, _p.c.updated_at))
        return [ProjectRecord(*row) for row in rows]

    def create_project(self, external_id: str, name: str | None, parent_id: int | None) -> int:
        """Insert a project; its row id. Raises ProjectExists (also when a claim races)."""
        now = utcnow()
        try:
            with self.conn.begin_nested():
                return int(self.conn.execute(insert(_p).values(
                    external_id=external_id, name=name, parent_id=parent_id,
                    created_at=now, updated_at=now).returning(_p.c.id)).scalar_one())
        except IntegrityError as exc:
            raise ProjectExists(external_id) from exc

    def update_project(self, row_id: int, **values: object) -> None:
        """Set ``name`` and/or ``parent_id`` (a row id or None)."""
        self.conn.execute(update(_p).where(_p.c.id == row_id)
                          .values(**values, updated_at=utcnow()))

    def project_uses(self, row_id: int, external_id: str) -> list[str]:
        """What keeps a project from being deleted, as phrases ([] when nothing does)."""
        i, co, sg = t.instances, t.consumers, t.server_groups
        counts = (
            ("child project(s)", select(func.count()).where(_p.c.parent_id == row_id)),
            ("live instance(s)", select(func.count()).where(
                i.c.project_id == external_id, i.c.state != scheduling.DELETED)),
            ("consumer(s) in Placement", select(func.count()).where(co.c.project_id == row_id)),
            ("server group(s)", select(func.count()).where(sg.c.project_id == external_id)),
        )
        out = []
        for what, query in counts:
            n = int(self.conn.scalar(query) or 0)
            if n:
                out.append(f"{n} {what}")
        return out

    def delete_project(self, row_id: int) -> None:
        """Delete a project with its limits and ledger rows (the foreign keys cascade on
        PostgreSQL; SQLite may not enforce them, so say it)."""
        self.conn.execute(delete(_lim).where(_lim.c.project_id == row_id))
        self.conn.execute(delete(_use).where(_use.c.project_id == row_id))
        self.conn.execute(delete(_p).where(_p.c.id == row_id))

    # -- limits ------------------------------------------------------------------------------

    def project_limits(self, row_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """Limits set on projects (all, or those of ``row_ids``): row id -> resource -> limit."""
        query = select(_lim.c.project_id, _lim.c.resource, _lim.c.hard_limit)
        if row_ids is not None:
            query = query.where(_lim.c.project_id.in_(sorted(set(row_ids))))
        out: dict[int, dict[str, int]] = {}
        for pid, res, limit in self.conn.execute(query):
            out.setdefault(pid, {})[res] = int(limit)
        return out

    def set_project_limits(self, row_id: int, limits: Mapping[str, int]) -> None:
        now = utcnow()
        for res, limit in sorted(limits.items()):
            done = self.conn.execute(update(_lim).where(
                _lim.c.project_id == row_id, _lim.c.resource == res).values(
                hard_limit=limit, updated_at=now))
            if not done.rowcount:
                self.conn.execute(insert(_lim).values(
                    project_id=row_id, resource=res, hard_limit=limit, created_at=now,
                    updated_at=now))

    def unset_project_limit(self, row_id: int, resource: str) -> bool:
        """False when no such limit was set."""
        gone = self.conn.execute(delete(_lim).where(_lim.c.project_id == row_id,
                                                    _lim.c.resource == resource))
        return bool(gone.rowcount)

    def default_limits(self) -> dict[str, int]:
        return {res: int(limit) for res, limit in self.conn.execute(
            select(_def.c.resource, _def.c.hard_limit).order_by(_def.c.resource))}

    def set_default_limits(self, limits: Mapping[str, int]) -> None:
        now = utcnow()
        for res, limit in sorted(limits.items()):
            done = self.conn.execute(update(_def).where(_def.c.resource == res).values(
                hard_limit=limit, updated_at=now))
            if not done.rowcount:
                self.conn.execute(insert(_def).values(resource=res, hard_limit=limit,
                                                      created_at=now, updated_at=now))

    def unset_default_limit(self, resource: str) -> bool:
        gone = self.conn.execute(delete(_def).where(_def.c.resource == resource))
        return bool(gone.rowcount)

    # -- the ledger, as tree changes see it ---------------------------------------------------

    def usage_rows(self, row_ids: Iterable[int] | None = None, *, lock: bool = False
                   ) -> dict[tuple[int, str], tuple[int, int]]:
        """(row id, resource) -> (own, subtree) of every ledger row (or of ``row_ids``).

        ``lock``: take the rows FOR UPDATE, sorted by (project, resource) as claims do
        (PostgreSQL; SQLite writers are already serialised by BEGIN IMMEDIATE).
        """
        query = (select(_use.c.project_id, _use.c.resource, _use.c.own, _use.c.subtree)
                 .order_by(_use.c.project_id, _use.c.resource))
        if row_ids is not None:
            ids = sorted(set(row_ids))
            if not ids:
                return {}
            query = query.where(_use.c.project_id.in_(ids))
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return {(pid, res): (int(own), int(sub))
                for pid, res, own, sub in self.conn.execute(query)}

    def add_subtree_usage(self, deltas: Mapping[tuple[int, str], int],
                          present: Iterable[tuple[int, str]]) -> None:
        """Add ``deltas`` to the subtree usage of ledger rows; rows not in ``present``
        (the rows the caller locked) are inserted with own usage 0."""
        have = set(present)
        for (pid, res), delta in sorted(deltas.items()):
            if not delta:
                continue
            if (pid, res) in have:
                self.conn.execute(update(_use).where(
                    _use.c.project_id == pid, _use.c.resource == res).values(
                    subtree=_use.c.subtree + delta))
            else:
                self.conn.execute(insert(_use).values(project_id=pid, resource=res, own=0,
                                                      subtree=delta))

    def project_has_usage_rows(self, row_id: int) -> bool:
        return bool(self.conn.scalar(select(exists().where(_use.c.project_id == row_id))))
