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
from corral.domain.project_checks import (
    MAX_DEPTH,
    ProjectCycle,
    SubtreeDoesNotFit,
    TreeTooDeep,
    Violation,
)
from corral.domain.quotas import (
    SERVER_GROUP_MEMBERS,
    UNLIMITED,
    Headroom,
    Level,
    effective_limit,
    fits,
    headroom,
)

Model = Literal["overbook", "strict"]
OVERBOOK: Model = "overbook"
STRICT: Model = "strict"

#: Where a project's effective limit comes from.
Source = Literal["project", "default", "none"]


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
