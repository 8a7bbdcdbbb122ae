"""The project tree as one transaction sees it, shared by the project, limit, token and
ledger use cases: :func:`load` reads every project with its limits and the default
limits (one query each) into a :class:`Loaded`; :func:`project_named` resolves an id or a
name; the rest are small helpers of the writes that check the allocation model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from corral.domain import errors, quotas
from corral.domain import project_checks as checks
from corral.domain import projects as rules
from corral.domain.project_checks import ProjectNotFound
from corral.domain.project_records import ProjectRecord
from corral.domain.projects import Model, Node, Project, Tree
from corral.services.stores import ProjectStore


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


def load(repo: ProjectStore) -> Loaded:
    records = {r.external_id: r for r in repo.project_records()}
    by_row = {r.id: r.external_id for r in records.values()}
    limits = repo.project_limits()
    nodes = [Node(r.external_id, by_row.get(r.parent_id) if r.parent_id is not None else None,
                  limits.get(r.id, {})) for r in records.values()]
    return Loaded(Tree(nodes, repo.default_limits()), records)


def subtree_usage(loaded: Loaded, usage: Mapping[tuple[int, str], tuple[int, int]]
                   ) -> dict[tuple[str, str], int]:
    names = {rec.id: ext for ext, rec in loaded.records.items()}
    return {(names[pid], res): sub for (pid, res), (_own, sub) in usage.items() if pid in names}


def refuse_new(before: Tree, after: Tree, model: Model, resources: set[str] | None,
                ) -> checks.Violation | None:
    worse = rules.new_violations(rules.violations(before, model, resources),
                                 rules.violations(after, model, resources))
    return worse[0] if worse else None


def usage_by_name(loaded: Loaded, usage: Mapping[tuple[int, str], tuple[int, int]]
                   ) -> dict[tuple[str, str], tuple[int, int]]:
    names = {rec.id: ext for ext, rec in loaded.records.items()}
    return {(names[pid], res): value for (pid, res), value in usage.items() if pid in names}


def checked_limits(limits: Mapping[str, object]) -> dict[str, int]:
    return {quotas.check_resource(res, field=f"limits.{res}"):
            quotas.check_limit(value, field=f"limits.{res}")
            for res, value in limits.items()}


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
