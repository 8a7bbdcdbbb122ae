"""``corral provider ...`` and ``corral inventory ...``: the fleet, as Placement holds it.

The grammar follows osc-placement (``openstack resource provider ...``) where it can:
the same option names, the same ``--resource CLASS:FIELD=VALUE`` syntax, the same
columns. A provider may be named by UUID or by name wherever one is asked for.

A client of the Placement API corral serves (``/resource_providers``..., at the newest
microversion): options are checked here (exit 2 naming the option), then sent as
Placement's query parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import Client, ClientError
from corral.cli.context import bad_input, connect, fail, print_error
from corral.cli.provider_options import parse_member_of, parse_required, parse_resources
from corral.domain import bounds
from corral.domain.capacity import MAX_INT, MAX_RATIO, Inventory
from corral.domain.names import RESOURCE_CLASS_NAME, normalize_uuid

provider_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                           help="Resource providers: list, show, create, delete.")
inventory_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                            help="Inventories of a resource provider: list, set.")

PROVIDER_COLUMNS = ("uuid", "name", "generation", "root_provider_uuid", "parent_provider_uuid")
SHOW_COLUMNS = (*PROVIDER_COLUMNS, "inventories", "usages", "traits", "aggregates")
INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
INVENTORY_COLUMNS = ("resource_class", *INVENTORY_FIELDS, "used", "capacity")
#: Left out first when the table is too wide for the terminal.
INVENTORY_NARROW = ("min_unit", "step_size", "max_unit", "reserved", "allocation_ratio", "used")
#: Largest provider name (the Placement API's limit, and the column's).
MAX_NAME = 200

ProviderArg = Annotated[str, typer.Argument(help="UUID or name of the resource provider.")]


#: Every Placement request: the newest microversion (filters, reserved == total...).
PLACEMENT = {"openstack-api-version": "placement latest"}


def placement(api: Client, method: str, path: str, json: Any = None,
              **params: Any) -> Any:
    return api.request(method, path, params=params, json=json, headers=PLACEMENT)


def resolve(api: Client, ref: str) -> dict[str, Any]:
    """The provider with UUID ``ref``, or else named ``ref``.

    Raises:
        ClientError: neither exists (a refusal: exit 1), or the request failed.
    """
    canonical = normalize_uuid(ref)
    if canonical is not None:
        try:
            found: dict[str, Any] = placement(api, "GET", f"/resource_providers/{canonical}")
            return found
        except ClientError as exc:
            if exc.status != 404:
                raise  # a provider may be named like a UUID: try the name too
    named = placement(api, "GET", "/resource_providers", name=ref)["resource_providers"]
    if not named:
        raise ClientError(f"No resource provider with name or uuid {ref!r} found", status=404)
    first: dict[str, Any] = named[0]
    return first


def provider_row(p: dict[str, Any]) -> dict[str, Any]:
    return {name: p.get(name) for name in PROVIDER_COLUMNS}


def _uuid_option(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    canonical = normalize_uuid(value)
    if canonical is None:
        bad_input(option, f"{value!r} is not a UUID")
    return canonical


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME:
        bad_input("NAME", f"a provider name is 1 to {MAX_NAME} characters, got {len(name)}")


# -- provider commands -----------------------------------------------------------------------

@provider_app.command("list")
def list_providers(
    name: Annotated[str | None, typer.Option(
        help="Only the provider with this exact name.")] = None,
    uuid: Annotated[str | None, typer.Option(help="Only the provider with this UUID.")] = None,
    in_tree: Annotated[str | None, typer.Option(
        "--in-tree", metavar="PROVIDER",
        help="Only providers in the same tree as this one (UUID or name).")] = None,
    member_of: Annotated[list[str] | None, typer.Option(
        "--member-of", metavar="AGGREGATE",
        help="Only members of this aggregate UUID; 'in:U1,U2' for any of several, "
             "'!U' or '!in:U1,U2' for none of them. Repeat: all must hold.")] = None,
    required: Annotated[list[str] | None, typer.Option(
        "--required", metavar="TRAITS",
        help="Traits the provider must have, e.g. 'HW_CPU_X86_AVX2,!CUSTOM_SLOW' "
             "('!' forbids); 'in:T1,T2' for any of. Repeatable.")] = None,
    resources: Annotated[str | None, typer.Option(
        "--resources", metavar="CLASS:AMOUNT,...",
        help="Only providers with this much free capacity now, "
             "e.g. 'VCPU:2,MEMORY_MB:512'.")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List resource providers, optionally filtered."""
    out = output.Output(fmt, column, PROVIDER_COLUMNS)
    # Checked here (exit 2 naming the option), sent as Placement's own syntax.
    parse_member_of(member_of or [])
    parse_required(required or [])
    if resources is not None:
        parse_resources(resources)
    params: dict[str, Any] = {"name": name, "uuid": _uuid_option(uuid, "--uuid"),
                              "member_of": member_of or None, "required": required or None,
                              "resources": resources}
    with connect() as api:
        if in_tree is not None:
            params["in_tree"] = resolve(api, in_tree)["uuid"]
        found = placement(api, "GET", "/resource_providers", **params)["resource_providers"]
    out.list(provider_row(p) for p in found)


