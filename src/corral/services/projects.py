"""Projects and limits: the tree (create, show, list, rename, move, delete), per-project
and default limits, and the quota view of a project (docs/quotas.md).

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
from dataclasses import dataclass
from enum import Enum

import structlog

from corral.domain import errors, quotas
from corral.domain import projects as rules
from corral.domain.project_records import ProjectRecord
from corral.domain.projects import (
    LimitWarning,
    Model,
    Node,
    Project,
    ProjectNotFound,
    ResourceQuota,
    Tree,
)
from corral.persistence.revisions import PROJECTS
from corral.services.stores import ProjectStore, Store

log = structlog.get_logger("corral.projects")


class Keep(Enum):
    """Leave a field of :func:`update_project` as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Loaded:
    """The whole tree of one transaction: rules' view plus the rows behind it."""

    tree: Tree
    records: dict[str, ProjectRecord]

    def row_id(self, project: str) -> int:
        return self.records[project].id

    def project(self, project: str) -> Project:
        rec = self.records[project]
        return Project(id=project, name=rec.name, parent_id=self.tree.nodes[project].parent,
                       path=self.tree.path(project), children=tuple(self.tree.children(project)),
                       created_at=rec.created_at, updated_at=rec.updated_at)

    def require(self, project: str) -> None:
        if project not in self.tree:
            raise ProjectNotFound(project)

    def named(self, ref: str) -> str:
        """The id of the project ``ref`` is the id or (unique) name of (ProjectNotFound,
        AmbiguousName)."""
        found = project_named(self, ref)
        self.require(found)
        return found


@dataclass(frozen=True)
class ProjectLimits:
    """A project's own limits, and for every resource limited anywhere on it (own or
    default) the effective limit and where it comes from."""

    project_id: str
    limits: dict[str, int]
    effective: dict[str, tuple[int, rules.Source]]


@dataclass(frozen=True)
class QuotaNode:
    """One project of a quota tree: its per-resource limits and usage."""

    project: Project
    resources: list[ResourceQuota]


def load(repo: ProjectStore) -> Loaded:
    records = {r.external_id: r for r in repo.project_records()}
    by_row = {r.id: r.external_id for r in records.values()}
    limits = repo.project_limits()
    nodes = [Node(r.external_id, by_row.get(r.parent_id) if r.parent_id is not None else None,
                  limits.get(r.id, {})) for r in records.values()]
    return Loaded(Tree(nodes, repo.default_limits()), records)


def _subtree_usage(loaded: Loaded, usage: Mapping[tuple[int, str], tuple[int, int]]
                   ) -> dict[tuple[str, str], int]:
    names = {rec.id: ext for ext, rec in loaded.records.items()}
    return {(names[pid], res): sub for (pid, res), (_own, sub) in usage.items() if pid in names}


def _refuse_new(before: Tree, after: Tree, model: Model, resources: set[str] | None,
                ) -> rules.Violation | None:
    worse = rules.new_violations(rules.violations(before, model, resources),
                                 rules.violations(after, model, resources))
    return worse[0] if worse else None


# -- projects ------------------------------------------------------------------------------

