"""The project tree and its limits, as values and rules (see docs/quotas.md).

A :class:`Tree` is the projects (by their external id), each with its parent and the
limits set on it, plus the default limits. The rules are pure functions of a tree:

- :func:`violations` lists what breaks the allocation model. In both models a limit set
  on a project may not exceed the effective limit of any ancestor (an unlimited ancestor
  allows anything; a limited one refuses an explicit -1). In the *strict* model the
  effective limits of a project's children (their own, else the default) may not add up
  to more than its effective limit, and a child that is unlimited under a limited parent
  is a violation. ``server_group_members`` is a per-group cap, not a pool, so it is left
  out of the sum.
- A write is refused only for what it makes worse (:func:`new_violations`): a violation
  that did not exist before, or one whose excess grew. A tree that was already off (a
  project first seen in a claim, an older configuration) does not block unrelated writes.
- :func:`check_move` refuses a move that would make a cycle, that would nest deeper than
  :data:`MAX_DEPTH`, or whose subtree usage does not fit under a new ancestor's limit.
- :func:`quota_of` builds the per-resource view of one project: limit, own and subtree
  usage, and the headroom along its chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from corral.domain import errors
from corral.domain.quotas import (
    SERVER_GROUP_MEMBERS,
    UNLIMITED,
    Headroom,
    Level,
    effective_limit,
    fits,
    headroom,
)

#: Longest project id or name (the columns are 255 characters).
MAX_LENGTH = 255
#: Most levels from a root to its deepest project (the ledger's chain walk stops at 64).
MAX_DEPTH = 32
#: Ids that cannot name a project: ``/v1/limits/defaults`` is the default limits.
RESERVED_IDS = frozenset({"defaults"})

Model = Literal["overbook", "strict"]
OVERBOOK: Model = "overbook"
STRICT: Model = "strict"

#: Where a project's effective limit comes from.
Source = Literal["project", "default", "none"]


# -- errors ----------------------------------------------------------------------------------

class ProjectNotFound(errors.NotFound):
    def __init__(self, project_id: str) -> None:
        super().__init__(f"No project {project_id!r}")
        self.project_id = project_id


class ParentNotFound(errors.InvalidInput):
    def __init__(self, parent_id: str) -> None:
        super().__init__(f"No project {parent_id!r} to be the parent", field="parent_id")
        self.parent_id = parent_id


class ProjectExists(errors.Conflict):
    def __init__(self, project_id: str) -> None:
        super().__init__(f"Project {project_id!r} already exists")
        self.project_id = project_id


class ProjectInUse(errors.Conflict):
    """Deleting a project that still has children, instances, consumers or groups."""

    def __init__(self, project_id: str, reasons: Sequence[str]) -> None:
        super().__init__(f"Project {project_id!r} is in use: it has {', '.join(reasons)}")
        self.project_id = project_id
        self.reasons = tuple(reasons)


class ProjectCycle(errors.Conflict):
    def __init__(self, project_id: str, parent_id: str) -> None:
        super().__init__(f"Cannot move project {project_id!r} under {parent_id!r}: "
                         f"{parent_id!r} is {project_id!r} or one of its descendants")
        self.project_id = project_id
        self.parent_id = parent_id


class TreeTooDeep(errors.Conflict):
    def __init__(self, project_id: str, depth: int) -> None:
        super().__init__(f"Project {project_id!r} would reach {depth} levels below its root; "
                         f"a tree has at most {MAX_DEPTH}")
        self.project_id = project_id
        self.depth = depth


class SubtreeDoesNotFit(errors.Conflict):
    """A move whose subtree usage would take a new ancestor past its limit."""

    def __init__(self, project_id: str, resource: str, limit: int, usage: int, asked: int,
                 moving: str) -> None:
        super().__init__(
            f"Cannot move project {moving!r}: its subtree uses {asked} {resource}, and the "
            f"new ancestor {project_id!r} has a limit of {limit} with {usage} in use")
        self.project_id = project_id
        self.resource = resource
        self.limit = limit
        self.usage = usage
        self.asked = asked
        self.moving = moving

    def facts(self) -> dict[str, object]:
        return {"project_id": self.project_id, "resource": self.resource,
                "limit": self.limit, "in_use": self.usage, "requested": self.asked,
                "for_project": self.moving}


class LimitNotFound(errors.NotFound):
    def __init__(self, project_id: str | None, resource: str) -> None:
        where = f"project {project_id!r}" if project_id is not None else "the defaults"
        super().__init__(f"No limit of {resource} is set on {where}")
        self.project_id = project_id
        self.resource = resource


# -- values ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Project:
    """A project as the API shows it. ``path`` runs from its root to the project."""

    id: str
    name: str | None
    parent_id: str | None
    path: tuple[str, ...]
    children: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def depth(self) -> int:
        """0 for a root."""
        return len(self.path) - 1


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    parent: str | None
    limits: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule of the allocation model, for one resource.

    ``rule``: ``above_ancestor`` (``project``'s own limit is above the effective limit of
    its ancestor ``over``), ``unlimited_child`` (strict: ``project`` is unlimited under the
    limited ``over``), ``children_sum`` (strict: the children of ``over`` add up to
    ``limit``, above its ``over_limit``).
    """

    rule: Literal["above_ancestor", "unlimited_child", "children_sum"]
    resource: str
    project: str
    over: str
    limit: int
    over_limit: int

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.resource, self.project, self.over)

    @property
    def excess(self) -> float:
        return float("inf") if self.limit == UNLIMITED else self.limit - self.over_limit

    def describe(self) -> str:
        res = self.resource
        if self.rule == "above_ancestor":
            shown = "unlimited" if self.limit == UNLIMITED else str(self.limit)
            return (f"the limit of {res} of project {self.project!r} ({shown}) would be above "
                    f"the limit of its ancestor {self.over!r} ({self.over_limit})")
        if self.rule == "unlimited_child":
            return (f"project {self.project!r} would be unlimited in {res} under "
                    f"{self.over!r}, whose limit is {self.over_limit} (strict model: give "
                    f"{self.project!r} a limit, or set a default limit of {res})")
        return (f"the limits of {res} of the children of project {self.over!r} would add "
                f"up to {self.limit}, above its limit of {self.over_limit} (strict model)")


