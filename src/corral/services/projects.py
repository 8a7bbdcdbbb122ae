"""Projects: the tree (create, show, list, rename, move, delete). Limits and the quota
view are in :mod:`corral.services.limits` (re-exported here for the edges), the tree as
a transaction loads it in :mod:`corral.services.project_tree` (docs/quotas.md).

Each use-case is one transaction. Every write bumps the ``projects`` revision first: on
PostgreSQL that exclusive row lock holds claims (which share it) still until commit, so
no boot sees half a move or checks against a limit being changed. Writes then read the
whole tree with its limits (one query each) and check the allocation model on it
(:mod:`corral.domain.projects`); a change is refused only for what it makes worse.

A move carries the moved subtree's usage along in the ledger: subtracted from every old
ancestor's subtree usage and added to every new one's (the common ancestors keep theirs),
with the ledger rows of both chains locked first, sorted by (project, resource).
Who may call which is the edge's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import structlog

from corral.domain import project_checks as checks
from corral.domain import projects as rules
from corral.domain.audit_log import Actor
from corral.domain.projects import Model, Node, Project, Tree
from corral.persistence.revisions import PROJECTS
from corral.services.audit_log import record
from corral.services.project_tree import (
    Loaded,
    checked_limits,
    load,
    project_named,
    refuse_new,
    subtree_usage,
)
from corral.services.stores import ProjectStore, Store

log = structlog.get_logger("corral.projects")


class Keep(Enum):
    """Leave a field of :func:`update_project` as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


# -- projects ------------------------------------------------------------------------------

def create_project(store: Store, project_id: str, *, model: Model, actor: Actor,
                   name: str | None = None, parent_id: str | None = None,
                   limits: Mapping[str, int] | None = None) -> Project:
    """Create a project, a root or under ``parent_id``, with optional limits of its own.

    Raises:
        InvalidInput: a bad id or name, or a parent that does not exist (``parent_id``).
        ProjectExists: the id is taken.
        LimitConflict: ``limits`` against the model (400).
        MoveBreaksLimits: strict model, the new child would break its parent's sum.
    """
    checks.check_project_id(project_id)
    checks.check_project_name(name)
    if parent_id is not None:
        checks.check_project_id(parent_id, field="parent_id")
    own = checked_limits(limits or {})
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        if parent_id is not None:  # by id or name
            parent_id = project_named(loaded, parent_id, field="parent_id")
        if project_id in loaded.tree:
            raise checks.ProjectExists(project_id)
        if parent_id is not None and parent_id not in loaded.tree:
            raise checks.ParentNotFound(parent_id)
        if parent_id is not None and len(loaded.tree.chain(parent_id)) >= checks.MAX_DEPTH:
            raise checks.TreeTooDeep(project_id, len(loaded.tree.chain(parent_id)))
        after = Tree([*loaded.tree.nodes.values(), Node(project_id, parent_id, own)],
                     loaded.tree.defaults)
        worse = refuse_new(loaded.tree, after, model, None)
        if worse is not None:
            if own:
                raise checks.LimitConflict(worse)
            raise checks.MoveBreaksLimits(project_id, worse)
        repo.create_project(project_id, name,
                            loaded.row_id(parent_id) if parent_id is not None else None)
        new_row = repo.project_by_external_id(project_id)
        assert new_row is not None
        if own:
            repo.set_project_limits(new_row.id, own)
        created = load(repo).project(project_id)
        record(repo, actor, "project.create", "project", project_id,
               after=_shown(project_id, name, parent_id, own))
    log.info("project_created", project=project_id, parent=parent_id, limits=own or None,
             actor=actor.user_id)
    return created


def resolve_project(store: Store, ref: str, *, within: str | None = None,
                    field: str | None = None) -> str:
    """:func:`project_named` in a transaction of its own."""
    with store.read() as repo:
        return project_named(load(repo), ref, within=within, field=field)


def get_project(store: Store, project_id: str) -> Project:
    """Raises ProjectNotFound."""
    with store.read() as repo:
        loaded = load(repo)
        project_id = loaded.named(project_id)
        return loaded.project(project_id)


def list_projects(store: Store, *, root: str | None = None, depth: int | None = None
                  ) -> list[Project]:
    """A subtree depth first (children by id): ``root`` and what is below it, else every
    root and what is below each; ``depth`` levels below the root(s) at most (0: only the
    root(s)). Raises ProjectNotFound for an unknown root."""
    with store.read() as repo:
        loaded = load(repo)
        if root is not None:
            root = loaded.named(root)
        starts = [root] if root is not None else loaded.tree.roots()
        found: list[Project] = []
        for start in starts:
            found.append(loaded.project(start))
            found.extend(loaded.project(p) for p in loaded.tree.descendants(start, depth))
        return found


