"""``corral instance ...``, ``corral decision list`` and ``corral explain``: instances and
the scheduling decisions that placed (or refused) them.

The CLI is the operator: it boots in the project given with ``--project`` (any flavor,
shared or not), sees every project's instances with their hosts, migrates, and reports
builds as a host would. Each command runs one scheduler of its own over the configured
database, with the configured filters and weighers. A request no host can take prints
the explanation (the renderer ``corral explain`` uses) on stderr, then one ``error:``
line, and exits 1; with ``-f json`` or ``-f yaml`` the explanation goes to stdout as data.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer

from corral.cli import output
from corral.cli.client import ClientError, quote
from corral.cli.context import bad_input, connect, fail, print_error
from corral.cli.decision_views import console_for, decision_view, explanation_view, render
from corral.domain import scheduling as s
from corral.domain.flavors import MAX_INT

instance_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                           help="Instances: boot, list, show, delete, report, resize, migrate, "
                                "confirm, revert.")
decision_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                           help="Scheduling decisions: list (see 'corral explain ID').")

LIST_COLUMNS = ("id", "name", "state", "host", "flavor_id", "project_id")
SHOW_COLUMNS = ("id", "name", "project_id", "user_id", "flavor_id", "state", "host",
                "availability_zone", "server_group", "new_flavor_id", "source_host", "attempts",
                "alternates", "decision_id", "fault", "created_at", "updated_at")
BOOT_COLUMNS = (*LIST_COLUMNS, "decision_id")
#: Left out first when a listing is too wide for the terminal.
LIST_NARROW = ("updated_at", "created_at", "fault", "alternates", "attempts", "source_host",
               "new_flavor_id", "server_group", "availability_zone", "user_id", "flavor_id",
               "decision_id", "project_id")
DRY_RUN_COLUMNS = ("instance", "host", "alternates", "decision_id")
DECISION_COLUMNS = ("id", "kind", "outcome", "reason", "host", "elapsed_ms", "created_at",
                    "project_id", "instance_id")

InstanceArg = Annotated[str, typer.Argument(help="UUID of the instance.")]


class State(StrEnum):
    building = s.BUILDING
    active = s.ACTIVE
    verify_resize = s.VERIFY_RESIZE
    error = s.ERROR


class BuildStatus(StrEnum):
    active = "active"
    failed = "failed"


def instance_row(i: dict[str, Any]) -> dict[str, Any]:
    """An instance of the API (/v1/instances, as an admin sees it), in the CLI's fields."""
    return {name: i.get(name) for name in SHOW_COLUMNS}


def _path(instance: str, action: str | None = None) -> str:
    return f"/v1/instances/{quote(instance)}" + (f"/{action}" if action else "")


# -- refusals -----------------------------------------------------------------------------------

def _error(exc: ClientError) -> dict[str, Any]:
    body = exc.body if isinstance(exc.body, dict) else {}
    found = body.get("error")
    return found if isinstance(found, dict) else {}


def refuse(message: str, explanation: dict[str, Any], fmt: output.Format) -> NoReturn:
    """Print why no host could take the request, then ``error: ...``; exit 1."""
    if fmt in (output.Format.json, output.Format.yaml):
        output.emit_show(fmt, [("error", message), ("explanation", explanation)],
                         sys.stdout)
    else:
        render(explanation_view(explanation), console_for(sys.stderr))
    decision = explanation.get("decision_id")
    hint = f"; the whole record: corral explain {decision}" if decision else ""
    fail(message.rstrip(".") + hint)


@contextmanager
def placing(fmt: output.Format, options: dict[str, str] | None = None) -> Iterator[None]:
    """Around a scheduling request: a refusal for want of a host is explained, not one
    line; bad input the server names by field is refused as the option that gave it."""
    try:
        yield
    except ClientError as exc:
        error = _error(exc)
        if error.get("code") == "no_valid_host" and "explanation" in error:
            refuse(exc.message, error["explanation"], fmt)
        field = error.get("field")
        if exc.status == 400 and options and field in options:
            bad_input(options[field], exc.message)
        raise


# -- instance commands --------------------------------------------------------------------------

