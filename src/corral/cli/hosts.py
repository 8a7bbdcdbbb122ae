"""``corral host ...``: compute hosts, their liveness, usage and effective overcommit.

Hosts appear when they report themselves (``PUT /v1/hosts/{name}``); operators list
them, look at one, and change what operators own: enabled or disabled with a reason,
forced down, and the host's own overcommit values (``--cpu-ratio none`` clears one
back to the aggregates' value or the default).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import quote
from corral.cli.context import bad_input, connect
from corral.domain import bounds, errors

host_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                       help="Compute hosts: list, show, set (enable, disable, ratios).")

LIST_COLUMNS = ("name", "state", "enabled", "availability_zone", "last_heartbeat",
                "instances", "vcpus_used", "memory_mb_used", "disk_gb_used")
#: Left out first when the table is too wide for the terminal.
LIST_NARROW = ("last_heartbeat", "disk_gb_used", "availability_zone", "instances",
               "memory_mb_used", "vcpus_used", "enabled")
SHOW_COLUMNS = ("name", "provider_uuid", "state", "enabled", "disabled_reason", "forced_down",
                "last_heartbeat", "availability_zone", "aggregates", "traits", "reported",
                "usage", "capacity", "instances", "failed_builds", "cpu_allocation_ratio",
                "ram_allocation_ratio", "disk_allocation_ratio", "reserved_host_memory_mb")
KEYS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
        "reserved_host_memory_mb")

HostArg = Annotated[str, typer.Argument(help="Name of the host.")]


def _usage(host: dict[str, Any], name: str) -> str:
    r = host["resources"].get(name)
    return "-" if r is None else f"{r['used']}/{r['capacity']}"


def list_row(host: dict[str, Any]) -> dict[str, Any]:
    """A host of the API (GET /v1/hosts), in the listing's columns."""
    return {"name": host["name"], "state": host["state"], "enabled": host["enabled"],
            "availability_zone": host["availability_zone"],
            "last_heartbeat": host["last_heartbeat"], "instances": host["instances"],
            "vcpus_used": _usage(host, "VCPU"), "memory_mb_used": _usage(host, "MEMORY_MB"),
            "disk_gb_used": _usage(host, "DISK_GB")}


def show_record(host: dict[str, Any]) -> dict[str, Any]:
    """A host of the API, in ``host show``'s fields."""
    record: dict[str, Any] = {name: host.get(name) for name in SHOW_COLUMNS[:11]}
    record["usage"] = {n: r["used"] for n, r in host["resources"].items()}
    record["capacity"] = {n: r["capacity"] for n, r in host["resources"].items()}
    record["instances"] = host["instances"]
    record["failed_builds"] = host["failed_builds"]
    for key in KEYS:
        resolved = host["effective"].get(key) or {}
        record[key] = {"value": resolved.get("value"), "source": resolved.get("source")}
    return record


