"""Quota resources, limits and refusals (see docs/quotas.md).

A project's usage of a *resource* is counted from its allocations and instances:
``instances`` (live instances), ``cores``/``ram``/``disk`` (the VCPU, MEMORY_MB and
DISK_GB allocated), any other resource class under its own name (``CUSTOM_GPU``),
``server_groups`` (groups the project owns). ``server_group_members`` limits the
members of each one group, so it has no usage of its own in the ledger.

A limit of -1 is unlimited, and so is a resource with no limit set anywhere: a missing
limit never locks anybody out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.domain import bounds, errors

UNLIMITED = -1

INSTANCES = "instances"
CORES = "cores"
RAM = "ram"
DISK = "disk"
SERVER_GROUPS = "server_groups"
SERVER_GROUP_MEMBERS = "server_group_members"

#: Resources with names of their own (every other resource is a resource class).
NAMED = (INSTANCES, CORES, RAM, DISK, SERVER_GROUPS, SERVER_GROUP_MEMBERS)
#: The resource classes counted under a named resource.
CLASS_RESOURCES = {"VCPU": CORES, "MEMORY_MB": RAM, "DISK_GB": DISK}
_RESOURCE_CLASS = re.compile(r"^[A-Z0-9_]{1,255}$")
#: Quota code of a refusal (the API's ``code`` field).
QUOTA_EXCEEDED = "corral.quota.exceeded"


def resource_of_class(rc: str) -> str:
    """The quota resource an allocation of class ``rc`` counts against."""
    return CLASS_RESOURCES.get(rc, rc)


def check_resource(name: str, *, field: str = "resource") -> str:
    """``name`` if it is a quota resource; InvalidInput naming ``field`` otherwise."""
    if name in NAMED:
        return name
    if name in CLASS_RESOURCES:
        raise errors.InvalidInput(
            f"{name} is counted as {CLASS_RESOURCES[name]!r}: set the limit of that", field=field)
    if not _RESOURCE_CLASS.match(name):
        raise errors.InvalidInput(
            f"{name!r} is not a quota resource: use one of {', '.join(NAMED)} or a resource "
            "class name (upper case letters, digits and underscores)", field=field)
    return name


def check_limit(value: object, *, field: str = "limit") -> int:
    """A limit: a whole number from 0 to 2^53 - 1 (:data:`bounds.QUOTA_LIMIT`), or -1
    for unlimited."""
    if value not in bounds.QUOTA_LIMIT:
        raise errors.InvalidInput(
            f"must be a whole number from 0 to {bounds.QUOTA_LIMIT.high}, or -1 for unlimited",
            field=field)
    assert isinstance(value, int)
    return value


def effective_limit(own: int | None, default: int | None) -> int:
    """The limit that applies: the project's own, else the default, else unlimited."""
    if own is not None:
        return own
    return default if default is not None else UNLIMITED


def fits(limit: int, usage: int, asked: int) -> bool:
    return limit == UNLIMITED or asked <= 0 or usage + asked <= limit


@dataclass(frozen=True, slots=True)
class Level:
    """One project on the way from a project up to its root, for one resource."""

    project_id: str
    limit: int
    subtree: int  # usage of the project and all its descendants


@dataclass(frozen=True, slots=True)
class Headroom:
    """How much more of a resource a project may take, and which project says so."""

    room: int | None  # None: unlimited all the way up
    binding: str | None  # the project whose limit leaves the least room


def headroom(chain: Sequence[Level]) -> Headroom:
    """The smallest room left along ``chain`` (the project first, then its ancestors)."""
    best: Headroom = Headroom(None, None)
    for level in chain:
        if level.limit == UNLIMITED:
            continue
        room = max(0, level.limit - level.subtree)
        if best.room is None or room < best.room:
            best = Headroom(room, level.project_id)
    return best


class QuotaExceeded(errors.CorralError):
    """A claim would take a project in the tree past its limit of a resource."""

    code = QUOTA_EXCEEDED

    def __init__(self, project_id: str, resource: str, limit: int, usage: int, asked: int,
                 for_project: str) -> None:
        where = ("" if project_id == for_project
                 else f" (an ancestor of {for_project})")
        super().__init__(
            f"Quota exceeded for {resource} in project {project_id}{where}: limit {limit}, "
            f"in use {usage}, asked {asked}")
        self.project_id = project_id
        self.resource = resource
        self.limit = limit
        self.usage = usage
        self.asked = asked
        self.for_project = for_project

    def facts(self) -> dict[str, object]:
        return {"project_id": self.project_id, "resource": self.resource,
                "limit": self.limit, "in_use": self.usage, "requested": self.asked,
                "for_project": self.for_project}


def usage_of_flavor(resources: Mapping[str, int], count: int = 1) -> dict[str, int]:
    """What ``count`` instances of a flavor (its per-class ``resources``) add to the ledger."""
    out: dict[str, int] = {INSTANCES: count}
    for rc, amount in resources.items():
        res = resource_of_class(rc)
        out[res] = out.get(res, 0) + amount * count
    return out


@dataclass
class Chains:
    """What a claim needs to know of its projects, read in one statement.

    ``chains``: external project id -> [(project row id, external id)] from the project up
    to its root. ``limits``: (row id, resource) -> limit set on that project.
    ``defaults``: resource -> default limit. ``usage``: (row id, resource) -> (own, subtree).
    """

    chains: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    limits: dict[tuple[int, str], int] = field(default_factory=dict)
    defaults: dict[str, int] = field(default_factory=dict)
    usage: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
