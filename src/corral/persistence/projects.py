"""SQL for the project tree (mixed into the Repository).

A project is a row of ``projects``: the id clients use (``external_id``), an optional
name, and a parent (NULL: a root). Claims create a project they have not seen as a root.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from corral.persistence import tables as t

_p = t.projects
_BY_EXTERNAL = select(_p.c.id, _p.c.external_id, _p.c.name, _p.c.parent_id).where(
    _p.c.external_id == bindparam("external_id"))
_BY_ID = select(_p.c.id, _p.c.external_id, _p.c.name, _p.c.parent_id).where(
    _p.c.id == bindparam("id"))


@dataclass(frozen=True, slots=True)
class ProjectRow:
    id: int
    external_id: str
    name: str | None
    parent_id: int | None


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