class LimitConflict(errors.InvalidInput):
    """A limit (or default) written against the allocation model: a 400 naming both
    projects and the resource."""

    def __init__(self, violation: Violation, *, field: str | None = None) -> None:
        super().__init__(f"Limit refused: {violation.describe()}",
                         field=field or f"limits.{violation.resource}")
        self.violation = violation


class MoveBreaksLimits(errors.Conflict):
    """A move or a creation that would put the tree's limits against the model."""

    def __init__(self, project_id: str, violation: Violation) -> None:
        super().__init__(f"Cannot place project {project_id!r} there: {violation.describe()}")
        self.project_id = project_id
        self.violation = violation


@dataclass(frozen=True, slots=True)
class LimitWarning:
    """A limit now below what is in use (allowed: nothing running is touched)."""

    project_id: str
    resource: str
    limit: int
    in_use: int


@dataclass(frozen=True, slots=True)
class ResourceQuota:
    """One resource of one project: its limit, usage and the room left along its chain."""

    resource: str
    limit: int
    source: Source
    own: int
    subtree: int
    headroom: Headroom


# -- input checks ------------------------------------------------------------------------------

def check_project_id(value: str, *, field: str = "id") -> str:
    if not 1 <= len(value) <= MAX_LENGTH:
        raise errors.InvalidInput(
            f"a project id is 1 to {MAX_LENGTH} characters long (got {len(value)})", field=field)
    if "/" in value or value != value.strip():
        raise errors.InvalidInput(
            f"a project id has no '/' and no surrounding whitespace, got {value!r}", field=field)
    if value in RESERVED_IDS:
        raise errors.InvalidInput(f"{value!r} is reserved and cannot name a project",
                                  field=field)
    return value


def check_project_name(value: str | None, *, field: str = "name") -> str | None:
    if value is not None and not 1 <= len(value) <= MAX_LENGTH:
        raise errors.InvalidInput(
            f"a project name is 1 to {MAX_LENGTH} characters long (got {len(value)})",
            field=field)
    return value


def check_model(model: str) -> Model:
    if model == OVERBOOK:
        return OVERBOOK
    if model == STRICT:
        return STRICT
    raise errors.InvalidInput(f"unknown quota model {model!r}: overbook or strict",
                              field="quota_model")


# -- the tree ----------------------------------------------------------------------------------