@instance_app.command("boot")
def boot_instances(
    name: Annotated[str, typer.Argument(help="Name (numbered name-1, name-2... with --count).")],
    flavor: Annotated[str, typer.Option("--flavor", help="Flavor id or name.")],
    project: Annotated[str, typer.Option("--project", help="Project the instances belong to.")],
    user: Annotated[str | None, typer.Option(
        "--user", help="User recorded as their owner (admins only; default: the caller).")
    ] = None,
    zone: Annotated[str | None, typer.Option(
        "--zone", metavar="AZ", help="Only hosts in this availability zone.")] = None,
    server_group: Annotated[str | None, typer.Option(
        "--server-group", metavar="GROUP",
        help="The server group to join: its UUID, or its name (unique in --project).")
    ] = None,
    same_host: Annotated[list[str] | None, typer.Option(
        "--same-host", metavar="INSTANCE",
        help="Only on a host of this instance (UUID). Repeatable.")] = None,
    different_host: Annotated[list[str] | None, typer.Option(
        "--different-host", metavar="INSTANCE",
        help="Not on the host of this instance (UUID). Repeatable.")] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=s.MAX_COUNT,
                                       help="How many instances, in one decision.")] = 1,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say where they would go; claim nothing.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Boot instances of a flavor on the hosts the scheduler picks (state 'building')."""
    out = output.Output(fmt, column, DRY_RUN_COLUMNS if dry_run else BOOT_COLUMNS,
                        narrow=LIST_NARROW)
    body = {"name": name, "flavor": flavor, "project_id": project, "user_id": user,
            "availability_zone": zone, "server_group": server_group, "count": count,
            "dry_run": dry_run, "hints": {"same_host": same_host or [],
                                          "different_host": different_host or []}}
    options = {"name": "NAME", "count": "--count", "project_id": "--project",
               "user_id": "--user", "availability_zone": "--zone",
               "hints.same_host": "--same-host", "hints.different_host": "--different-host"}
    with connect() as api, placing(fmt, options):
        result = api.post("/v1/instances", body)
    if dry_run:
        placements = result.get("placements", [])
        decision = result["decision_id"]
        out.done(f"dry run: {len(placements)} instance(s) of {flavor} would fit; nothing "
                 f"claimed (decision {decision})")
        # a member is not shown host names (nor alternates): only an admin sees them
        out.list({"instance": k + 1, "host": p.get("host"), "alternates": p.get("alternates"),
                  "decision_id": decision}
                 for k, p in enumerate(placements))
        return
    booted = result["instances"]
    placed = ", ".join(i["name"] + (f" on {i['host']}" if i.get("host") else "")
                       for i in booted)
    out.done(f"{len(booted)} instance(s) building: {placed}")
    out.list(instance_row(i) for i in booted)


@instance_app.command("list")
def list_instances(
    project: Annotated[str | None, typer.Option(
        "--project", help="Only this project's (default: every project's).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only on this host.")] = None,
    state: Annotated[State | None, typer.Option("--state", help="Only in this state.")
                     ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=MAX_INT,
                                              help="At most this many.")] = None,
    long: Annotated[bool, typer.Option("--long", help="Every field.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List live instances (deleted ones are not shown)."""
    # --long asks for every field: rows too wide for the terminal go vertical instead.
    out = output.Output(fmt, column, SHOW_COLUMNS if long else LIST_COLUMNS,
                        narrow=() if long else LIST_NARROW)
    with connect() as api:
        found = api.get("/v1/instances", project_id=project, host=host,
                        state=state.value if state else None, limit=limit)["instances"]
    out.list(instance_row(i) for i in found)


