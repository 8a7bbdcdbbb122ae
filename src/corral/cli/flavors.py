"""``corral flavor ...``: flavors, their properties (extra specs) and access lists.

The grammar follows OpenStackClient's ``openstack flavor ...``: ``--ram``/``--disk``/
``--swap``, ``--private``, ``--property KEY=VALUE``, ``flavor access add|remove|list``
(OSC's ``flavor set --project``). A flavor is named by id or by name. The CLI acts as
the operator: it sees every flavor. Bad command-line values exit 2 naming the option;
refusals by the rules (a duplicate name, a bad extra spec) exit 1 with one line.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import ClientError, quote
from corral.cli.context import bad_input, connect, fail, print_error
from corral.domain import errors
from corral.domain import flavors as rules
from corral.domain.flavors import MAX_INT

flavor_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Flavors: create, list, show, set, delete; access lists.")
access_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Projects a private flavor is shared with: add, remove, list.")
flavor_app.add_typer(access_app, name="access")

LIST_COLUMNS = ("id", "name", "vcpus", "ram_mb", "disk_gb", "ephemeral_gb", "swap_mb",
                "is_public")
SHOW_COLUMNS = (*LIST_COLUMNS, "description", "properties", "access_project_ids", "placement",
                "created_at", "updated_at")
ACCESS_COLUMNS = ("flavor_id", "project_id")

FlavorArg = Annotated[str, typer.Argument(help="Id or name of the flavor.")]


def flavor_row(f: dict[str, Any]) -> dict[str, Any]:
    """A flavor of the API (/v1/flavors), in the listing's columns."""
    return {name: f[name] for name in LIST_COLUMNS}


def placement_summary(p: dict[str, Any]) -> dict[str, Any]:
    """What the flavor asks of Placement (the API's ``placement``), keyed as
    ``GET /allocation_candidates`` takes it."""
    summary: dict[str, Any] = {"resources": p["resources"]}
    traits = p["required_traits"] + [f"!{t}" for t in p["forbidden_traits"]]
    if traits:
        summary["required"] = traits
    for g in p["groups"]:
        summary[f"resources{g['suffix']}"] = g["resources"]
        group_traits = g["required_traits"] + [f"!{t}" for t in g["forbidden_traits"]]
        if group_traits:
            summary[f"required{g['suffix']}"] = group_traits
    if p["group_policy"]:
        summary["group_policy"] = p["group_policy"]
    if p["aggregate_extra_specs"]:
        summary["aggregate_extra_specs"] = p["aggregate_extra_specs"]
    return summary


def show_record(f: dict[str, Any], projects: list[str] | None) -> dict[str, Any]:
    return {**flavor_row(f), "description": f["description"], "properties": f["extra_specs"],
            "access_project_ids": projects, "placement": placement_summary(f["placement"]),
            "created_at": f["created_at"], "updated_at": f["updated_at"]}


def _path(flavor: str, *rest: str) -> str:
    return "/".join(("/v1/flavors", quote(flavor), *(quote(r) for r in rest)))


