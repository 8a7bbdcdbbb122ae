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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from prometheus_client import CollectorRegistry

from corral.cli import output
from corral.cli.context import bad_input, fail, fleet_settings, open_services, print_error
from corral.cli.decision_views import console_for, decision_view, explanation_view, render
from corral.domain import errors
from corral.domain import scheduling as s
from corral.domain.flavors import MAX_INT
from corral.domain.scheduling import Instance
from corral.services import builds, decision_log, instance_reads, moves
from corral.services import instances as svc
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler
from corral.services.stores import Store

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


def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def instance_row(i: Instance) -> dict[str, Any]:
    return {"id": i.id, "name": i.name, "project_id": i.project_id, "user_id": i.user_id,
            "flavor_id": i.flavor_id, "state": i.state, "host": i.host,
            "availability_zone": i.availability_zone, "server_group": i.server_group,
            "new_flavor_id": i.new_flavor_id, "source_host": i.source_host,
            "attempts": i.attempts, "alternates": list(i.alternates),
            "decision_id": i.decision_id, "fault": i.fault,
            "created_at": _stamp(i.created_at), "updated_at": _stamp(i.updated_at)}


def decision_row(d: Mapping[str, Any]) -> dict[str, Any]:
    """A decision as data: its timestamp as text, everything else as recorded."""
    return {**d, "created_at": _stamp(d["created_at"])}


# -- the scheduler and refusals -----------------------------------------------------------------

def make_scheduler(store: Store) -> Scheduler:
    """A scheduler for one command, with metrics of its own (nothing scrapes them)."""
    return Scheduler(store, fleet_settings(store), CandidateFinder(store), CollectorRegistry())


def refuse(exc: s.NoValidHost, fmt: output.Format) -> NoReturn:
    """Print why no host could take the request, then ``error: ...``; exit 1."""
    explanation = exc.explanation
    if fmt in (output.Format.json, output.Format.yaml):
        output.emit_show(fmt, [("error", exc.detail), ("explanation", explanation)],
                         sys.stdout)
    else:
        render(explanation_view(explanation), console_for(sys.stderr))
    decision = explanation.get("decision_id")
    hint = f"; the whole record: corral explain {decision}" if decision else ""
    fail(exc.detail.rstrip(".") + hint)


@contextmanager
def placing(fmt: output.Format) -> Iterator[None]:
    """Around a scheduling call: a refusal is explained, not one line."""
    try:
        yield
    except s.NoValidHost as exc:
        refuse(exc, fmt)


# -- instance commands --------------------------------------------------------------------------

@instance_app.command("boot")
def boot_instances(
    name: Annotated[str, typer.Argument(help="Name (numbered name-1, name-2... with --count).")],
    flavor: Annotated[str, typer.Option("--flavor", help="Flavor id or name.")],
    project: Annotated[str, typer.Option("--project", help="Project the instances belong to.")],
    user: Annotated[str, typer.Option("--user", help="User recorded as their owner.")
                    ] = "admin",
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
    req = svc.BootRequest(
        name=name, flavor=flavor, project_id=project, user_id=user, availability_zone=zone,
        server_group=server_group, same_host=tuple(same_host or ()),
        different_host=tuple(different_host or ()), count=count, dry_run=dry_run,
        any_flavor=True)
    options = {"name": "NAME", "count": "--count", "project_id": "--project",
               "user_id": "--user", "availability_zone": "--zone",
               "hints.same_host": "--same-host", "hints.different_host": "--different-host"}
    with open_services() as store, placing(fmt):
        try:
            result = svc.boot(store, make_scheduler(store), req)
        except errors.InvalidInput as exc:
            bad_input(options.get(exc.field or "", "NAME"), exc.detail)
    if dry_run:
        assert result.record is not None  # a dry run stores no key: never a replay
        placements = result.record.placements
        out.done(f"dry run: {len(placements)} instance(s) of {flavor} would fit; nothing "
                 f"claimed (decision {result.decision_id})")
        out.list({"instance": k + 1, "host": p.host, "alternates": p.alternates,
                  "decision_id": result.decision_id}
                 for k, p in enumerate(placements))
        return
    placed = ", ".join(f"{i.name} on {i.host}" for i in result.instances)
    out.done(f"{len(result.instances)} instance(s) building: {placed}")
    out.list(instance_row(i) for i in result.instances)


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
    with open_services() as store:
        found = instance_reads.list_instances(store, project_id=project, host=host,
                                   state=state.value if state else None, limit=limit)
    out.list(instance_row(i) for i in found)


@instance_app.command("show")
def show_instance(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                  column: output.ColumnOption = None) -> None:
    """Show an instance: state, host, alternates left, the decision that placed it."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with open_services() as store:
        found = instance_reads.get_instance(store, instance)
    out.show(instance_row(found))


@instance_app.command("delete")
def delete_instances(
    instances: Annotated[list[str], typer.Argument(metavar="INSTANCE...",
                                                   help="UUIDs of the instances.")],
) -> None:
    """Delete instances (their allocations are given back); exits 1 if any failed."""
    failed = 0
    with open_services() as store:
        for ref in instances:
            try:
                svc.delete_instance(store, ref)
                output.said(f"instance {ref} deleted")
            except errors.CorralError as exc:
                if len(instances) == 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.detail}")
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
    with open_services() as store:
        found = builds.report_build(store, make_scheduler(store), instance,
                                 succeeded=status is BuildStatus.active, message=message)
    out.done(f"instance {found.name} reported {status.value}: now {found.state}"
             + (f" on {found.host}" if found.host else ""))
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
    with open_services() as store, placing(fmt):
        try:
            found = moves.resize(store, make_scheduler(store), instance, flavor, any_flavor=True)
        except errors.InvalidInput as exc:
            if exc.field == "flavor":
                bad_input("--flavor", exc.detail)
            raise
    out.done(f"instance {found.name} resizing to {flavor} on {found.host}: confirm or revert")
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
    with open_services() as store, placing(fmt):
        found = moves.migrate(store, make_scheduler(store), instance, host=host)
    out.done(f"instance {found.name} migrating from {found.source_host} to {found.host}: "
             "confirm or revert")
    out.show(instance_row(found))


@instance_app.command("confirm")
def confirm_move(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                 column: output.ColumnOption = None) -> None:
    """Keep the new host (and flavor): the source's resources are given back."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with open_services() as store:
        found = moves.confirm(store, instance)
    out.done(f"instance {found.name} confirmed on {found.host}")
    out.show(instance_row(found))


@instance_app.command("revert")
def revert_move(instance: InstanceArg, fmt: output.FormatOption = output.Format.table,
                column: output.ColumnOption = None) -> None:
    """Go back to the source host (and flavor): the destination's resources are given back."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with open_services() as store:
        found = moves.revert(store, instance)
    out.done(f"instance {found.name} reverted to {found.host}")
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
    with open_services() as store:
        found = decision_log.list_decisions(store, project_id=project, instance=instance, limit=limit)
    out.list({**decision_row(d), "elapsed_ms": round(d["elapsed_ms"], 3)} for d in found)


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
    with open_services() as store:
        found = decision_row(decision_log.get_decision(store, decision))
    if fmt is output.Format.table:
        render(decision_view(found), console_for(sys.stdout))
    else:
        output.emit_show(fmt, list(found.items()), sys.stdout)