class Tree:
    """Projects with their parents and own limits, and the default limits.

    Every project's ancestors are expected to be in the tree; a parent that is not ends
    the chain there (a partial view), and a cycle (impossible through the services) too.
    """

    def __init__(self, nodes: Iterable[Node], defaults: Mapping[str, int] | None = None) -> None:
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.defaults: dict[str, int] = dict(defaults or {})
        self.kids: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.parent is not None:
                self.kids.setdefault(node.parent, []).append(node.id)
        for kids in self.kids.values():
            kids.sort()

    def __contains__(self, project: object) -> bool:
        return project in self.nodes

    # -- changed copies --------------------------------------------------------------------

    def replaced(self, node: Node) -> Tree:
        return Tree({**self.nodes, node.id: node}.values(), self.defaults)

    def with_parent(self, project: str, parent: str | None) -> Tree:
        node = self.nodes[project]
        return self.replaced(Node(project, parent, node.limits))

    def with_limits(self, project: str, limits: Mapping[str, int]) -> Tree:
        node = self.nodes[project]
        return self.replaced(Node(project, node.parent, dict(limits)))

    def with_defaults(self, defaults: Mapping[str, int]) -> Tree:
        return Tree(self.nodes.values(), defaults)

    # -- reading ----------------------------------------------------------------------------

    def roots(self) -> list[str]:
        return sorted(n.id for n in self.nodes.values()
                      if n.parent is None or n.parent not in self.nodes)

    def children(self, project: str) -> list[str]:
        return list(self.kids.get(project, ()))

    def ancestors(self, project: str) -> list[str]:
        """The parent, its parent ... up to the root (nearest first)."""
        out: list[str] = []
        seen = {project}
        parent = self.nodes[project].parent
        while parent is not None and parent in self.nodes and parent not in seen:
            out.append(parent)
            seen.add(parent)
            parent = self.nodes[parent].parent
        return out

    def chain(self, project: str) -> list[str]:
        """The project, then its ancestors."""
        return [project, *self.ancestors(project)]

    def path(self, project: str) -> tuple[str, ...]:
        """From the root down to the project."""
        return tuple(reversed(self.chain(project)))

    def descendants(self, project: str, depth: int | None = None) -> list[str]:
        """Every project below ``project`` (down to ``depth`` levels), depth first, by id."""
        out: list[str] = []
        seen = {project}

        def walk(at: str, level: int) -> None:
            if depth is not None and level >= depth:
                return
            for kid in self.kids.get(at, ()):
                if kid not in seen:
                    seen.add(kid)
                    out.append(kid)
                    walk(kid, level + 1)

        walk(project, 0)
        return out

    def height(self, project: str) -> int:
        """Levels below ``project`` to its deepest descendant (0 for a leaf)."""
        best = 0
        base = len(self.chain(project))
        for d in self.descendants(project):
            best = max(best, len(self.chain(d)) - base)
        return best

    def own_limit(self, project: str, resource: str) -> int | None:
        return self.nodes[project].limits.get(resource)

    def effective(self, project: str, resource: str) -> int:
        return effective_limit(self.own_limit(project, resource), self.defaults.get(resource))

    def source(self, project: str, resource: str) -> Source:
        if resource in self.nodes[project].limits:
            return "project"
        return "default" if resource in self.defaults else "none"

    def resources(self) -> set[str]:
        """Every resource with a limit on some project or a default."""
        found = set(self.defaults)
        for node in self.nodes.values():
            found.update(node.limits)
        return found


# -- the allocation models ------------------------------------------------------------------

def violations(tree: Tree, model: Model, resources: Iterable[str] | None = None
               ) -> list[Violation]:
    """Every violation of ``model`` in ``tree`` for ``resources`` (default: all limited).

    Cost: projects x depth per resource; trees of thousands of projects take milliseconds.
    """
    wanted = sorted(tree.resources() if resources is None else set(resources))
    out: list[Violation] = []
    for res in wanted:
        for node in sorted(tree.nodes.values(), key=lambda n: n.id):
            own = node.limits.get(res)
            if own is not None:
                for anc in tree.ancestors(node.id):
                    cap = tree.effective(anc, res)
                    if cap != UNLIMITED and (own == UNLIMITED or own > cap):
                        out.append(Violation("above_ancestor", res, node.id, anc, own, cap))
            if model != STRICT or res == SERVER_GROUP_MEMBERS:
                continue
            cap = tree.effective(node.id, res)
            kids = tree.children(node.id)
            if cap == UNLIMITED or not kids:
                continue
            total = 0
            for kid in kids:
                limit = tree.effective(kid, res)
                if limit == UNLIMITED:
                    out.append(Violation("unlimited_child", res, kid, node.id, UNLIMITED, cap))
                    total = UNLIMITED
                elif total != UNLIMITED:
                    total += limit
            if total != UNLIMITED and total > cap:
                out.append(Violation("children_sum", res, node.id, node.id, total, cap))
    return out