def parse_properties(values: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (the value may contain '='); a key given twice is refused."""
    found: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            bad_input("--property", f"expected KEY=VALUE like 'hw:cpu_policy=dedicated', "
                                    f"got {value!r}")
        if key in found:
            bad_input("--property", f"{key} is given more than once")
        found[key] = raw
    return found


def _spec_refusal(exc: ClientError) -> None:
    """An extra spec the server refuses came from --property: exit 2, naming the option."""
    body = exc.body if isinstance(exc.body, dict) else {}
    field = (body.get("error") or {}).get("field") or ""
    if exc.status == 400 and field.startswith("extra_specs."):
        bad_input("--property", exc.message)


# -- commands ------------------------------------------------------------------------------


@flavor_app.command("create")
def create_flavor(
    name: Annotated[str, typer.Argument(help="Name of the new flavor (unique).")],
    vcpus: Annotated[int, typer.Option("--vcpus", min=1, max=MAX_INT,
                                       help="Number of virtual CPUs.")],
    ram: Annotated[int, typer.Option("--ram", min=1, max=MAX_INT, help="Memory in MB.")],
    disk: Annotated[int, typer.Option("--disk", min=0, max=MAX_INT,
                                      help="Root disk in GB (default 0).")] = 0,
    ephemeral: Annotated[int, typer.Option("--ephemeral", min=0, max=MAX_INT,
                                           help="Ephemeral disk in GB (default 0).")] = 0,
    swap: Annotated[int, typer.Option("--swap", min=0, max=MAX_INT,
                                      help="Swap in MB (default 0).")] = 0,
    private: Annotated[bool, typer.Option(
        "--private", help="Only projects given access may use it (see 'flavor access add').")
    ] = False,
    flavor_id: Annotated[str | None, typer.Option(
        "--id", help="Flavor id (free-form; default: a new UUID).")] = None,
    prop: Annotated[list[str] | None, typer.Option(
        "--property", metavar="KEY=VALUE",
        help="An extra spec, e.g. 'resources:CUSTOM_GPU=1', 'trait:HW_CPU_X86_AVX2=required', "
             "'hw:cpu_policy=dedicated'. Repeatable.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text, up to 255 characters.")
                           ] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Create a flavor."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    specs = parse_properties(prop or [])
    try:
        rules.check_flavor_name(name)
        if flavor_id is not None:
            rules.check_flavor_id(flavor_id)
        rules.check_description(description)
    except errors.InvalidInput as exc:
        option = {"name": "NAME", "id": "--id", "description": "--description"}
        bad_input(option.get(exc.field or "", "NAME"), exc.detail)
    with connect() as api:
        try:
            created = api.post("/v1/flavors", {
                "name": name, "id": flavor_id, "vcpus": vcpus, "ram_mb": ram, "disk_gb": disk,
                "ephemeral_gb": ephemeral, "swap_mb": swap, "is_public": not private,
                "description": description, "extra_specs": specs})
        except ClientError as exc:
            _spec_refusal(exc)
            raise
    out.done(f"flavor {created['name']} created ({created['id']}): {created['vcpus']} vCPUs, "
             f"{created['ram_mb']} MB RAM, {created['disk_gb']} GB disk"
             + ("" if created["is_public"] else ", private"))
    out.show(show_record(created, None if created["is_public"] else []))


@flavor_app.command("list")
def list_flavors(
    public: Annotated[bool, typer.Option("--public", help="Public flavors only (default).")
                      ] = False,
    private: Annotated[bool, typer.Option("--private", help="Private flavors only.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Public and private flavors.")] = False,
    min_vcpus: Annotated[int, typer.Option("--min-vcpus", min=0, max=MAX_INT,
                                           help="At least this many vcpus.")] = 0,
    min_ram: Annotated[int, typer.Option("--min-ram", min=0, max=MAX_INT,
                                         help="At least this much RAM, in MB.")] = 0,
    long: Annotated[bool, typer.Option("--long", help="Add description and properties.")
                    ] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List flavors by name (public ones unless --private or --all, as OSC)."""
    columns = (*LIST_COLUMNS, "description", "properties") if long else LIST_COLUMNS
    out = output.Output(fmt, column, columns, narrow=(
        "properties", "description", "ephemeral_gb", "swap_mb", "id", "is_public", "disk_gb"))
    if public + private + all_ > 1:
        bad_input("--public/--private/--all", "give at most one of them")
    is_public = None if all_ else (not private)
    with connect() as api:
        found = api.get("/v1/flavors", min_vcpus=min_vcpus, min_ram_mb=min_ram,
                        is_public=None if is_public is None else str(is_public).lower())
    out.list({**flavor_row(f), "description": f["description"], "properties": f["extra_specs"]}
             for f in found["flavors"])


@flavor_app.command("show")
def show_flavor(
    flavor: FlavorArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a flavor: sizes, properties, access list and what it asks of Placement."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(_path(flavor))
        projects = (None if found["is_public"]
                    else api.get(_path(found["id"], "access"))["projects"])
    out.show(show_record(found, projects))


@flavor_app.command("set")
def set_flavor(
    flavor: FlavorArg,
    prop: Annotated[list[str] | None, typer.Option(
        "--property", metavar="KEY=VALUE", help="Add or change an extra spec. Repeatable.")
    ] = None,
    unset: Annotated[list[str] | None, typer.Option(
        "--unset-property", metavar="KEY", help="Remove an extra spec. Repeatable.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
) -> None:
    """Change a flavor's properties or description (sizes are fixed once created).

    Properties are set and unset together, in one change checked as a whole.
    """
    changes: dict[str, str | None] = dict(parse_properties(prop or []))
    for key in unset or []:
        if key in changes:
            bad_input("--unset-property", f"{key} is also given with --property")
        changes[key] = None
    if not changes and description is None:
        bad_input("--property", "nothing to change: give --property, --unset-property or "
                                "--description")
    try:
        rules.check_description(description)
    except errors.InvalidInput as exc:
        bad_input("--description", exc.detail)
    with connect() as api:
        found = api.get(_path(flavor))
        if changes:
            missing = [k for k in unset or [] if k not in found["extra_specs"]]
            if missing:
                fail(errors.ExtraSpecNotFound(found["id"], missing[0]).detail)
            try:
                api.put(_path(found["id"], "extra-specs"), {"extra_specs": changes})
            except ClientError as exc:
                _spec_refusal(exc)
                raise
        if description is not None:
            api.patch(_path(found["id"]), {"description": description})
    what = [f"{k}={v}" for k, v in changes.items() if v is not None]
    what += [f"{k} removed" for k, v in changes.items() if v is None]
    if description is not None:
        what.append("description set")
    output.said(f"flavor {found['name']}: {', '.join(what)}")


@flavor_app.command("delete")
def delete_flavors(
    flavors: Annotated[list[str], typer.Argument(metavar="FLAVOR...",
                                                 help="Ids or names of the flavors.")],
) -> None:
    """Delete flavors; goes on past a failure, reports each, exits 1 if any failed."""
    failed = 0
    with connect() as api:
        for ref in flavors:
            try:
                api.delete(_path(ref))
                output.said(f"flavor {ref} deleted")
            except ClientError as exc:
                if len(flavors) == 1 or exc.exit_code != 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.message}")
    if failed:
        fail(f"failed to delete {failed} of {len(flavors)} flavor(s)")


# -- access ----------------------------------------------------------------------------------

ProjectArg = Annotated[str, typer.Argument(help="Project id.")]


def _access_rows(access: dict[str, Any]) -> list[dict[str, str]]:
    return [{"flavor_id": access["flavor_id"], "project_id": p} for p in access["projects"]]


@access_app.command("list")
def list_access(
    flavor: FlavorArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Projects a private flavor is shared with."""
    out = output.Output(fmt, column, ACCESS_COLUMNS)
    with connect() as api:
        access = api.get(_path(flavor, "access"))
    out.list(_access_rows(access))


@access_app.command("add")
def add_access(flavor: FlavorArg, project: ProjectArg) -> None:
    """Share a private flavor with a project."""
    with connect() as api:
        api.post(_path(flavor, "access"), {"project_id": project})
    output.said(f"flavor {flavor} shared with project {project}")


@access_app.command("remove")
def remove_access(flavor: FlavorArg, project: ProjectArg) -> None:
    """Stop sharing a private flavor with a project."""
    with connect() as api:
        api.delete(_path(flavor, "access", project))
    output.said(f"flavor {flavor} no longer shared with project {project}")