def create_project(store: Store, project_id: str, *, model: Model, name: str | None = None,
                   parent_id: str | None = None, limits: Mapping[str, int] | None = None
                   ) -> Project:
    """Create a project, a root or under ``parent_id``, with optional limits of its own.

    Raises:
        InvalidInput: a bad id or name, or a parent that does not exist (``parent_id``).
        ProjectExists: the id is taken.
        LimitConflict: ``limits`` against the model (400).
        MoveBreaksLimits: strict model, the new child would break its parent's sum.
    """
    rules.check_project_id(project_id)
    rules.check_project_name(name)
    if parent_id is not None:
        rules.check_project_id(parent_id, field="parent_id")
    own = _checked_limits(limits or {})
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        if parent_id is not None:  # by id or name
            parent_id = project_named(loaded, parent_id, field="parent_id")
        if project_id in loaded.tree:
            raise rules.ProjectExists(project_id)
        if parent_id is not None and parent_id not in loaded.tree:
            raise rules.ParentNotFound(parent_id)
        if parent_id is not None and len(loaded.tree.chain(parent_id)) >= rules.MAX_DEPTH:
            raise rules.TreeTooDeep(project_id, len(loaded.tree.chain(parent_id)))
        after = Tree([*loaded.tree.nodes.values(), Node(project_id, parent_id, own)],
                     loaded.tree.defaults)
        worse = _refuse_new(loaded.tree, after, model, None)
        if worse is not None:
            if own:
                raise rules.LimitConflict(worse)
            raise rules.MoveBreaksLimits(project_id, worse)
        repo.create_project(project_id, name,
                            loaded.row_id(parent_id) if parent_id is not None else None)
        new_row = repo.project_by_external_id(project_id)
        assert new_row is not None
        if own:
            repo.set_project_limits(new_row.id, own)
        created = load(repo).project(project_id)
    log.info("project_created", project=project_id, parent=parent_id, limits=own or None)
    return created


def project_named(loaded: Loaded, ref: str, *, within: str | None = None,
                  field: str | None = None) -> str:
    """The id of the project whose id is ``ref``, else of the only one named ``ref``
    (among ``within`` and its descendants, when given: a project's caller does not
    resolve other projects' names). ``ref`` itself when nothing matches, so the caller's
    usual not-found (or not-allowed) answer follows.

    Raises:
        AmbiguousName: several of those projects are named ``ref``.
    """
    if ref in loaded.tree:
        return ref
    seen = (set(loaded.records) if within is None or within not in loaded.tree
            else {within, *loaded.tree.descendants(within)})
    named = sorted(p for p in seen if loaded.records[p].name == ref)
    if len(named) > 1:
        raise errors.AmbiguousName("project", ref, named, field=field)
    return named[0] if named else ref


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


