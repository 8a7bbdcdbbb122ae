"""The audit trail of admin actions: recording a change, and reading the trail.

Every use case that changes limits, the project tree, flavors, aggregates, hosts (as
operators change them), tokens or the fleet policy takes the :class:`Actor` it acts for
and calls :func:`record` in its own transaction, after its checks and writes: a change
refused or rolled back leaves no entry, and no entry is written without its change. The
actor is built by the entry point only: the API from the authenticated request context
and the request id it gave the request (api/v1/audit_log.py), a local command with
:func:`local_actor`. Nothing in a request body reaches it.

Boots, deletes, heartbeats and a host's own reports are not admin actions and are not
recorded (their hot paths write nothing more). Each entry (tokens aside) is also an
event of the same name in the event log, which the relay publishes (docs/events.md).
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final, Protocol

from corral.domain.audit_log import Actor, AuditEntry, AuditQuery
from corral.domain.events import NewEvent
from corral.services.event_store import EventStore
from corral.services.stores import AuditStore, Store


def now() -> datetime:
    """When a change is recorded: naive UTC, as the store keeps times, to the microsecond
    (entries a moment apart keep their order when shown)."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_actor(command: str) -> Actor:
    """The actor of a command run on the server's machine (``corral ...``, the demo's
    seeding, ``corral serve`` publishing its policy): no token, so no roles; the user is
    ``local:<operating-system user>`` and ``origin`` is ``local``. ``command`` is kept
    where the API keeps its request id."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = f"uid-{os.getuid()}"
    return Actor(user_id=f"local:{user}", project_id=None, roles=(),
                 request_id=command[:64], origin="local")


class Recorder(AuditStore, EventStore, Protocol):
    """Where a change is recorded: the trail, and the event log."""


#: Actions kept in the trail only, never published as events (who holds which token
#: is nobody's business outside).
PRIVATE: Final = ("token.",)


def record(repo: Recorder, actor: Actor, action: str, object_type: str, object_id: str,
           *, before: object = None, after: object = None) -> None:
    """Record one change in the caller's transaction (see the module docstring), and
    (tokens aside) write it as an event of type ``action`` (docs/events.md).

    ``before`` and ``after`` are JSON values (None: the object did not exist).
    """
    at = now()
    repo.insert_audit_entry(actor, at=at, action=action, object_type=object_type,
                            object_id=object_id, before=before, after=after)
    if not action.startswith(PRIVATE):
        repo.add_events([NewEvent(str(uuid.uuid4()), action, object_type, object_id, {
            "before": before, "after": after,
            "actor": {"user_id": actor.user_id, "project_id": actor.project_id,
                      "roles": list(actor.roles), "request_id": actor.request_id,
                      "origin": actor.origin}}, at)])


def list_entries(store: Store, query: AuditQuery) -> tuple[list[AuditEntry], int | None]:
    """One page of the trail and the marker of the next (None: this is the last page).

    Raises:
        InvalidInput: a filter that can match nothing (naming it).
    """
    query.check()
    wanted = query.limit
    with store.read() as repo:
        found = repo.audit_entries(replace(query, limit=wanted + 1))
    more = len(found) > wanted
    page = found[:wanted]
    return page, (page[-1].id if more and page else None)

