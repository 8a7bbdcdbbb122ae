"""``corral capacity``: headroom per flavor, utilization per class, stranded hosts.

The same services as ``GET /v1/capacity`` (services/capacity.py), on a scheduler of the
command's own over the configured database. Headroom rows come smallest first: the
flavors and places closest to "no valid host" lead.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.context import bad_input, connect

HEADROOM_COLUMNS = ("flavor", "group", "headroom", "hosts_eligible", "hosts_with_room")
STRANDED_COLUMNS = ("host", "availability_zone", "stranded", "exhausted", "share")
UTILIZATION_COLUMNS = ("scope", "resource_class", "used", "usable", "ratio")


#: How ``corral capacity`` groups hosts (as ``GET /v1/capacity?group_by=``).
GROUP_BY = ("fleet", "az", "aggregate", "host")


def headroom_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per flavor and group (``GET /v1/capacity``), smallest headroom first."""
    rows = [{"flavor": h["flavor"]["name"], "group": group, "headroom": count,
             "hosts_eligible": h["hosts_eligible"].get(group, 0),
             "hosts_with_room": h["hosts_with_room"].get(group, 0)}
            for h in found for group, count in h["groups"].items()]
    return sorted(rows, key=lambda r: (r["headroom"], r["flavor"], r["group"]))


def utilization_rows(u: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scope and class (``GET /v1/capacity/utilization``)."""
    scopes = [("fleet", u["fleet"])]
    scopes += [(f"az:{z}", c) for z, c in u["availability_zones"].items()]
    scopes += [(f"aggregate:{a}", c) for a, c in u["aggregates"].items()]
    return [{"scope": scope, "resource_class": rc, "used": c["used"], "usable": c["usable"],
             "ratio": c["ratio"]}
            for scope, per_class in scopes for rc, c in per_class.items()]


def capacity_command(
    flavor: Annotated[list[str] | None, typer.Option(
        "--flavor", help="Flavor id or name; repeat for several (default: every flavor).")
    ] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", help="fleet, az, aggregate or host.")] = "az",
    project: Annotated[str | None, typer.Option(
        "--project", help="Count for this project (tenant-isolated aggregates).")] = None,
    stranded: Annotated[bool, typer.Option(
        "--stranded", help="List the hosts whose free capacity no flavor can use.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, max=10000,
                                     help="With --stranded: how many hosts.")] = 10,
    utilization: Annotated[bool, typer.Option(
        "--utilization", help="Used / usable per class: fleet, zones, aggregates.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """How many more instances of each flavor fit (smallest headroom first), or the
    stranded hosts (--stranded), or utilization per class (--utilization)."""
    if stranded and utilization:
        bad_input("--stranded", "choose one of --stranded and --utilization")
    if top < 1:
        bad_input("--top", "must be at least 1")
    if group_by not in GROUP_BY:
        bad_input("--group-by", f"must be one of {', '.join(GROUP_BY)}")
    if stranded:
        out = output.Output(fmt, column, STRANDED_COLUMNS)
        with connect() as api:
            hosts = api.get("/v1/capacity/stranded", top=top)["hosts"]
        out.list([{name: h.get(name) for name in STRANDED_COLUMNS} for h in hosts])
        return
    if utilization:
        out = output.Output(fmt, column, UTILIZATION_COLUMNS)
        with connect() as api:
            u = api.get("/v1/capacity/utilization")
        out.list(utilization_rows(u))
        return
    out = output.Output(fmt, column, HEADROOM_COLUMNS)
    with connect() as api:
        found = api.get("/v1/capacity", flavor=flavor, group_by=group_by,
                        project=project)["capacity"]
    out.list(headroom_rows(found))
