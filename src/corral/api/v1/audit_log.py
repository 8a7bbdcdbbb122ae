"""/v1/audit-log: the trail of admin actions, for the cloud admin (docs/audit-log.md).

One page of entries, newest first unless ``sort_dir=asc``; every filter given narrows
it. ``next_marker`` is null on the last page, else the value to send as ``marker`` for
the next one (in the same order). Only a caller with the ``admin`` role passes: the
trail names every project's actions, and the service role is not an administrator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from corral.api.v1.access import require_cloud_admin
from corral.api.v1.common import Caller, exact_timestamp, forbidden, store_of
from corral.api.v1.types import QueryCountOrNone, QueryPageLimit
from corral.domain import errors
from corral.domain.audit_log import AuditEntry, AuditQuery
from corral.services import audit_log as svc

router = APIRouter(tags=["audit log"])


def entry_body(entry: AuditEntry) -> dict[str, Any]:
    actor = entry.actor
    return {"id": entry.id, "created_at": exact_timestamp(entry.created_at),
            "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id,
            "actor": {"user_id": actor.user_id, "project_id": actor.project_id,
                      "roles": list(actor.roles), "request_id": actor.request_id,
                      "origin": actor.origin},
            "before": entry.before, "after": entry.after}


def _time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time (``2026-12-07T22:00:00Z``; no offset: UTC) as the store keeps
    times (naive UTC)."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.InvalidInput(f"{field} must be an ISO 8601 time such as "
                                  f"2026-12-07T22:00:00Z (got {value!r})", field=field) from None
    if found.tzinfo is not None:
        found = found.astimezone(UTC).replace(tzinfo=None)
    return found


@router.get("/audit-log")
def list_audit_log(
    request: Request, ctx: Caller,
    actor_user_id: Annotated[str | None, Query(
        max_length=255, description="Only changes made by this user.")] = None,
    actor_project_id: Annotated[str | None, Query(
        max_length=255, description="Only changes made by a caller in this project.")] = None,
    object_type: Annotated[str | None, Query(
        max_length=32, description="Only changes to this type of object (aggregate, "
        "fleet_policy, flavor, host, limits, project, quota_usage, token).")] = None,
    object_id: Annotated[str | None, Query(
        max_length=255, description="Only changes to the object of this id.")] = None,
    action: Annotated[str | None, Query(
        max_length=64, description="Only this action (limits.set, flavor.create...).")] = None,
    since: Annotated[str | None, Query(
        description="Only changes at or after this time (ISO 8601).")] = None,
    before: Annotated[str | None, Query(
        description="Only changes before this time (ISO 8601).")] = None,
    marker: Annotated[QueryCountOrNone, Query(
        description="The next_marker of the page before.")] = None,
    limit: QueryPageLimit = 100,
    sort_dir: Annotated[Literal["asc", "desc"], Query(
        description="desc: newest first (the default); asc: oldest first.")] = "desc",
) -> dict[str, Any]:
    """Recorded admin actions: who (user, project, roles, request id), what (action,
    object, before and after) and when. Cloud admin only."""
    require_cloud_admin(request, ctx)
    if "admin" not in ctx.roles:
        raise forbidden("needs the admin role")
    query = AuditQuery(actor_user_id=actor_user_id, actor_project_id=actor_project_id,
                       object_type=object_type, object_id=object_id, action=action,
                       since=_time(since, "since"), before=_time(before, "before"),
                       marker=marker, limit=limit, newest_first=sort_dir == "desc")
    found, next_marker = svc.list_entries(store_of(request), query)
    return {"entries": [entry_body(e) for e in found], "next_marker": next_marker}
