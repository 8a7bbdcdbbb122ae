"""``corral aggregate ...``: host aggregates, their metadata and their hosts.

As ``openstack aggregate ...``: ``create NAME --property K=V``, ``set NAME --property K=V
--unset-property K``, ``add-host AGG HOST`` and ``remove-host AGG HOST``. Metadata is
validated by key (ratios, reserved memory, availability zone, strategy...) by the
same service as the API.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import quote
from corral.cli.context import bad_input, connect

aggregate_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                            help="Host aggregates: create, list, show, set, delete, add/remove "
                                 "hosts.")

LIST_COLUMNS = ("name", "uuid", "availability_zone", "hosts", "metadata")
SHOW_COLUMNS = ("name", "uuid", "availability_zone", "hosts", "metadata", "created_at",
                "updated_at")

AggregateArg = Annotated[str, typer.Argument(help="Name of the aggregate.")]
PropertyOption = Annotated[list[str] | None, typer.Option(
    "--property", metavar="KEY=VALUE", help="A metadata pair; repeatable.")]


def record(agg: dict[str, Any]) -> dict[str, Any]:
    """An aggregate of the API, in the CLI's columns."""
    return {name: agg.get(name) for name in SHOW_COLUMNS}


def _path(name: str) -> str:
    return f"/v1/aggregates/{quote(name)}"


def parse_properties(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            bad_input("--property", f"expected KEY=VALUE, got {value!r}")
        found[key] = raw
    return found


@aggregate_app.command("create")
def create_aggregate(name: AggregateArg, prop: PropertyOption = None,
                     fmt: output.FormatOption = output.Format.table,
                     column: output.ColumnOption = None) -> None:
    """Create an aggregate, optionally with metadata."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    metadata = parse_properties(prop or [])
    with connect() as api:
        created = api.post("/v1/aggregates", {"name": name, "metadata": metadata})
    out.done(f"aggregate {created['name']} created ({created['uuid']})")
    out.show(record(created))


@aggregate_app.command("list")
def list_aggregates(fmt: output.FormatOption = output.Format.table,
                    column: output.ColumnOption = None) -> None:
    """List aggregates with their zone, hosts and metadata."""
    out = output.Output(fmt, column, LIST_COLUMNS, narrow=("uuid", "metadata", "hosts"))
    with connect() as api:
        found = api.get("/v1/aggregates")["aggregates"]
    out.list(record(a) for a in found)


@aggregate_app.command("show")
def show_aggregate(name: AggregateArg, fmt: output.FormatOption = output.Format.table,
                   column: output.ColumnOption = None) -> None:
    """Show an aggregate."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(_path(name))
    out.show(record(found))


@aggregate_app.command("set")
def set_aggregate(
    name: AggregateArg,
    prop: PropertyOption = None,
    unset: Annotated[list[str] | None, typer.Option(
        "--unset-property", metavar="KEY", help="A metadata key to remove; repeatable.")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Set and unset metadata; the hosts' overcommit follows at once."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    changes: dict[str, str | None] = dict(parse_properties(prop or []))
    for key in unset or []:
        if key in changes:
            bad_input("--unset-property", f"{key} is also given to --property")
        changes[key] = None
    if not changes:
        bad_input("--property", "give --property KEY=VALUE or --unset-property KEY")
    with connect() as api:
        found = api.patch(_path(name), {"metadata": changes})
    set_ = [f"{k}={v}" for k, v in changes.items() if v is not None]
    unset_ = [k for k, v in changes.items() if v is None]
    out.done(f"aggregate {found['name']}: " + "; ".join(
        part for part in (f"set {', '.join(set_)}" if set_ else "",
                          f"unset {', '.join(unset_)}" if unset_ else "") if part))
    out.show(record(found))


@aggregate_app.command("delete")
def delete_aggregate(name: AggregateArg) -> None:
    """Delete an aggregate (it must have no hosts)."""
    with connect() as api:
        api.delete(_path(name))
    output.said(f"aggregate {name} deleted")


@aggregate_app.command("add-host")
def add_host(name: AggregateArg, host: Annotated[str, typer.Argument(help="Host name.")],
             fmt: output.FormatOption = output.Format.table,
             column: output.ColumnOption = None) -> None:
    """Add a host to an aggregate."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.post(_path(name) + "/hosts", {"host": host})
    out.done(f"host {host} added to aggregate {found['name']} ({len(found['hosts'])} hosts)")
    out.show(record(found))


@aggregate_app.command("remove-host")
def remove_host(name: AggregateArg, host: Annotated[str, typer.Argument(help="Host name.")],
                fmt: output.FormatOption = output.Format.table,
                column: output.ColumnOption = None) -> None:
    """Remove a host from an aggregate."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.delete(f"{_path(name)}/hosts/{quote(host)}")
    out.done(f"host {host} removed from aggregate {found['name']} "
             f"({len(found['hosts'])} hosts left)")
    out.show(record(found))