@host_app.command("list")
def list_hosts(
    availability_zone: Annotated[str | None, typer.Option(
        "--availability-zone", help="Only hosts in this availability zone.")] = None,
    state: Annotated[str | None, typer.Option(help="Only hosts 'up' or 'down'.")] = None,
    enabled: Annotated[bool | None, typer.Option(
        "--enabled/--disabled", help="Only enabled (or only disabled) hosts.",
        show_default=False)] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List hosts: state, enabled, zone, last heartbeat, and usage (used/capacity)."""
    out = output.Output(fmt, column, LIST_COLUMNS, narrow=LIST_NARROW)
    if state is not None and state not in ("up", "down"):
        bad_input("--state", f"'up' or 'down', got {state!r}")
    with connect() as api:
        found = api.get("/v1/hosts", availability_zone=availability_zone, state=state,
                        enabled=None if enabled is None else str(enabled).lower())["hosts"]
    out.list(list_row(h) for h in found)


@host_app.command("show")
def show_host(host: HostArg, fmt: output.FormatOption = output.Format.table,
              column: output.ColumnOption = None) -> None:
    """Show a host, with its effective ratios and reserved memory and where each came from."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(f"/v1/hosts/{quote(host)}")
    out.show(show_record(found))


def _number(value: str | None, option: str, kind: type, key: str
            ) -> tuple[bool, float | int | None]:
    """(given, value): 'none' clears the host's own value; a ratio is a finite number
    above 0 and at most 1000, reserved memory a 32-bit count (domain/bounds.py)."""
    if value is None:
        return False, None
    if value.strip().lower() == "none":
        return True, None
    try:
        if kind is int:
            return True, bounds.parse_int(value, bounds.COUNT, key)
        return True, bounds.parse_float(value, bounds.HOST_RATIO, key)
    except errors.InvalidInput as exc:
        bad_input(option, f"{exc.detail} (or 'none')")


@host_app.command("set")
def set_host(
    host: HostArg,
    enable: Annotated[bool | None, typer.Option(
        "--enable/--disable", help="Enable the host, or disable it (not scheduled to).",
        show_default=False)] = None,
    reason: Annotated[str | None, typer.Option(
        help="Why the host is disabled (with --disable).")] = None,
    force_down: Annotated[bool | None, typer.Option(
        "--force-down/--no-force-down", help="Mark the host down whatever its heartbeat says.",
        show_default=False)] = None,
    cpu_ratio: Annotated[str | None, typer.Option(
        "--cpu-ratio", metavar="X", help="The host's own CPU allocation ratio; 'none' clears "
                                         "it.")] = None,
    ram_ratio: Annotated[str | None, typer.Option(
        "--ram-ratio", metavar="X", help="The host's own RAM allocation ratio; 'none' clears "
                                         "it.")] = None,
    disk_ratio: Annotated[str | None, typer.Option(
        "--disk-ratio", metavar="X", help="The host's own disk allocation ratio; 'none' clears "
                                          "it.")] = None,
    reserved_memory_mb: Annotated[str | None, typer.Option(
        "--reserved-memory-mb", metavar="N", help="The host's own reserved memory in MB; 'none' "
                                                  "clears it.")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Change a host: enable or disable it, force it down, set its own overcommit."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    changes: dict[str, object] = {}
    if enable is not None:
        changes["enabled"] = enable
    if reason is not None:
        if enable is True:
            bad_input("--reason", "a reason goes with --disable")
        changes["disabled_reason"] = reason
    if force_down is not None:
        changes["forced_down"] = force_down
    for key, raw, option, kind in (
            ("cpu_allocation_ratio", cpu_ratio, "--cpu-ratio", float),
            ("ram_allocation_ratio", ram_ratio, "--ram-ratio", float),
            ("disk_allocation_ratio", disk_ratio, "--disk-ratio", float),
            ("reserved_host_memory_mb", reserved_memory_mb, "--reserved-memory-mb", int)):
        given, number = _number(raw, option, kind, key)
        if given:
            changes[key] = number
    if not changes:
        bad_input("HOST", "nothing to change: give at least one option (see --help)")
    with connect() as api:
        found = api.patch(f"/v1/hosts/{quote(host)}", changes)
    out.done(f"host {found['name']} {describe_changes(changes)}")
    out.show(show_record(found))


def describe_changes(changes: dict[str, object]) -> str:
    """``disabled (reason: disk replacement), cpu_allocation_ratio set to 8.0``."""
    said: list[str] = []
    if "enabled" in changes:
        reason = changes.get("disabled_reason")
        said.append("enabled" if changes["enabled"] else
                    "disabled" + (f" (reason: {reason})" if reason else ""))
    elif "disabled_reason" in changes:
        said.append(f"disabled reason set to {changes['disabled_reason']!r}")
    if "forced_down" in changes:
        said.append("forced down" if changes["forced_down"] else "no longer forced down")
    for key in KEYS:
        if key in changes:
            value = changes[key]
            said.append(f"{key} cleared (the aggregates' or the default applies)"
                        if value is None else f"{key} set to {value}")
    return ", ".join(said)