def new_violations(before: Iterable[Violation], after: Iterable[Violation]) -> list[Violation]:
    """What a change makes worse: violations it adds, or whose excess it grows."""
    seen = {v.key: v.excess for v in before}
    return [v for v in after if v.key not in seen or v.excess > seen[v.key]]


def check_move(tree: Tree, project: str, parent: str | None) -> None:
    """Refuse a move that makes a cycle or a tree deeper than :data:`MAX_DEPTH`.

    Raises:
        ProjectCycle: ``parent`` is ``project`` or one of its descendants.
        TreeTooDeep: the deepest project of the moved subtree would be too deep.
    """
    if parent is None:
        depth = tree.height(project)
    else:
        if parent == project or parent in tree.descendants(project):
            raise ProjectCycle(project, parent)
        depth = len(tree.chain(parent)) + tree.height(project)
    if depth >= MAX_DEPTH:
        raise TreeTooDeep(project, depth)


def move_plan(tree: Tree, project: str, parent: str | None) -> tuple[list[str], list[str]]:
    """The ancestors a move takes the project away from, and those it brings it under
    (nearest first; the common ones are in neither: their subtrees do not change)."""
    old = tree.ancestors(project)
    new = tree.chain(parent) if parent is not None else []
    return [p for p in old if p not in new], [p for p in new if p not in old]


def move_deltas(losing: Iterable[str], gaining: Iterable[str], moved: Mapping[str, int]
                ) -> dict[tuple[str, str], int]:
    """What a move adds to the subtree usage of ledger rows: the moved subtree's usage
    taken off every losing ancestor and put on every gaining one."""
    out: dict[tuple[str, str], int] = {}
    for res, amount in moved.items():
        if amount:
            out.update({(p, res): -amount for p in losing})
            out.update({(p, res): amount for p in gaining})
    return out


def check_subtree_fits(tree: Tree, moving: str, moved: Mapping[str, int],
                       gaining: Sequence[str], subtree_usage: Mapping[tuple[str, str], int]
                       ) -> None:
    """Refuse a move whose subtree usage does not fit under a new ancestor.

    Args:
        tree: the tree before the move (limits do not change with it).
        moving: the project moved.
        moved: its subtree usage per resource.
        gaining: the new ancestors that are not old ones, nearest first (the common
            ancestors' subtrees do not change).
        subtree_usage: (project, resource) -> subtree usage of the gaining ancestors.

    Raises:
        SubtreeDoesNotFit: naming the nearest ancestor that refuses, for the first
            resource by name.
    """
    for anc in gaining:
        for res in sorted(moved):
            asked = moved[res]
            limit = tree.effective(anc, res)
            usage = subtree_usage.get((anc, res), 0)
            if not fits(limit, usage, asked):
                raise SubtreeDoesNotFit(anc, res, limit, usage, asked, moving)


def below_usage(tree: Tree, projects: Iterable[str], resources: Iterable[str],
                subtree_usage: Mapping[tuple[str, str], int]) -> list[LimitWarning]:
    """The projects whose effective limit is below their subtree usage."""
    out = []
    for project in sorted(set(projects)):
        for res in sorted(set(resources)):
            limit = tree.effective(project, res)
            used = subtree_usage.get((project, res), 0)
            if limit != UNLIMITED and used > limit:
                out.append(LimitWarning(project, res, limit, used))
    return out


def quota_of(tree: Tree, project: str, usage: Mapping[tuple[str, str], tuple[int, int]]
             ) -> list[ResourceQuota]:
    """Per resource (every one limited on the chain, by default, or in use by the project):
    the effective limit, own and subtree usage, and the headroom along the chain.

    Args:
        usage: (project, resource) -> (own, subtree) for the project's chain; absent is 0.
    """
    chain = tree.chain(project)
    wanted = set(tree.defaults)
    for p in chain:
        wanted.update(tree.nodes[p].limits)
    wanted.update(res for (p, res), (own, sub) in usage.items()
                  if p == project and (own or sub))
    out = []
    for res in sorted(wanted):
        own, sub = usage.get((project, res), (0, 0))
        levels = [Level(p, tree.effective(p, res), usage.get((p, res), (0, 0))[1])
                  for p in chain]
        out.append(ResourceQuota(res, tree.effective(project, res), tree.source(project, res),
                                 own, sub, headroom(levels)))
    return out
