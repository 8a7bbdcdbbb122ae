"""``corral simulate``: replay a workload against a fleet under several policies.

The fleet is a YAML/JSON file or ``live``: copied once from the server
(``GET /v1/simulation/fleet``, cloud admin), with the fleet policy it runs with. The
replay runs here, on this machine: this command opens no database, and a file fleet
needs no server at all. The workload is a CSV trace (``--trace``) or synthetic
(``--synthetic``, Azure-statistics defaults). Results go to ``--out``: result.json,
result.csv and the plots; a table of the headline figures is printed. See
docs/simulator.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml  # type: ignore[import-untyped]
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from corral.cli import output
from corral.cli.context import bad_input, connect, err, fail, out, settings, state
from corral.config import FLEET_POLICY, Settings, setting_origins
from corral.domain import bounds, errors
from corral.domain.synthetic import SyntheticParams, generate
from corral.domain.workload import Workload, flavors_by_key, parse_trace
from corral.simulation import fleet as fleets
from corral.simulation import replay as sim
from corral.simulation.report import write_all
from corral.simulation.wire import fleet_of

#: Most events a synthetic workload may have (each is held in memory).
MAX_EVENTS = 10_000_000
#: The synthetic demand at the end, as a share of the fleet.
LOAD = bounds.FloatRange(0.0, 10.0)


def simulate_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for result.json, result.csv "
                                          "and the plots (created).")],
    trace: Annotated[Path | None, typer.Option(
        "--trace", help="CSV trace: time,event,instance,flavor|vcpus,ram_mb,disk_gb,project."
    )] = None,
    synthetic: Annotated[bool, typer.Option(
        "--synthetic", help="Generate the workload (Azure VM trace statistics).")] = False,
    events: Annotated[int, typer.Option(min=1, max=MAX_EVENTS,
                                        help="Synthetic: events to generate.")] = 100_000,
    load: Annotated[float, typer.Option(help="Synthetic: demand at the end as a share of the "
                                        "fleet (vCPU or RAM, whichever first).")] = 0.85,
    seed: Annotated[int, typer.Option(min=0, max=bounds.INT64_MAX,
                                      help="Synthetic: random seed.")] = 0,
    projects: Annotated[int, typer.Option(min=1, max=bounds.INT32_MAX,
                                          help="Synthetic: projects to spread boots over.")] = 50,
    fleet: Annotated[str, typer.Option(
        "--fleet", help="Fleet file (YAML or JSON), or 'live' to copy the database's fleet."
    )] = "live",
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", help="Repeatable: 'spread', 'pack', 'spread,cpu_ratio=8,reserved_mb=2048,"
        "subset=2' (any [scheduler] option).")] = None,
    check_every: Annotated[int, typer.Option(
        "--check-every", min=0, max=bounds.INT32_MAX,
        help="Also run the live filters and weighers every N boots and "
        "report disagreements (0: never).")] = 0,
) -> None:
    """What-if: replay a workload against a fleet under policies side by side."""
    if (trace is None) == (not synthetic):
        bad_input("--trace", "give --trace FILE or --synthetic (one of them)")
    if load not in LOAD:
        bad_input("--load", f"must be {LOAD.describe()}, got {load}")
    try:
        spec, base = _fleet(fleet)
        policies = [sim.parse_policy(p, base) for p in (policy or [base.strategy])]
        workload = _workload(trace, spec, policies[0], events, load, seed, projects)
    except errors.InvalidInput as exc:
        fail(exc.detail, code=2)
    if not len(workload):
        fail("the workload has no events", code=2)
    results = _run(spec, workload, policies, check_every)
    run: dict[str, Any] = {"fleet": fleet, "hosts": len(spec.hosts), "events": len(workload),
                           "boots": workload.creates,
                           "workload": str(trace) if trace else
                           {"synthetic": {"events": events, "load": load, "seed": seed,
                                          "projects": projects}}}
    files = write_all(out_dir, results, run)
    _table(results)
    out.print(f"wrote {len(files)} files to {out_dir}")
    if any(r.mismatches for r in results):
        fail("the simulator disagreed with the live filters and weighers: see result.json")


def _run(spec: fleets.FleetSpec, workload: Workload, policies: list[sim.SimPolicy],
         check_every: int) -> list[sim.PolicyResult]:
    """Each policy over the workload, with a progress bar per policy."""
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=out, transient=True) as bar:
        for p in policies:
            task = bar.add_task(f"{p.label:>24}", total=len(workload))
            def advance(n: int, task: TaskID = task) -> None:
                bar.advance(task, n)

            try:
                results.append(sim.simulate(spec, workload, p, check_every=check_every,
                                            progress=advance))
            except errors.InvalidInput as exc:
                fail(exc.detail)
    return results


def _fleet(fleet: str) -> tuple[fleets.FleetSpec, Settings]:
    """The fleet, and the settings its policies start from: for the live fleet, the
    fleet policy of the server it came from (what its hosts look like); else this
    command's."""
    if fleet == "live":
        return _live_fleet()
    base = settings()
    path = Path(fleet)
    if not path.is_file():
        bad_input("--fleet", f"{fleet} is not a file (or 'live')")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise errors.InvalidInput(f"fleet {fleet}: not YAML or JSON: {exc}") from None
    return fleets.parse_fleet(data), base


