"""The JSON schema (draft 2020-12) of every event's payload, by event type.

docs/events.md shows them; tests/api/v1/test_event_types.py checks every event the
tests write against its schema, so the documented contract and the written events
cannot drift apart. ``schema_of`` names the schema of any event type, the admin
changes' (named after their audit action) included.
"""

from __future__ import annotations

from typing import Any, Final

from corral.domain import events as ev

_NAME: Final = {"type": "string"}
_MAYBE: Final = {"type": ["string", "null"]}
_TIME: Final = {"type": "string", "format": "date-time"}
#: {resource class: amount}
RESOURCES: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
#: {provider uuid: {resource class: amount}}
ALLOCATIONS: Final[dict[str, Any]] = {"type": "object", "additionalProperties": RESOURCES}

#: Where an instance is and what it holds (a move's ``before``, ``after``, ``source``).
SIDE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["host", "availability_zone", "flavor_id", "flavor_name", "resources"],
    "properties": {"host": _MAYBE, "availability_zone": _MAYBE, "flavor_id": _NAME,
                   "flavor_name": _NAME, "resources": RESOURCES}}

#: Every instance.* payload (version 1.1).
INSTANCE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["instance_id", "name", "project_id", "user_id", "flavor_id", "flavor_name",
                 "resources", "state", "host", "availability_zone", "server_group",
                 "decision_id", "changed_at"],
    "properties": {
        "instance_id": _NAME, "name": _NAME, "project_id": _NAME, "user_id": _MAYBE,
        "flavor_id": _NAME, "flavor_name": _NAME, "resources": RESOURCES,
        "state": {"enum": ["building", "active", "verify_resize", "error", "deleted"]},
        "host": _MAYBE, "availability_zone": _MAYBE, "server_group": _MAYBE,
        "decision_id": _MAYBE, "changed_at": _TIME}}


def _with(base: dict[str, Any], required: list[str], **properties: Any) -> dict[str, Any]:
    return {**base, "required": [*base["required"], *required],
            "properties": {**base["properties"], **properties}}


_ERROR = _with(INSTANCE, ["fault", "failed_host", "allocations"], fault=_MAYBE,
               failed_host=_MAYBE, allocations={"enum": ["moved", "released"]})
_MOVED = _with(INSTANCE, ["before", "after"], before=SIDE, after=SIDE)
_SETTLED = _with(INSTANCE, ["before", "after", "source"], before=SIDE, after=SIDE,
                 source=SIDE)

_ALLOCATION: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["consumer_id", "project_id", "user_id", "consumer_type", "generation",
                 "allocations", "resources", "changed_at"],
    "properties": {"consumer_id": _NAME, "project_id": _MAYBE, "user_id": _MAYBE,
                   "consumer_type": _MAYBE, "generation": {"type": ["integer", "null"]},
                   "allocations": ALLOCATIONS, "resources": RESOURCES, "changed_at": _TIME}}

_HOST: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["host", "provider_uuid", "state", "reason", "last_heartbeat", "changed_at"],
    "properties": {"host": _NAME, "provider_uuid": _NAME, "state": {"enum": ["up", "down"]},
                   "reason": {"enum": ["heartbeat", "forced_down"]},
                   "last_heartbeat": {"type": ["string", "null"], "format": "date-time"},
                   "changed_at": _TIME}}

_DRIFT: Final[dict[str, Any]] = {
    "type": "object", "required": ["drifts", "orphans", "found_at"],
    "properties": {
        "drifts": {"type": "array", "items": {
            "type": "object",
            "required": ["project_id", "resource", "ledger_own", "actual_own",
                         "ledger_subtree", "actual_subtree"]}},
        "orphans": {"type": "array", "items": {
            "type": "object", "required": ["consumer", "project_id", "why"]}},
        "found_at": _TIME}}

#: An admin change's payload: the audit entry's before and after, and its actor.
ADMIN: Final[dict[str, Any]] = {
    "type": "object", "required": ["before", "after", "actor"],
    "properties": {"actor": {
        "type": "object",
        "required": ["user_id", "project_id", "roles", "request_id", "origin"],
        "properties": {"user_id": _NAME, "project_id": _MAYBE,
                       "roles": {"type": "array", "items": _NAME},
                       "request_id": _MAYBE, "origin": _NAME}}}}

SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    ev.INSTANCE_CREATE_START: INSTANCE, ev.INSTANCE_CREATE_END: INSTANCE,
    ev.INSTANCE_CREATE_ERROR: _ERROR, ev.INSTANCE_DELETE_END: INSTANCE,
    ev.INSTANCE_RESIZE_END: _MOVED, ev.INSTANCE_MIGRATE_END: _MOVED,
    ev.INSTANCE_RESIZE_CONFIRM_END: _SETTLED, ev.INSTANCE_RESIZE_REVERT_END: _SETTLED,
    ev.INSTANCE_MIGRATE_CONFIRM_END: _SETTLED, ev.INSTANCE_MIGRATE_REVERT_END: _SETTLED,
    ev.ALLOCATION_UPDATE: _ALLOCATION, ev.ALLOCATION_DELETE: _ALLOCATION,
    ev.HOST_UP: _HOST, ev.HOST_DOWN: _HOST, ev.QUOTA_DRIFT: _DRIFT,
}


def schema_of(event_type: str) -> dict[str, Any]:
    """The payload schema of ``event_type`` (an admin change's for any type of the audit
    trail's)."""
    return SCHEMAS.get(event_type, ADMIN)
