"""A project tree, tokens of every role in it, and a snapshot of the whole database.

The tree is written as rows (the project routes are another part of the issue): a
project admin's reach only needs ``projects.parent_id``.

    org                    outsider
     +-- dept-a
     |    +-- team-a1
     |    |    +-- sub-a1x
     |    +-- team-a2
     +-- dept-b
          +-- team-b1
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from corral.persistence import Store, tables
from corral.persistence.clock import utcnow
from corral.services import tokens as token_svc
from corral.services.audit_log import local_actor

#: project -> parent (parents first).
TREE: dict[str, str | None] = {
    "org": None, "dept-a": "org", "team-a1": "dept-a", "sub-a1x": "team-a1",
    "team-a2": "dept-a", "dept-b": "org", "team-b1": "dept-b", "outsider": None}


def make_tree(store: Store, tree: dict[str, str | None] = TREE) -> None:
    now = utcnow()
    p = tables.projects
    with store.write() as repo:
        ids: dict[str, int] = {}
        for project, parent in tree.items():
            ids[project] = repo.conn.execute(insert(p).values(
                external_id=project, name=project, parent_id=ids[parent] if parent else None,
                created_at=now, updated_at=now).returning(p.c.id)).scalar_one()


def subtree(project: str, tree: dict[str, str | None] = TREE) -> set[str]:
    """``project`` and every descendant."""
    found = {project}
    grew = True
    while grew:
        more = {child for child, parent in tree.items() if parent in found} - found
        grew = bool(more)
        found |= more
    return found


def token(store: Store, role: str, project: str | None, **fields: Any) -> dict[str, str]:
    """Headers carrying a new stored token of ``role`` in ``project``."""
    created = token_svc.create_token(store, role=role, project_id=project,
                                     actor=local_actor("tests"), **fields)
    return {"x-auth-token": created.secret}


_SKIPPED = {"traits", "resource_classes"}  # catalogues: large, and no route here writes them


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the catalogues), in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.read() as repo:
        for table in tables.metadata.sorted_tables:
            if table.name not in _SKIPPED:
                rows = repo.conn.execute(select(table)).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out