@instance_app.command("show")
def show_instance(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                  column: output.ColumnOption = None) -> None:
    """Show an instance: state, host, alternates left, the decision that placed it."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(_path(instance))
    out.show(instance_row(found))


@instance_app.command("delete")
def delete_instances(
    instances: Annotated[list[str], typer.Argument(metavar="INSTANCE...",
                                                   help="UUIDs of the instances.")],
) -> None:
    """Delete instances (their allocations are given back); exits 1 if any failed."""
    failed = 0
    with connect() as api:
        for ref in instances:
            try:
                api.delete(_path(ref))
                output.said(f"instance {ref} deleted")
            except ClientError as exc:
                if len(instances) == 1 or exc.exit_code != 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.message}")
    if failed:
        fail(f"failed to delete {failed} of {len(instances)} instance(s)")


@instance_app.command("report")
def report_build(
    instance: InstanceArg,
    status: Annotated[BuildStatus, typer.Option("--status", help="How the build went.")],
    message: Annotated[str | None, typer.Option(
        "--message", help="What went wrong (kept as the instance's fault).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Report a build as the host would: active, or failed (retried on the next alternate;
    in error once none is left)."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    if message is not None and len(message) > 1000:
        bad_input("--message", "at most 1000 characters")
    with connect() as api:
        found = api.post(_path(instance, "build-report"),
                         {"status": status.value, "message": message})
    out.done(f"instance {found['name']} reported {status.value}: now {found['state']}"
             + (f" on {found['host']}" if found.get("host") else ""))
    out.show(instance_row(found))


@instance_app.command("resize")
def resize_instance(
    instance: InstanceArg,
    flavor: Annotated[str, typer.Option("--flavor", help="The new flavor (id or name).")],
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Claim a new flavor on a host the scheduler picks; then confirm or revert."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api, placing(fmt, {"flavor": "--flavor"}):
        found = api.post(_path(instance, "resize"), {"flavor": flavor})
    out.done(f"instance {found['name']} resizing to {flavor} on {found['host']}: "
             "confirm or revert")
    out.show(instance_row(found))


@instance_app.command("migrate")
def migrate_instance(
    instance: InstanceArg,
    host: Annotated[str | None, typer.Option(
        "--host", help="Destination (every filter still applies; default: the scheduler's "
                       "pick).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Move an instance to another host; then confirm or revert."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api, placing(fmt):
        found = api.post(_path(instance, "migrate"), {"host": host})
    out.done(f"instance {found['name']} migrating from {found['source_host']} to "
             f"{found['host']}: confirm or revert")
    out.show(instance_row(found))


@instance_app.command("confirm")
def confirm_move(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                 column: output.ColumnOption = None) -> None:
    """Keep the new host (and flavor): the source's resources are given back."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.post(_path(instance, "confirm"))
    out.done(f"instance {found['name']} confirmed on {found['host']}")
    out.show(instance_row(found))


@instance_app.command("revert")
def revert_move(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                column: output.ColumnOption = None) -> None:
    """Go back to the source host (and flavor): the destination's resources are given back."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.post(_path(instance, "revert"))
    out.done(f"instance {found['name']} reverted to {found['host']}")
    out.show(instance_row(found))


# -- decisions ----------------------------------------------------------------------------------

@decision_app.command("list")
def list_decisions(
    instance: Annotated[str | None, typer.Option(
        "--instance", help="Only decisions about this instance (UUID).")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's.")
                       ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="At most this many (default 50).")] = 50,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List scheduling decisions, newest first."""
    out = output.Output(fmt, column, DECISION_COLUMNS, narrow=(
        "instance_id", "project_id", "elapsed_ms", "reason", "created_at", "kind"))
    with connect() as api:
        found = api.get("/v1/decisions", project_id=project, instance=instance,
                        limit=limit)["decisions"]
    out.list({**d, "elapsed_ms": round(d["elapsed_ms"], 3)} for d in found)


def explain_decision(
    decision: Annotated[str, typer.Argument(help="UUID of the decision (see 'decision list' "
                                                 "or an instance's decision_id).")],
    fmt: output.FormatOption = output.Format.table,
) -> None:
    """Explain a scheduling decision: the request, the configuration, the funnel of
    filters, the weighed hosts, the choice and its attempts, or why no host could take it.
    ``-f json`` or ``-f yaml`` prints the decision as recorded."""
    if fmt not in (output.Format.table, output.Format.json, output.Format.yaml):
        bad_input("-f", "explain prints table, json or yaml")
    with connect() as api:
        found = api.get(f"/v1/decisions/{quote(decision)}")
    if fmt is output.Format.table:
        render(decision_view(found), console_for(sys.stdout))
    else:
        output.emit_show(fmt, list(found.items()), sys.stdout)