def _inventory_dict(inv: dict[str, Any]) -> dict[str, Any]:
    return {name: inv[name] for name in INVENTORY_FIELDS}


def _provider_path(p: dict[str, Any], *rest: str) -> str:
    return "/".join((f"/resource_providers/{p['uuid']}", *rest))


@provider_app.command("show")
def show_provider(
    provider: ProviderArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a resource provider with its inventories, usages, traits and aggregates."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = resolve(api, provider)
        view = placement(api, "GET", _provider_path(found, "inventories"))
        usages = placement(api, "GET", _provider_path(found, "usages"))["usages"]
        traits = placement(api, "GET", _provider_path(found, "traits"))["traits"]
        aggregates = placement(api, "GET", _provider_path(found, "aggregates"))["aggregates"]
    record = provider_row({**found, "generation": view["resource_provider_generation"]})
    record.update(
        inventories={rc: _inventory_dict(inv) for rc, inv in view["inventories"].items()},
        usages=usages, traits=sorted(traits), aggregates=sorted(aggregates))
    out.show(record)


@provider_app.command("create")
def create_provider(
    name: Annotated[str, typer.Argument(help="Name of the new provider (unique).")],
    uuid: Annotated[str | None, typer.Option(help="UUID to give it (default: a new one).")] = None,
    parent_provider: Annotated[str | None, typer.Option(
        "--parent-provider", metavar="PROVIDER",
        help="Parent provider (UUID or name): makes the new one a child in its tree.")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Create a resource provider."""
    out = output.Output(fmt, column, PROVIDER_COLUMNS)
    _check_name(name)
    wanted_uuid = _uuid_option(uuid, "--uuid")
    with connect() as api:
        parent = resolve(api, parent_provider)["uuid"] if parent_provider is not None else None
        created = placement(api, "POST", "/resource_providers", {
            "name": name, "uuid": wanted_uuid, "parent_provider_uuid": parent})
    out.done(f"provider {created['name']} created ({created['uuid']}"
             + (f", child of {parent_provider})" if parent_provider else ")"))
    out.show(provider_row(created))


@provider_app.command("delete")
def delete_providers(
    providers: Annotated[list[str], typer.Argument(
        metavar="PROVIDER...", help="UUIDs or names of the providers to delete.")],
) -> None:
    """Delete resource providers (children before their parents), in the order given.

    Each is deleted on its own; the command goes on past a failure, reports each one,
    and exits 1 if any failed.
    """
    failed = 0
    with connect() as api:
        for ref in providers:
            try:
                found = resolve(api, ref)
                placement(api, "DELETE", _provider_path(found))
                output.said(f"provider {found['name']} deleted ({found['uuid']})")
            except ClientError as exc:
                if len(providers) == 1 or exc.exit_code != 1:  # its error is the whole story
                    raise
                failed += 1
                print_error(f"{ref}: {exc.message}")
    if failed:
        fail(f"failed to delete {failed} of {len(providers)} provider(s)")


# -- inventories ---------------------------------------------------------------------------

def _inventory_rows(view: dict[str, Any], usages: dict[str, int]) -> list[dict[str, Any]]:
    return [{"resource_class": rc, **_inventory_dict(inv), "used": usages.get(rc, 0),
             "capacity": Inventory(**_inventory_dict(inv)).capacity}
            for rc, inv in sorted(view["inventories"].items())]


@inventory_app.command("list")
def list_inventories(
    provider: ProviderArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List the inventory of a provider, with usage and usable capacity per class.

    capacity = (total - reserved) x allocation_ratio.
    """
    out = output.Output(fmt, column, INVENTORY_COLUMNS, narrow=INVENTORY_NARROW)
    with connect() as api:
        found = resolve(api, provider)
        view = placement(api, "GET", _provider_path(found, "inventories"))
        usages = placement(api, "GET", _provider_path(found, "usages"))["usages"]
    out.list(_inventory_rows(view, usages))


#: Field -> (type, smallest, largest) of an inventory record, as the Placement API checks.
_FIELD_RULES: dict[str, tuple[type, float, float]] = {
    "total": (int, 1, MAX_INT), "reserved": (int, 0, MAX_INT), "min_unit": (int, 1, MAX_INT),
    "max_unit": (int, 1, MAX_INT), "step_size": (int, 1, MAX_INT),
    "allocation_ratio": (float, 0, MAX_RATIO),
}


def parse_resource_option(value: str) -> tuple[str, str, int | float]:
    """``CLASS=TOTAL`` or ``CLASS:FIELD=VALUE`` -> (class, field, value)."""
    option = "--resource"
    key, sep, raw = value.partition("=")
    if not sep or not raw.strip():
        bad_input(option, f"expected CLASS=TOTAL or CLASS:FIELD=VALUE, got {value!r}")
    rc, colon, fld = key.partition(":")
    rc, fld = rc.strip(), (fld.strip() if colon else "total")
    if not RESOURCE_CLASS_NAME.match(rc):
        bad_input(option, f"{rc!r} is not a resource class name (in {value!r})")
    if fld not in _FIELD_RULES:
        bad_input(option, f"unknown inventory field {fld!r} in {value!r}; the fields are: "
                          f"{', '.join(INVENTORY_FIELDS)}")
    kind, low, high = _FIELD_RULES[fld]
    try:
        number: int | float | None = (bounds.integer_text(raw) if kind is int
                                      else float(raw.strip()))
        if number is None:
            raise ValueError(raw)
    except ValueError:
        bad_input(option, f"{rc}:{fld} must be {'a whole number' if kind is int else 'a number'}"
                          f", got {raw.strip()!r}")
    ratio = fld == "allocation_ratio"
    too_low = number <= low if ratio else number < low
    if too_low or number > high or number != number:  # the last: NaN
        bound = f"greater than {low:g}" if ratio else f"at least {low}"
        bad_input(option, f"{rc}:{fld} must be {bound} and at most {high}, got {raw.strip()}")
    return rc, fld, number


@inventory_app.command("set")
def set_inventories(
    provider: ProviderArg,
    resource: Annotated[list[str] | None, typer.Option(
        "--resource", metavar="CLASS[:FIELD]=VALUE",
        help="An inventory value: 'VCPU=16' sets the total, 'VCPU:allocation_ratio=4.0' "
             "another field (total, reserved, min_unit, max_unit, step_size, "
             "allocation_ratio). Repeatable.")] = None,
    amend: Annotated[bool, typer.Option(
        "--amend", help="Merge into the existing inventory instead of replacing all of it.")
    ] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Set the inventory of a provider.

    Without --amend this replaces the whole inventory (like 'openstack resource provider
    inventory set'): classes not given are removed, fields not given take their
    defaults. With --amend, only the given fields change.
    """
    out = output.Output(fmt, column, INVENTORY_COLUMNS, narrow=INVENTORY_NARROW)
    if not resource:
        bad_input("--resource", "give at least one, e.g. --resource VCPU=16")
    given: dict[str, dict[str, int | float]] = {}
    for value in resource:
        rc, fld, number = parse_resource_option(value)
        given.setdefault(rc, {})[fld] = number
    with connect() as api:
        found = resolve(api, provider)
        current = placement(api, "GET", _provider_path(found, "inventories"))
        wanted = dict(current["inventories"]) if amend else {}
        for rc, fields in given.items():
            base = _inventory_dict(wanted[rc]) if rc in wanted else {}
            merged = {**base, **fields}
            if "total" not in merged:
                bad_input("--resource", f"{rc} has no total: add --resource {rc}=TOTAL")
            wanted[rc] = _inventory_dict(dataclasses.asdict(Inventory(**merged)))
        view = placement(api, "PUT", _provider_path(found, "inventories"), {
            "resource_provider_generation": current["resource_provider_generation"],
            "inventories": wanted})
        usages = placement(api, "GET", _provider_path(found, "usages"))["usages"]
    out.done(f"inventory of {found['name']} {'amended' if amend else 'set'}: "
             f"{', '.join(sorted(given))} (generation {view['resource_provider_generation']})")
    out.list(_inventory_rows(view, usages))