def update_project(store: Store, project_id: str, *, model: Model,
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
        rules.check_project_name(name)
    if isinstance(parent_id, str):
        rules.check_project_id(parent_id, field="parent_id")
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
    if "parent_id" in values:
        log.info("project_moved", project=project_id, parent=parent_id,
                 old_parent=loaded.tree.nodes[project_id].parent)
    if "name" in values:
        log.info("project_renamed", project=project_id, name=name)
    return updated


def _move(repo: ProjectStore, loaded: Loaded, project: str, parent: str | None,
          model: Model) -> None:
    """Check a move and carry the subtree's usage along in the ledger (not the row)."""
    tree = loaded.tree
    if parent is not None and parent not in tree:
        raise rules.ParentNotFound(parent)
    rules.check_move(tree, project, parent)
    losing, gaining = rules.move_plan(tree, project, parent)
    rows = [loaded.row_id(p) for p in (project, *losing, *gaining)]
    locked = repo.usage_rows(rows, lock=True)
    pid = loaded.row_id(project)
    moved = {res: sub for (row, res), (_own, sub) in locked.items() if row == pid and sub}
    rules.check_subtree_fits(tree, project, moved, gaining, _subtree_usage(loaded, locked))
    worse = _refuse_new(tree, tree.with_parent(project, parent), model, None)
    if worse is not None:
        raise rules.MoveBreaksLimits(project, worse)
    deltas = {(loaded.row_id(p), res): delta
              for (p, res), delta in rules.move_deltas(losing, gaining, moved).items()}
    repo.add_subtree_usage(deltas, locked)


def delete_project(store: Store, project_id: str) -> None:
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
            raise rules.ProjectInUse(project_id, uses)
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
    log.info("project_deleted", project=project_id)


# -- limits --------------------------------------------------------------------------------

def _checked_limits(limits: Mapping[str, object]) -> dict[str, int]:
    return {quotas.check_resource(res, field=f"limits.{res}"):
            quotas.check_limit(value, field=f"limits.{res}")
            for res, value in limits.items()}


def _limits_view(tree: Tree, project: str) -> ProjectLimits:
    own = dict(sorted(tree.nodes[project].limits.items()))
    wanted = sorted(set(own) | set(tree.defaults))
    return ProjectLimits(project, own, {res: (tree.effective(project, res),
                                              tree.source(project, res)) for res in wanted})


def get_limits(store: Store, project_id: str) -> ProjectLimits:
    """Raises ProjectNotFound."""
    with store.read() as repo:
        loaded = load(repo)
        project_id = loaded.named(project_id)
        return _limits_view(loaded.tree, project_id)


def set_limits(store: Store, project_id: str, limits: Mapping[str, object], *, model: Model
               ) -> tuple[ProjectLimits, list[LimitWarning]]:
    """Set (merge) limits of a project; -1 is unlimited.

    Returns:
        The project's limits, and a warning for each resource now below its usage
        (allowed: nothing running is touched, new claims are refused).

    Raises:
        InvalidInput: a bad resource or value (``limits.<resource>``), or no limits.
        ProjectNotFound: no such project.
        LimitConflict: the model refuses a value (400 naming both projects).
    """
    if not limits:
        raise errors.InvalidInput("give at least one limit", field="limits")
    wanted = _checked_limits(limits)
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        project_id = loaded.named(project_id)
        before = loaded.tree
        after = before.with_limits(project_id, {**before.nodes[project_id].limits, **wanted})
        worse = _refuse_new(before, after, model, set(wanted))
        if worse is not None:
            raise rules.LimitConflict(worse)
        row = loaded.row_id(project_id)
        repo.set_project_limits(row, wanted)
        usage = _subtree_usage(loaded, repo.usage_rows([row]))
    log.info("limits_set", project=project_id, limits=wanted)
    return (_limits_view(after, project_id),
            rules.below_usage(after, [project_id], wanted, usage))


def unset_limit(store: Store, project_id: str, resource: str, *, model: Model
                ) -> tuple[ProjectLimits, list[LimitWarning]]:
    """Remove a project's own limit: the default (or unlimited) applies again.

    Raises:
        ProjectNotFound, LimitNotFound: nothing to unset.
        LimitConflict: what now applies breaks the model (e.g. a child above the default).
    """
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        project_id = loaded.named(project_id)
        before = loaded.tree
        own = dict(before.nodes[project_id].limits)
        if own.pop(resource, None) is None:
            raise rules.LimitNotFound(project_id, resource)
        after = before.with_limits(project_id, own)
        worse = _refuse_new(before, after, model, {resource})
        if worse is not None:
            raise rules.LimitConflict(worse, field="resource")
        row = loaded.row_id(project_id)
        repo.unset_project_limit(row, resource)
        usage = _subtree_usage(loaded, repo.usage_rows([row]))
    log.info("limit_unset", project=project_id, resource=resource)
    return (_limits_view(after, project_id),
            rules.below_usage(after, [project_id], [resource], usage))


def get_default_limits(store: Store) -> dict[str, int]:
    with store.read() as repo:
        return repo.default_limits()


def _change_defaults(store: Store, change: Mapping[str, int | None], model: Model,
                     field: str | None) -> tuple[dict[str, int], list[LimitWarning]]:
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        before = loaded.tree
        defaults = dict(before.defaults)
        for res, value in change.items():
            if value is None:
                if defaults.pop(res, None) is None:
                    raise rules.LimitNotFound(None, res)
            else:
                defaults[res] = value
        after = before.with_defaults(defaults)
        worse = _refuse_new(before, after, model, set(change))
        if worse is not None:
            raise rules.LimitConflict(worse, field=field)
        to_set = {r: v for r, v in change.items() if v is not None}
        if to_set:
            repo.set_default_limits(to_set)
        for res in (r for r, v in change.items() if v is None):
            repo.unset_default_limit(res)
        relying = [p for p in after.nodes
                   if any(res not in after.nodes[p].limits for res in change)]
        usage = _subtree_usage(loaded, repo.usage_rows())
    warnings = [w for w in rules.below_usage(after, relying, change, usage)
                if w.resource not in after.nodes[w.project_id].limits]
    log.info("default_limits_changed", change=dict(change))
    return dict(sorted(defaults.items())), warnings


def set_default_limits(store: Store, limits: Mapping[str, object], *, model: Model
                       ) -> tuple[dict[str, int], list[LimitWarning]]:
    """Set (merge) default limits: what every project without its own limit gets.

    Returns the defaults, and a warning for each project relying on a default that is
    now below its usage. Raises InvalidInput, LimitConflict (as :func:`set_limits`).
    """
    if not limits:
        raise errors.InvalidInput("give at least one limit", field="limits")
    wanted: dict[str, int | None] = dict(_checked_limits(limits))
    return _change_defaults(store, wanted, model, None)


def unset_default_limit(store: Store, resource: str, *, model: Model
                        ) -> tuple[dict[str, int], list[LimitWarning]]:
    """Remove a default: projects without their own limit become unlimited in it.

    Raises LimitNotFound, LimitConflict (strict: an unlimited child under a limited parent).
    """
    return _change_defaults(store, {resource: None}, model, "resource")


# -- the quota view ------------------------------------------------------------------------

def _usage_by_name(loaded: Loaded, usage: Mapping[tuple[int, str], tuple[int, int]]
                   ) -> dict[tuple[str, str], tuple[int, int]]:
    names = {rec.id: ext for ext, rec in loaded.records.items()}
    return {(names[pid], res): value for (pid, res), value in usage.items() if pid in names}


def quota_of(store: Store, project_id: str) -> tuple[Project, list[ResourceQuota]]:
    """Per resource: effective limit, own and subtree usage, headroom along the chain.

    Raises ProjectNotFound.
    """
    with store.read() as repo:
        loaded = load(repo)
        project_id = loaded.named(project_id)
        chain = loaded.tree.chain(project_id)
        usage = _usage_by_name(loaded, repo.usage_rows([loaded.row_id(p) for p in chain]))
        return loaded.project(project_id), rules.quota_of(loaded.tree, project_id, usage)


def quota_tree(store: Store, project_id: str, *, depth: int | None = None
               ) -> list[QuotaNode]:
    """:func:`quota_of` for ``project_id`` and every project below it (depth first).

    Raises ProjectNotFound.
    """
    with store.read() as repo:
        loaded = load(repo)
        project_id = loaded.named(project_id)
        tree = loaded.tree
        members = [project_id, *tree.descendants(project_id, depth)]
        involved = set(members) | set(tree.ancestors(project_id))
        usage = _usage_by_name(loaded, repo.usage_rows([loaded.row_id(p) for p in involved]))
        return [QuotaNode(loaded.project(p), rules.quota_of(tree, p, usage)) for p in members]


def quota_forest(store: Store) -> list[QuotaNode]:
    """:func:`quota_tree` of every root (roots by id, each depth first) in one read
    transaction, as the dashboard shows it; linear in the number of projects."""
    with store.read() as repo:
        loaded = load(repo)
        tree = loaded.tree
        by_project: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
        for (project, res), value in _usage_by_name(loaded, repo.usage_rows()).items():
            by_project.setdefault(project, {})[(project, res)] = value
        found = []
        for root in tree.roots():
            for p in (root, *tree.descendants(root, None)):
                usage = {k: v for q in tree.chain(p) for k, v in by_project.get(q, {}).items()}
                found.append(QuotaNode(loaded.project(p), rules.quota_of(tree, p, usage)))
        return found
