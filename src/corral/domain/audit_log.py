"""The audit trail of admin actions: who changed what, from what to what, and when.

An :class:`Actor` is whoever a change is done for: the authenticated caller of the API
(user, project and roles as authentication found them, and the request id the server
gave the request), or a command run on the server's own machine (``origin`` ``local``:
no token, the operating-system user). An :class:`AuditEntry` is one recorded change:
its action (``limits.set``, ``flavor.create``...), the object's type and id, and the
object before and after as JSON values (None where it did not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from corral.domain.errors import InvalidInput

#: Where a change came from: the API (an authenticated caller) or a local command.
Origin = Literal["api", "local"]

#: The types of objects the trail records, as the filter ``object_type`` takes them.
OBJECT_TYPES = ("aggregate", "fleet_policy", "flavor", "host", "limits", "project",
                "quota_usage", "token")

#: The id ``limits`` entries give the default limits (no project may be so named).
DEFAULTS = "defaults"

#: The longest action, object type or object id stored (the columns' widths).
MAX_ACTION = 64
MAX_OBJECT_ID = 255


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a change is done for (see the module docstring)."""

    user_id: str
    project_id: str | None
    roles: tuple[str, ...]
    request_id: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change."""

    id: int
    created_at: datetime
    actor: Actor
    action: str
    object_type: str
    object_id: str
    before: object
    after: object


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What a listing of the trail asks for: every filter given narrows it; ``marker``
    is the id of the last entry of the page before (entries after it, in ``order``)."""

    actor_user_id: str | None = None
    actor_project_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    marker: int | None = None
    limit: int = 100
    newest_first: bool = True

    def check(self) -> None:
        """Raises InvalidInput naming the field of a filter that can match nothing."""
        if self.object_type is not None and self.object_type not in OBJECT_TYPES:
            raise InvalidInput(f"object_type must be one of {', '.join(OBJECT_TYPES)} "
                               f"(got {self.object_type!r})", field="object_type")
        if self.since is not None and self.before is not None and self.since >= self.before:
            raise InvalidInput("since must be earlier than before", field="since")
