"""``corral server-group ...``: server groups, as ``openstack server group ...``.

The CLI is the operator: it creates a group in the project given with ``--project``
and lists every project's groups unless told one. A group is named by UUID or, when
the name is unique, by name. ``members`` is empty until instances exist.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import ClientError, quote
from corral.cli.context import bad_input, connect, fail, print_error
from corral.domain import errors
from corral.domain import flavors as rules
from corral.domain.flavors import MAX_INT

server_group_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                               help="Server groups: create, list, show, delete.")

LIST_COLUMNS = ("id", "name", "policy", "rules", "project_id", "user_id")
SHOW_COLUMNS = (*LIST_COLUMNS, "members", "created_at")

GroupArg = Annotated[str, typer.Argument(help="UUID, or unique name, of the server group.")]


class Policy(StrEnum):
    affinity = "affinity"
    anti_affinity = "anti-affinity"
    soft_affinity = "soft-affinity"
    soft_anti_affinity = "soft-anti-affinity"


def group_row(g: dict[str, Any]) -> dict[str, Any]:
    """A server group of the API, in the CLI's columns."""
    return {name: g.get(name) for name in SHOW_COLUMNS}


@server_group_app.command("create")
def create_server_group(
    name: Annotated[str, typer.Argument(help="Name of the group (need not be unique).")],
    policy: Annotated[Policy, typer.Option("--policy", help="Placement policy of the group.")],
    project: Annotated[str, typer.Option("--project", help="Project the group belongs to.")],
    user: Annotated[str, typer.Option("--user", help="User recorded as its creator.")
                    ] = "admin",
    max_server_per_host: Annotated[int | None, typer.Option(
        "--max-server-per-host", min=1, max=MAX_INT, metavar="N",
        help="anti-affinity only: how many members one host may hold (default 1).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Create a server group."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    try:
        rules.check_server_group(name, policy.value, max_server_per_host)
    except errors.InvalidInput as exc:
        option = {"name": "NAME", "policy": "--policy"}.get(exc.field or "",
                                                            "--max-server-per-host")
        bad_input(option, exc.detail)
    body = {"name": name, "policy": policy.value, "project_id": project, "user_id": user,
            "rules": (None if max_server_per_host is None
                      else {"max_server_per_host": max_server_per_host})}
    with connect() as api:
        created = api.post("/v1/server-groups", body)
    out.done(f"server group {created['name']} created ({created['id']}, {created['policy']}, "
             f"project {created['project_id']})")
    out.show(group_row(created))


@server_group_app.command("list")
def list_server_groups(
    project: Annotated[str | None, typer.Option(
        "--project", help="Only this project's groups (default: every project's).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List server groups by project and name."""
    out = output.Output(fmt, column, LIST_COLUMNS)
    with connect() as api:
        found = api.get("/v1/server-groups", project_id=project)["server_groups"]
    out.list(group_row(g) for g in found)


@server_group_app.command("show")
def show_server_group(
    group: GroupArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a server group with its rules and members."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(f"/v1/server-groups/{quote(group)}")
    out.show(group_row(found))


@server_group_app.command("delete")
def delete_server_groups(
    groups: Annotated[list[str], typer.Argument(metavar="GROUP...",
                                                help="UUIDs or unique names of the groups.")],
) -> None:
    """Delete server groups; goes on past a failure, exits 1 if any failed."""
    failed = 0
    with connect() as api:
        for ref in groups:
            try:
                found = api.get(f"/v1/server-groups/{quote(ref)}")
                api.delete(f"/v1/server-groups/{quote(found['id'])}")
                output.said(f"server group {found['name']} deleted ({found['id']})")
            except ClientError as exc:
                if len(groups) == 1 or exc.exit_code != 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.message}")
    if failed:
        fail(f"failed to delete {failed} of {len(groups)} server group(s)")
