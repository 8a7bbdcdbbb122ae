"""Limits and the quota view: per-project and default limits (set, unset, show), and a
project's (or a subtree's, or the whole forest's) limits with its usage (docs/quotas.md).

Each write is one transaction that bumps the ``projects`` revision first (see
:mod:`corral.services.projects`), reads the whole tree and checks the allocation model
on it; a change is refused only for what it makes worse. A limit below current usage is
allowed, with a warning: nothing running is touched, new claims are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from corral.domain import errors
from corral.domain import project_checks as checks
from corral.domain import projects as rules
from corral.domain.audit_log import DEFAULTS, Actor
from corral.domain.projects import LimitWarning, Model, Project, ResourceQuota, Tree
from corral.persistence.revisions import PROJECTS
from corral.services.audit_log import record
from corral.services.project_tree import (
    checked_limits,
    load,
    refuse_new,
    subtree_usage,
    usage_by_name,
)
from corral.services.stores import Store

log = structlog.get_logger("corral.projects")


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


def set_limits(store: Store, project_id: str, limits: Mapping[str, object], *, model: Model,
               actor: Actor) -> tuple[ProjectLimits, list[LimitWarning]]:
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
    wanted = checked_limits(limits)
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        project_id = loaded.named(project_id)
        before = loaded.tree
        after = before.with_limits(project_id, {**before.nodes[project_id].limits, **wanted})
        worse = refuse_new(before, after, model, set(wanted))
        if worse is not None:
            raise checks.LimitConflict(worse)
        row = loaded.row_id(project_id)
        repo.set_project_limits(row, wanted)
        record(repo, actor, "limits.set", "limits", project_id,
               before=dict(before.nodes[project_id].limits),
               after=dict(after.nodes[project_id].limits))
        usage = subtree_usage(loaded, repo.usage_rows([row]))
    log.info("limits_set", project=project_id, limits=wanted, actor=actor.user_id)
    return (_limits_view(after, project_id),
            rules.below_usage(after, [project_id], wanted, usage))


def unset_limit(store: Store, project_id: str, resource: str, *, model: Model, actor: Actor
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
            raise checks.LimitNotFound(project_id, resource)
        after = before.with_limits(project_id, own)
        worse = refuse_new(before, after, model, {resource})
        if worse is not None:
            raise checks.LimitConflict(worse, field="resource")
        row = loaded.row_id(project_id)
        repo.unset_project_limit(row, resource)
        record(repo, actor, "limits.unset", "limits", project_id,
               before=dict(before.nodes[project_id].limits), after=own)
        usage = subtree_usage(loaded, repo.usage_rows([row]))
    log.info("limit_unset", project=project_id, resource=resource, actor=actor.user_id)
    return (_limits_view(after, project_id),
            rules.below_usage(after, [project_id], [resource], usage))


def get_default_limits(store: Store) -> dict[str, int]:
    with store.read() as repo:
        return repo.default_limits()


def _change_defaults(store: Store, change: Mapping[str, int | None], model: Model,
                     field: str | None, actor: Actor
                     ) -> tuple[dict[str, int], list[LimitWarning]]:
    with store.write() as repo:
        repo.bump_revision(PROJECTS)
        loaded = load(repo)
        before = loaded.tree
        defaults = dict(before.defaults)
        for res, value in change.items():
            if value is None:
                if defaults.pop(res, None) is None:
                    raise checks.LimitNotFound(None, res)
            else:
                defaults[res] = value
        after = before.with_defaults(defaults)
        worse = refuse_new(before, after, model, set(change))
        if worse is not None:
            raise checks.LimitConflict(worse, field=field)
        to_set = {r: v for r, v in change.items() if v is not None}
        if to_set:
            repo.set_default_limits(to_set)
        for res in (r for r, v in change.items() if v is None):
            repo.unset_default_limit(res)
        record(repo, actor, "limits.set" if to_set else "limits.unset", "limits", DEFAULTS,
               before=dict(before.defaults), after=defaults)
        relying = [p for p in after.nodes
                   if any(res not in after.nodes[p].limits for res in change)]
        usage = subtree_usage(loaded, repo.usage_rows())
    warnings = [w for w in rules.below_usage(after, relying, change, usage)
                if w.resource not in after.nodes[w.project_id].limits]
    log.info("default_limits_changed", change=dict(change), actor=actor.user_id)
    return dict(sorted(defaults.items())), warnings


def set_default_limits(store: Store, limits: Mapping[str, object], *, model: Model,
                       actor: Actor) -> tuple[dict[str, int], list[LimitWarning]]:
    """Set (merge) default limits: what every project without its own limit gets.

    Returns the defaults, and a warning for each project relying on a default that is
    now below its usage. Raises InvalidInput, LimitConflict (as :func:`set_limits`).
    """
    if not limits:
        raise errors.InvalidInput("give at least one limit", field="limits")
    wanted: dict[str, int | None] = dict(checked_limits(limits))
    return _change_defaults(store, wanted, model, None, actor)


def unset_default_limit(store: Store, resource: str, *, model: Model, actor: Actor
                        ) -> tuple[dict[str, int], list[LimitWarning]]:
    """Remove a default: projects without their own limit become unlimited in it.

    Raises LimitNotFound, LimitConflict (strict: an unlimited child under a limited parent).
    """
    return _change_defaults(store, {resource: None}, model, "resource", actor)


# -- the quota view ------------------------------------------------------------------------

def quota_of(store: Store, project_id: str) -> tuple[Project, list[ResourceQuota]]:
    """Per resource: effective limit, own and subtree usage, headroom along the chain.

    Raises ProjectNotFound.
    """
    with store.read() as repo:
        loaded = load(repo)
        project_id = loaded.named(project_id)
        chain = loaded.tree.chain(project_id)
        usage = usage_by_name(loaded, repo.usage_rows([loaded.row_id(p) for p in chain]))
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
        usage = usage_by_name(loaded, repo.usage_rows([loaded.row_id(p) for p in involved]))
        return [QuotaNode(loaded.project(p), rules.quota_of(tree, p, usage)) for p in members]


def quota_forest(store: Store) -> list[QuotaNode]:
    """:func:`quota_tree` of every root (roots by id, each depth first) in one read
    transaction, as the dashboard shows it; linear in the number of projects."""
    with store.read() as repo:
        loaded = load(repo)
        tree = loaded.tree
        by_project: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
        for (project, res), value in usage_by_name(loaded, repo.usage_rows()).items():
            by_project.setdefault(project, {})[(project, res)] = value
        found = []
        for root in tree.roots():
            for p in (root, *tree.descendants(root, None)):
                usage = {k: v for q in tree.chain(p) for k, v in by_project.get(q, {}).items()}
                found.append(QuotaNode(loaded.project(p), rules.quota_of(tree, p, usage)))
        return found
