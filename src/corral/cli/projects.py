"""``corral project ...``, ``corral limit ...`` and ``corral quota show``: the project
tree, its limits and what is left of them (docs/quotas.md).

Projects are named by their id. Limits are given as ``RESOURCE=N`` (``-1``: unlimited).
A client of ``/v1/projects``, ``/v1/limits`` and ``/v1/projects/{id}/quota-tree``: the
caller may do what its token may, in the server's allocation model (``quota_model``).
A limit set below usage is set, and said on stderr as a warning.
Bad command-line values exit 2 naming the option; refusals by the rules exit 1.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from corral.cli import output
from corral.cli.client import ClientError, quote
from corral.cli.context import bad_input, connect, err, fail, out, print_error
from corral.domain import bounds, errors, quotas

project_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                          help="The project tree: create, list, show, rename, move, delete.")
limit_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                        help="Limits of a project (set, unset, list) and default limits.")
default_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                          help="Default limits: what a project without its own gets.")
limit_app.add_typer(default_app, name="default")
quota_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="Quota usage and headroom.")

LIST_COLUMNS = ("id", "name", "parent_id", "depth", "children")
SHOW_COLUMNS = ("id", "name", "parent_id", "path", "depth", "children", "created_at",
                "updated_at")
LIMIT_COLUMNS = ("resource", "limit", "effective", "source")
DEFAULT_COLUMNS = ("resource", "limit")
QUOTA_COLUMNS = ("resource", "limit", "source", "own", "subtree", "headroom", "binding")

ProjectArg = Annotated[str, typer.Argument(help="Id of the project.")]
LimitArgs = Annotated[list[str], typer.Argument(
    metavar="RESOURCE=N...", help="Limits, e.g. cores=10 ram=4096 CUSTOM_GPU=1 (-1: unlimited).")]


def project_record(p: dict[str, Any]) -> dict[str, Any]:
    """A project of the API, in the CLI's fields."""
    return {name: p.get(name) for name in SHOW_COLUMNS}


def _project(project: str) -> str:
    return f"/v1/projects/{quote(project)}"


def _limits(project: str) -> str:
    return f"/v1/limits/{quote(project)}"


def parse_limits(values: list[str], option: str) -> dict[str, int]:
    """``RESOURCE=N`` pairs, checked as the API checks them; exit 2 naming ``option``."""
    found: dict[str, int] = {}
    for value in values:
        res, sep, raw = value.partition("=")
        number = bounds.integer_text(raw)
        if not sep or not res or number is None:
            shown = value if len(value) <= 40 else f"{value[:30]}... ({len(value)} characters)"
            bad_input(option, f"expected RESOURCE=N like 'cores=10' (-1: unlimited), got {shown!r}")
        if res in found:
            bad_input(option, f"{res} is given more than once")
        try:
            found[quotas.check_resource(res)] = quotas.check_limit(number)
        except errors.InvalidInput as exc:
            bad_input(option, f"{value}: {exc.detail}")
    return found


def _pairs(limits: dict[str, int]) -> str:
    return ", ".join(f"{res}={_amount(limit)}" for res, limit in limits.items())


def warn(warnings: list[dict[str, Any]]) -> None:
    """The server's warnings of limits set below usage, one line each on stderr."""
    for w in warnings:
        line = Text("warning: ", style="bold yellow")
        line.append(f"project {w['project_id']} uses {w['in_use']} {w['resource']}, above "
                    f"its limit of {w['limit']}: nothing running is touched, new claims are "
                    "refused")
        err.print(line)


# -- projects ----------------------------------------------------------------------------------

