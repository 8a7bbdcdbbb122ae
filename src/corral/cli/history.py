"""``corral audit-log`` and ``corral event list``: what changed, as the API tells it.

Both are clients of the API (``GET /v1/audit-log``, ``GET /v1/events``; admins only),
one page per call: ``--limit`` entries from ``--marker`` on; when there are more, the
marker of the next page is said on stderr.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.context import connect

AUDIT_COLUMNS = ("id", "created_at", "action", "object_type", "object_id", "actor_user_id",
                 "actor_project_id", "actor_roles", "request_id", "origin", "before", "after")
EVENT_COLUMNS = ("message_id", "timestamp", "event_type", "object_type", "object_id",
                 "priority", "sent_at", "payload")

Limit = Annotated[int, typer.Option(min=1, max=1000, help="Entries on this page.")]
Marker = Annotated[str | None, typer.Option(help="Continue after this entry (the marker "
                                                 "a previous page said).")]
Since = Annotated[str | None, typer.Option(help="From this time on (ISO 8601, UTC).")]
ObjectType = Annotated[str | None, typer.Option("--object-type", help="Only this kind of "
                                                "object (host, flavor, instance...).")]
ObjectId = Annotated[str | None, typer.Option("--object-id", help="Only this object.")]


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


def _compact(value: Any) -> Any:
    """A JSON value as one line in a table or CSV cell (as is in JSON output)."""
    return value if isinstance(value, (str, int, float)) or value is None else json.dumps(value)


def _more(marker: str | int | None) -> None:
    if marker is not None:
        output.said(f"More: --marker {marker}", sys.stderr)


def audit_log_command(
    actor_user: Annotated[str | None, typer.Option(help="Only changes by this user.")] = None,
    actor_project: Annotated[str | None, typer.Option(
        help="Only changes by callers of this project.")] = None,
    object_type: ObjectType = None,
    object_id: ObjectId = None,
    action: Annotated[str | None, typer.Option(help="Only this action (limits.set, "
                                                    "host.update...).")] = None,
    since: Since = None,
    before: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    sort: Annotated[Order, typer.Option(help="Newest first (desc) or oldest first.")] = Order.desc,
    limit: Limit = 100,
    marker: Marker = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Who changed what, when (admins): limits, projects, flavors, aggregates, hosts,
    tokens, the fleet policy, quota repairs (docs/audit-log.md)."""
    out = output.Output(fmt, column, AUDIT_COLUMNS)
    with connect() as api:
        page = api.get("/v1/audit-log", actor_user_id=actor_user, actor_project_id=actor_project,
                       object_type=object_type, object_id=object_id, action=action,
                       since=since, before=before, sort_dir=sort.value, limit=limit,
                       marker=marker)
    json_out = fmt == output.Format.json
    out.list({**{k: (v if json_out else _compact(v)) for k, v in e.items() if k != "actor"},
              **{f"actor_{k}": e["actor"][k] for k in ("user_id", "project_id", "roles")},
              "request_id": e["actor"]["request_id"], "origin": e["actor"]["origin"]}
             for e in page["entries"])
    _more(page.get("next_marker"))


def list_events(
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type "
                                                   "(instance.create.start...).")] = None,
    object_type: ObjectType = None,
    object_id: ObjectId = None,
    since: Since = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    limit: Limit = 100,
    marker: Marker = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """The event log, oldest first (admins): what was (or will be) published to RabbitMQ
    (docs/events.md)."""
    out = output.Output(fmt, column, EVENT_COLUMNS)
    with connect() as api:
        page = api.get("/v1/events", event_type=event_type, object_type=object_type,
                       object_id=object_id, since=since, until=until, limit=limit,
                       marker=marker)
    json_out = fmt == output.Format.json
    out.list({k: (v if json_out else _compact(v)) for k, v in e.items()}
             for e in page["events"])
    _more(page.get("next_marker"))


event_app = typer.Typer(help="The event log (docs/events.md).", no_args_is_help=True)
event_app.command("list")(list_events)