def update_project(store: Store, project_id: str, *, model: Model, actor: Actor,
                   name: str | None | Keep = KEEP, parent_id: str | None | Keep = KEEP
                   ) -> Project:
    """Rename (``name``; None clears it) and/or move (``parent_id``; None makes a root).

    Raises:
        ProjectNotFound: no such project.
        ParentNotFound: the new parent does not exist (400, ``parent_id``).
        ProjectCycle: the new parent is the project or below it.
        TreeTooDeep: the subtree would end too deep.
        SubtreeDoesNotFit: the subtree's usage would take a new ancestor past its limit.
        MoveBreaksLimits: the subtree's limits would break the model under the new parent.
    """
    if not isinstance(name, Keep):
        checks.check_project_name(name)
    if isinstance(parent_id, str):
        checks.check_project_id(parent_id, field="parent_id")
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        project_id = loaded.named(project_id)
        if isinstance(parent_id, str):  # by id or name
            parent_id = project_named(loaded, parent_id, field="parent_id")
        values: dict[str, object] = {}
        if not isinstance(name, Keep):
            values["name"] = name
        if not isinstance(parent_id, Keep) and parent_id != loaded.tree.nodes[project_id].parent:
            _move(repo, loaded, project_id, parent_id, model)
            values["parent_id"] = loaded.row_id(parent_id) if parent_id is not None else None
        if values:
            repo.update_project(loaded.row_id(project_id), **values)
        updated = load(repo).project(project_id)
        was = loaded.project(project_id)
        before = {"name": was.name, "parent_id": was.parent_id}
        after = {"name": updated.name, "parent_id": updated.parent_id}
        if before != after:  # a PATCH to the same name changes nothing: no entry
            record(repo, actor, "project.move" if "parent_id" in values else "project.rename",
                   "project", project_id, before=before, after=after)
    if "parent_id" in values:
        log.info("project_moved", project=project_id, parent=parent_id,
                 old_parent=loaded.tree.nodes[project_id].parent, actor=actor.user_id)
    if "name" in values:
        log.info("project_renamed", project=project_id, name=name, actor=actor.user_id)
    return updated


def _move(repo: ProjectStore, loaded: Loaded, project: str, parent: str | None,
          model: Model) -> None:
    """Check a move and carry the subtree's usage along in the ledger (not the row)."""
    tree = loaded.tree
    if parent is not None and parent not in tree:
        raise checks.ParentNotFound(parent)
    rules.check_move(tree, project, parent)
    losing, gaining = rules.move_plan(tree, project, parent)
    rows = [loaded.row_id(p) for p in (project, *losing, *gaining)]
    locked = repo.usage_rows(rows, lock=True)
    pid = loaded.row_id(project)
    moved = {res: sub for (row, res), (_own, sub) in locked.items() if row == pid and sub}
    rules.check_subtree_fits(tree, project, moved, gaining, subtree_usage(loaded, locked))
    worse = refuse_new(tree, tree.with_parent(project, parent), model, None)
    if worse is not None:
        raise checks.MoveBreaksLimits(project, worse)
    deltas = {(loaded.row_id(p), res): delta
              for (p, res), delta in rules.move_deltas(losing, gaining, moved).items()}
    repo.add_subtree_usage(deltas, locked)


def delete_project(store: Store, project_id: str, *, actor: Actor) -> None:
    """Delete a project with its limits and ledger rows.

    Raises:
        ProjectNotFound: no such project.
        ProjectInUse: it has children, live instances, consumers or server groups.
    """
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        project_id = loaded.named(project_id)
        row = loaded.row_id(project_id)
        uses = repo.project_uses(row, project_id)
        if uses:
            raise checks.ProjectInUse(project_id, uses)
        # What the ledger still says the project uses (drift: it has nothing left) is
        # taken off its ancestors too, so the ledger stays the sum of its parts.
        ancestors = [loaded.row_id(p) for p in loaded.tree.ancestors(project_id)]
        locked = repo.usage_rows([row, *ancestors], lock=True)
        deltas: dict[tuple[int, str], int] = {}
        for (pid, res), (_own, sub) in locked.items():
            if pid == row and sub:
                for anc in ancestors:
                    deltas[(anc, res)] = -sub
        repo.add_subtree_usage(deltas, locked)
        repo.delete_project(row)
        was = loaded.project(project_id)
        record(repo, actor, "project.delete", "project", project_id,
               before=_shown(project_id, was.name, was.parent_id,
                             loaded.tree.nodes[project_id].limits))
    log.info("project_deleted", project=project_id, actor=actor.user_id)


def _shown(project_id: str, name: str | None, parent_id: str | None,
           limits: Mapping[str, int]) -> dict[str, object]:
    """A project as its audit entries show it."""
    return {"id": project_id, "name": name, "parent_id": parent_id, "limits": dict(limits)}