@project_app.command("create")
def create_project(
    project: ProjectArg,
    name: Annotated[str | None, typer.Option(help="Name for people (free text).")] = None,
    parent: Annotated[str | None, typer.Option(
        "--parent", help="Id of the parent project (default: a new root).")] = None,
    limit: Annotated[list[str] | None, typer.Option(
        "--limit", metavar="RESOURCE=N", help="A limit of its own. Repeatable.")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Create a project."""
    out_ = output.Output(fmt, column, SHOW_COLUMNS)
    limits = parse_limits(limit or [], "--limit")
    with connect() as api:
        created = api.post("/v1/projects", {"id": project, "name": name, "parent_id": parent,
                                            "limits": limits})
    out_.done(f"project {created['id']} created"
              + (f" under {created['parent_id']}" if created["parent_id"] else " (a root)"))
    out_.show(project_record(created))


@project_app.command("list")
def list_projects(
    root: Annotated[str | None, typer.Option(
        "--root", help="List this project and its subtree (default: every root).")] = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", min=0, max=bounds.INT32_MAX,
        help="Levels below the root(s) to list (0: the roots only).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List projects depth first, children by id."""
    out_ = output.Output(fmt, column, LIST_COLUMNS)
    with connect() as api:
        found = api.get("/v1/projects", root=root, depth=depth)["projects"]
    out_.list(project_record(p) for p in found)


@project_app.command("show")
def show_project(
    project: ProjectArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a project: its parent, path from the root, depth and children."""
    out_ = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(_project(project))
    out_.show(project_record(found))


@project_app.command("rename")
def rename_project(
    project: ProjectArg,
    name: Annotated[str | None, typer.Argument(help="New name (leave out to clear it).")
                    ] = None,
) -> None:
    """Rename a project."""
    with connect() as api:
        api.patch(_project(project), {"name": name})
    output.said(f"project {project} renamed to {name!r}" if name is not None
                else f"project {project}: name cleared")


@project_app.command("move")
def move_project(
    project: ProjectArg,
    parent: Annotated[str | None, typer.Option(
        "--parent", help="Id of the new parent.")] = None,
    root: Annotated[bool, typer.Option("--root", help="Make the project a root.")] = False,
) -> None:
    """Move a project (and its subtree) under another parent, or make it a root.

    Refused when it would make a cycle, or when the subtree's usage or limits do not fit
    under the new ancestors.
    """
    if (parent is None) == (not root):
        bad_input("--parent/--root", "give exactly one of them")
    with connect() as api:
        api.patch(_project(project), {"parent_id": parent})
    output.said(f"project {project} moved under {parent}" if parent is not None
                else f"project {project} is now a root")


@project_app.command("delete")
def delete_projects(
    projects: Annotated[list[str], typer.Argument(metavar="PROJECT...",
                                                  help="Ids of the projects.")],
) -> None:
    """Delete projects (refused while one has children, instances, consumers or server
    groups); goes on past a failure, reports each, exits 1 if any failed."""
    failed = 0
    with connect() as api:
        for ref in projects:
            try:
                api.delete(_project(ref))
                output.said(f"project {ref} deleted")
            except ClientError as exc:
                if len(projects) == 1 or exc.exit_code != 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.message}")
    if failed:
        fail(f"failed to delete {failed} of {len(projects)} project(s)")


# -- limits ------------------------------------------------------------------------------------

def limit_rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """``GET /v1/limits/{project}``: one row per resource limited on it or by default."""
    return [{"resource": res, "limit": view["limits"].get(res), "effective": e["limit"],
             "source": e["source"]} for res, e in view["effective"].items()]


@limit_app.command("set")
def set_limits(project: ProjectArg, limits: LimitArgs) -> None:
    """Set limits of a project (merged into those it has)."""
    wanted = parse_limits(limits, "RESOURCE=N...")
    with connect() as api:
        answer = api.put(_limits(project), {"limits": wanted})
    output.said(f"limits of project {project} set: {_pairs(wanted)}")
    warn(answer["warnings"])


@limit_app.command("unset")
def unset_limits(
    project: ProjectArg,
    resources: Annotated[list[str], typer.Argument(metavar="RESOURCE...")],
) -> None:
    """Remove limits of a project: the default (or unlimited) applies again."""
    with connect() as api:
        for res in resources:
            api.delete(f"{_limits(project)}/{quote(res)}")
    output.said(f"limits of project {project} unset: {', '.join(resources)}")


@limit_app.command("list")
def list_limits(
    project: ProjectArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """A project's limits: its own and the effective one (own, default) per resource.
    A resource not listed is unlimited."""
    out_ = output.Output(fmt, column, LIMIT_COLUMNS)
    with connect() as api:
        view = api.get(_limits(project))
    out_.list(limit_rows(view))


@default_app.command("set")
def set_default_limits(limits: LimitArgs) -> None:
    """Set default limits (merged into those set)."""
    wanted = parse_limits(limits, "RESOURCE=N...")
    with connect() as api:
        answer = api.put("/v1/limits/defaults", {"limits": wanted})
    output.said(f"default limits set: {_pairs(wanted)}")
    warn(answer["warnings"])


@default_app.command("unset")
def unset_default_limits(
    resources: Annotated[list[str], typer.Argument(metavar="RESOURCE...")],
) -> None:
    """Remove default limits: projects without their own become unlimited in them."""
    with connect() as api:
        for res in resources:
            api.delete(f"/v1/limits/defaults/{quote(res)}")
    output.said(f"default limits unset: {', '.join(resources)}")


@default_app.command("list")
def list_default_limits(
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """The default limits."""
    out_ = output.Output(fmt, column, DEFAULT_COLUMNS)
    with connect() as api:
        defaults = api.get("/v1/limits/defaults")["limits"]
    out_.list({"resource": res, "limit": limit} for res, limit in defaults.items())


# -- quota show --------------------------------------------------------------------------------

def quota_rows(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """A project's quota (the API's ``resources``), one row per resource."""
    return [{"resource": res, "limit": q["limit"], "source": q["source"], "own": q["own"],
             "subtree": q["subtree"], "headroom": q["headroom"]["room"],
             "binding": q["headroom"]["binding"]} for res, q in resources.items()]


def _amount(limit: int) -> str:
    return "∞" if limit == quotas.UNLIMITED else str(limit)


def node_label(node: dict[str, Any]) -> Text:
    """``id (name)  cores=4/16  ram=512/∞``: subtree usage over the effective limit.

    Each resource is one word, so a narrow terminal wraps between resources, never
    inside one (nor inside a project's id)."""
    label = Text(node["project_id"], style="bold")
    if node["name"]:
        label.append(f" ({node['name']})", style="dim")
    for res, q in node["resources"].items():
        over = q["limit"] != quotas.UNLIMITED and q["subtree"] > q["limit"]
        label.append(f"  {res}=")
        label.append(f"{q['subtree']}/{_amount(q['limit'])}", style="red" if over else "cyan")
    return label


def render_tree(nodes: list[dict[str, Any]]) -> Tree:
    root = Tree(node_label(nodes[0]))
    branches = {nodes[0]["project_id"]: root}
    for node in nodes[1:]:
        parent = branches[node["parent_id"] or ""]
        branches[node["project_id"]] = parent.add(node_label(node))
    return root


@quota_app.command("show")
def show_quota(
    project: ProjectArg,
    depth: Annotated[int | None, typer.Option(
        "--depth", min=0, max=bounds.INT32_MAX,
        help="Levels of the subtree to draw (default: all).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """The project's subtree with usage/limit per resource, then its headroom: the
    smallest room left along its ancestors, naming the one that binds."""
    out_ = output.Output(fmt, column, QUOTA_COLUMNS)
    with connect() as api:
        nodes = api.get(f"{_project(project)}/quota-tree", depth=depth)["projects"]
    if fmt is output.Format.table:
        out.print(render_tree(nodes), soft_wrap=False,
                  width=output.width_of(sys.stdout, 200))
        out.print(Text(f"Headroom of {project} (path {' / '.join(nodes[0]['path'])})",
                       style="bold"))
    out_.list({**row, "limit": row["limit"] if fmt is not output.Format.table
               else _amount(row["limit"]),
               "headroom": row["headroom"] if fmt is not output.Format.table
               else ("∞" if row["headroom"] is None else row["headroom"])}
              for row in quota_rows(nodes[0]["resources"]))