def _live_fleet() -> tuple[fleets.FleetSpec, Settings]:
    """The server's copy of its fleet and its fleet policy over this command's settings."""
    with connect() as client:
        body = client.get("/v1/simulation/fleet")
    try:
        spec = fleet_of(body.get("fleet") if isinstance(body, dict) else None)
    except errors.InvalidInput as exc:
        fail(f"the server's fleet is not in a form this corral reads: {exc.detail}")
    policy = body.get("policy")
    if not isinstance(policy, dict):
        fail("the server's answer has no fleet policy")
    return spec, _with_server_policy(settings(), policy)


def _with_server_policy(own: Settings, policy: dict[str, Any]) -> Settings:
    """``own`` with the server's fleet policy; an option this command's configuration
    sets otherwise is said once on stderr (one fleet, one policy)."""
    values = {k: v["value"] for k, v in policy.items()
              if k in FLEET_POLICY and isinstance(v, dict) and "value" in v}
    try:
        merged = Settings.model_validate({**own.model_dump(), **values})
    except ValueError as exc:
        fail(f"the server's fleet policy is not one this corral accepts: {exc}")
    configured = setting_origins(state.config_file, database_url=state.database_url)
    for name in sorted(values):
        used, mine = getattr(merged, name), getattr(own, name)
        if used != mine and name in configured and name not in state.noted:
            state.noted.add(name)
            line = Text("note: ", style="bold yellow")
            line.append(f"{name} is {_show(used)} (the server's, from "
                        f"{policy[name].get('origin', 'its configuration')}); this command's "
                        f"configuration says {_show(mine)} ({configured[name]}), which is not "
                        "used: one fleet, one policy")
            err.print(line)
    return merged


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "''"


def _workload(trace: Path | None, spec: fleets.FleetSpec, first: sim.SimPolicy, events: int,
              load: float, seed: int, projects: int) -> Workload:
    if trace is not None:
        if not trace.is_file():
            bad_input("--trace", f"{trace} is not a file")
        return parse_trace(trace.read_text(), flavors_by_key(spec.flavors))
    params = SyntheticParams(events=events, load=load, seed=seed, projects=projects)
    return generate(params, fleets.usable_capacity(spec, first.settings))


#: The summary's figures, one row each (the policies are the columns).
FIGURES = ("accepted", "refused", "top refusal", "density vCPU", "density RAM",
           "empty hosts", "stranded vCPU", "stranded RAM MB", "fits of largest",
           "compaction hosts", "p50 / p99 us")


def summary_rows(r: sim.PolicyResult) -> list[str]:
    """One policy's headline figures, in FIGURES order."""
    top = next(iter(r.refused_by.items()), None)
    return [
        f"{r.placed}/{r.boots} ({r.acceptance:.1%})", str(r.boots - r.placed),
        f"{top[0]} ({top[1]})" if top else "-",
        f"{r.packing_density.get('VCPU', 0):.1%}", f"{r.packing_density.get('MEMORY_MB', 0):.1%}",
        str(r.empty_hosts), str(r.stranded.get("VCPU", 0)), str(r.stranded.get("MEMORY_MB", 0)),
        ", ".join(f"{k}: {v}" for k, v in r.fits_of_largest.items()) or "-",
        str(r.compaction_hosts), f"{r.latency_us.get('p50')} / {r.latency_us.get('p99')}"]


def _table(results: list[sim.PolicyResult]) -> None:
    """The headline figures: one row per figure, one column per policy, so that it reads
    at 80 columns; more policies than fit side by side go in further tables."""
    width = output.width_of(sys.stdout, 200) or 200
    per = [summary_rows(r) for r in results]
    labels = [r.label.replace(",", ", ") for r in results]  # a label may wrap at its commas
    first = max(len(f) for f in FIGURES) + 3
    room = max(1, (width - first - 1) // 24)  # about 24 columns a policy
    out.print(Text("Simulation", style="bold"))
    for start in range(0, len(results), room):
        chunk = range(start, min(start + room, len(results)))
        table = Table(box=box.SQUARE, header_style="bold", highlight=False)
        table.add_column("figure", no_wrap=True)
        for k in chunk:
            table.add_column(labels[k], overflow="fold")
        for n, figure in enumerate(FIGURES):
            table.add_row(figure, *(per[k][n] for k in chunk))
        out.print(table, width=width)
