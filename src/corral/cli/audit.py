"""``corral quota audit``: recount usage, show every drift and orphan, and repair them.

A client of ``POST /v1/quota/audit`` (the server counts and repairs).
Exit status: 0 when the ledger agrees with reality (or ``--fix`` repaired it), 3 when
drift or orphans were found and left alone, so a cron job can alert on it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from corral.cli.context import connect, out

DRIFT_FOUND = 3


def audit_command(
    project: Annotated[str | None, typer.Option(
        "--project", help="Audit this project's subtree (and its ancestors) only.")] = None,
    fix: Annotated[bool, typer.Option(
        "--fix", help="Repair every drift and give back every orphaned allocation, in "
        "one transaction.")] = False,
) -> None:
    """Recount quota usage from the allocations, instances and server groups."""
    with connect() as api:
        report = api.post("/v1/quota/audit", {"project": project, "fix": fix})
    if report["clean"]:
        out.print("The quota ledger agrees with the allocations: no drift, no orphans.")
        return
    if report["drifts"]:
        table = Table(title="Drift (ledger says / recount says)")
        for col in ("project", "resource", "own", "subtree"):
            table.add_column(col, justify="right" if col in ("own", "subtree") else "left")
        for d in report["drifts"]:
            table.add_row(d["project_id"], d["resource"], f"{d['ledger_own']} / {d['actual_own']}",
                          f"{d['ledger_subtree']} / {d['actual_subtree']}")
        out.print(table)
    if report["orphans"]:
        table = Table(title="Orphaned allocations")
        for col in ("consumer", "project", "why"):
            table.add_column(col)
        for o in report["orphans"]:
            table.add_row(o["consumer"], o["project_id"], o["why"])
        out.print(table)
    if report["fixed"]:
        out.print(f"Repaired {len(report['drifts'])} drift(s) and gave back "
                  f"{len(report['orphans'])} orphaned consumer(s).")
        return
    out.print("Run again with --fix to repair.")
    raise typer.Exit(DRIFT_FOUND)
