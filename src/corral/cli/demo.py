"""``corral demo``: seed the demo fleet (see :mod:`corral.services.demo`)."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.context import bad_input, fail, out
from corral.cli.local import open_services
from corral.services import demo


def seed_demo(
    force: Annotated[bool, typer.Option(
        "--force", help="Delete every existing provider first (refused if any has "
                        "allocations).")] = False,
    if_empty: Annotated[bool, typer.Option(
        "--if-empty", help="Seed only an empty database; otherwise leave it alone and "
                           "exit 0.")] = False,
) -> None:
    """Seed a demo fleet: 2 zones, 40 compute hosts, nested GPUs and NUMA nodes, shared storage.

    Refuses a database that already has providers, unless --force or --if-empty.
    """
    if force and if_empty:
        bad_input("--force", "--force and --if-empty contradict each other; give one")
    with open_services() as store:
        try:
            summary = demo.seed_demo(store, force=force)
        except demo.DemoNotEmpty as exc:
            if if_empty:
                out.print(f"the database already has {exc.providers} resource provider(s): "
                          "left them alone")
                return
            fail(f"the database already has {exc.providers} resource provider(s): "
                 "'corral demo --force' deletes them and seeds the demo fleet "
                 "('--if-empty' leaves them alone)")
    if summary.deleted:
        out.print(f"deleted {summary.deleted} existing provider(s)")
    out.print(f"seeded the demo fleet: {summary.providers} providers, "
              f"{len(summary.aggregates)} aggregates")
    out.print(f"  {summary.compute_hosts} compute hosts, {summary.children} child providers, "
              f"{summary.sharing} sharing provider")
    width = max(len(name) for name in summary.aggregates)
    for name, uuid in summary.aggregates.items():
        out.print(f"  aggregate {name:<{width}}  {uuid}  "
                  f"({summary.aggregate_members.get(name, 0)} providers)")
    out.print(f"  {summary.scheduler_hosts} scheduler hosts; flavors:")
    out.print(f"    {', '.join(demo.FLAVORS)}")
    out.print("  projects " + ", ".join(
        f"{p}{' < ' + parent if parent else ''}" for p, parent, _l in demo.DEMO_PROJECTS)
        + " with limits")
    out.print("    (corral quota show acme)")
    out.print(f"  its hosts never heartbeat: they stay up {demo.DOWN_AFTER_S // 86400} days "
              "(this fleet's host_down_after_s)")
    az1 = summary.aggregates["az1"]
    # Commands to copy: continued with a backslash rather than wrapped mid-option.
    out.print(f"try: corral provider list --member-of {az1} \\\n"
              "       --required HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED --resources VCPU:8")
    out.print("     corral instance boot web --flavor ssd.large --project demo --count 3")
