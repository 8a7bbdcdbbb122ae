"""What the project tree refuses: a project id or name out of shape, and the typed
errors (a 404, 400 or 409 at the edge) with the :class:`Violation` of the allocation
model they carry. The rules that raise them are in domain/projects.py, which re-exports
every name here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from corral.domain import errors
from corral.domain.quotas import UNLIMITED

#: Most levels from a root to its deepest project (the ledger's chain walk stops at 64).
MAX_DEPTH = 32

#: Longest project id or name (the columns are 255 characters).
MAX_LENGTH = 255

#: Ids that cannot name a project: ``/v1/limits/defaults`` is the default limits.
RESERVED_IDS = frozenset({"defaults"})


# -- input checks --------------------------------------------------------------

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


# -- the tree ----------------------------------------------------------------------------------

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


# -- limits against the model ------------------------------------------------------------

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
