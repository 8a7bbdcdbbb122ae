"""Scheduling vocabulary: reason codes, instance states, and their errors.

Each filter (``corral.scheduler.filters``, one module per filter) that removes a host
names *why* with one of the stable reason codes below, which the API returns and
operators can alert on. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.domain import errors

# -- reason codes ----------------------------------------------------------------------------

NO_CAPACITY = "no_capacity"
CONSTRAINT_UNSATISFIABLE = "constraint_unsatisfiable"
HOSTS_UNAVAILABLE = "hosts_unavailable"
CLAIM_CONFLICT = "claim_conflict"
RETRIES_EXHAUSTED = "retries_exhausted"

# -- instances -------------------------------------------------------------------------------

BUILDING = "building"
ACTIVE = "active"
VERIFY_RESIZE = "verify_resize"
ERROR = "error"
DELETED = "deleted"
STATES = (BUILDING, ACTIVE, VERIFY_RESIZE, ERROR, DELETED)
#: States whose instance holds (or is about to hold) a place on a host: the ones that
#: count as server group members.
LIVE_STATES = (BUILDING, ACTIVE, VERIFY_RESIZE)

#: Policies a group's members must keep, hard and soft.
AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"

MAX_COUNT = 100
MAX_HINT_INSTANCES = 100


# -- errors ----------------------------------------------------------------------------------

class InstanceNotFound(errors.NotFound):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"No instance {uuid} found")
        self.uuid = uuid


class DecisionNotFound(errors.NotFound):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"No scheduling decision {uuid} found")
        self.uuid = uuid


class InvalidState(errors.Conflict):
    """The instance is not in a state that allows the action."""

    def __init__(self, uuid: str, state: str, action: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"Cannot {action} instance {uuid} while it is {state}; "
                         f"{action} needs {' or '.join(allowed)}")
        self.uuid = uuid
        self.state = state


class NoValidHost(errors.Conflict):
    """No host can take the request. ``explanation`` says why (see docs/scheduler.md)."""

    def __init__(self, detail: str, explanation: dict[str, Any]) -> None:
        super().__init__(detail)
        self.explanation = explanation


# -- records ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Instance:
    """An instance as the API shows it. Its uuid is also its Placement consumer."""

    id: str
    name: str
    project_id: str
    user_id: str
    flavor_id: str
    state: str
    host: str | None
    availability_zone: str | None
    server_group: str | None
    new_flavor_id: str | None
    source_host: str | None
    attempts: int
    alternates: tuple[str, ...]
    decision_id: str | None
    fault: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    requested_availability_zone: str | None = None
    """The zone the boot asked for (``availability_zone`` is the zone of its host)."""


# -- what a project member may see -------------------------------------------------------------

_BUCKET_KEYS = ("code", "filter", "constraint", "resource_class", "hosts")


def for_member(explanation: dict[str, Any]) -> dict[str, Any]:
    """An explanation with categories and counts only: no host names, no figures."""
    out = {k: v for k, v in explanation.items() if k not in ("buckets", "nearest_misses")}
    out["buckets"] = [{**{k: b[k] for k in _BUCKET_KEYS if k in b}, "message": b["summary"]}
                      for b in explanation.get("buckets", [])]
    return out


def summary_for_member(summary: dict[str, Any]) -> dict[str, Any]:
    """A decision's summary (as listed) as a project member sees it: no host."""
    return {**summary, "host": None}


def decision_for_member(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision record as a project member sees it (see :func:`for_member`)."""
    record = decision["record"]
    kept = {k: record[k] for k in ("kind", "request", "funnel", "outcome", "reason",
                                   "elapsed_ms") if k in record}
    if "explanation" in record:
        kept["explanation"] = for_member(record["explanation"])
    if "attempts" in record:
        kept["attempts"] = [{k: v for k, v in a.items() if k not in ("host", "message")}
                            for a in record["attempts"]]
    return {**{k: v for k, v in decision.items() if k != "host"}, "record": kept}
