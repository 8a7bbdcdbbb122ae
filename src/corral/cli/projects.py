"""``corral project ...``, ``corral limit ...`` and ``corral quota show``: the project
tree, its limits and what is left of them (docs/quotas.md).

Projects are named by their id. Limits are given as ``RESOURCE=N`` (``-1``: unlimited).
The CLI acts as the cloud admin, in the allocation model of the configuration
(``quota_model``). A limit set below usage is set, and said on stderr as a warning.
Bad command-line values exit 2 naming the option; refusals by the rules exit 1.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from corral.cli import output
from corral.cli.context import (
    bad_input,
    err,
    fail,
    fleet_settings,
    open_services,
    out,
    print_error,
)
from corral.domain import bounds, errors, quotas
from corral.domain.projects import LimitWarning, Model, Project, ResourceQuota
from corral.services import limits as limits_svc
from corral.services import projects as svc
from corral.services.audit_log import local_actor
from corral.services.stores import Store

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


def model(store: Store) -> Model:
    """The quota model of the fleet (the one 'corral serve' published)."""
    return fleet_settings(store).quota_model


def _stamp(p: Project, which: str) -> str | None:
    value = getattr(p, which)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def project_record(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "parent_id": p.parent_id, "path": list(p.path),
            "depth": p.depth, "children": list(p.children),
            "created_at": _stamp(p, "created_at"), "updated_at": _stamp(p, "updated_at")}


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


def warn(warnings: list[LimitWarning]) -> None:
    for w in warnings:
        line = Text("warning: ", style="bold yellow")
        line.append(f"project {w.project_id} uses {w.in_use} {w.resource}, above its limit "
                    f"of {w.limit}: nothing running is touched, new claims are refused")
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
    with open_services() as store:
        created = svc.create_project(store, project, actor=local_actor("corral project create"),
                                     name=name, parent_id=parent,
                                     limits=limits, model=model(store))
    out_.done(f"project {created.id} created"
              + (f" under {created.parent_id}" if created.parent_id else " (a root)"))
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
    with open_services() as store:
        found = svc.list_projects(store, root=root, depth=depth)
    out_.list(project_record(p) for p in found)


@project_app.command("show")
def show_project(
    project: ProjectArg,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a project: its parent, path from the root, depth and children."""
    out_ = output.Output(fmt, column, SHOW_COLUMNS)
    with open_services() as store:
        found = svc.get_project(store, project)
    out_.show(project_record(found))


@project_app.command("rename")
def rename_project(
    project: ProjectArg,
    name: Annotated[str | None, typer.Argument(help="New name (leave out to clear it).")
                    ] = None,
) -> None:
    """Rename a project."""
    with open_services() as store:
        svc.update_project(store, project, name=name, model=model(store),
                           actor=local_actor("corral project rename"))
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
    with open_services() as store:
        svc.update_project(store, project, parent_id=parent, model=model(store),
                           actor=local_actor("corral project move"))
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
    with open_services() as store:
        for ref in projects:
            try:
                svc.delete_project(store, ref, actor=local_actor("corral project delete"))
                output.said(f"project {ref} deleted")
            except errors.CorralError as exc:
                if len(projects) == 1:
                    raise
                failed += 1
                print_error(f"{ref}: {exc.detail}")
    if failed:
        fail(f"failed to delete {failed} of {len(projects)} project(s)")


# -- limits ------------------------------------------------------------------------------------

def limit_rows(view: limits_svc.ProjectLimits) -> list[dict[str, Any]]:
    return [{"resource": res, "limit": view.limits.get(res), "effective": limit,
             "source": source} for res, (limit, source) in view.effective.items()]


@limit_app.command("set")
def set_limits(project: ProjectArg, limits: LimitArgs) -> None:
    """Set limits of a project (merged into those it has)."""
    wanted = parse_limits(limits, "RESOURCE=N...")
    with open_services() as store:
        _view, warnings = limits_svc.set_limits(store, project, wanted, model=model(store),
                                                  actor=local_actor("corral limits set"))
    output.said(f"limits of project {project} set: {_pairs(wanted)}")
    warn(warnings)


@limit_app.command("unset")
def unset_limits(
    project: ProjectArg,
    resources: Annotated[list[str], typer.Argument(metavar="RESOURCE...")],
) -> None:
    """Remove limits of a project: the default (or unlimited) applies again."""
    with open_services() as store:
        for res in resources:
            _view, warnings = limits_svc.unset_limit(
                store, project, res, model=model(store),
                actor=local_actor("corral limits unset"))
            warn(warnings)
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
    with open_services() as store:
        view = limits_svc.get_limits(store, project)
    out_.list(limit_rows(view))


@default_app.command("set")
def set_default_limits(limits: LimitArgs) -> None:
    """Set default limits (merged into those set)."""
    wanted = parse_limits(limits, "RESOURCE=N...")
    with open_services() as store:
        _defaults, warnings = limits_svc.set_default_limits(
            store, wanted, model=model(store), actor=local_actor("corral limits defaults set"))
    output.said(f"default limits set: {_pairs(wanted)}")
    warn(warnings)


@default_app.command("unset")
def unset_default_limits(
    resources: Annotated[list[str], typer.Argument(metavar="RESOURCE...")],
) -> None:
    """Remove default limits: projects without their own become unlimited in them."""
    with open_services() as store:
        for res in resources:
            limits_svc.unset_default_limit(
                store, res, model=model(store),
                actor=local_actor("corral limits defaults unset"))
    output.said(f"default limits unset: {', '.join(resources)}")


@default_app.command("list")
def list_default_limits(
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """The default limits."""
    out_ = output.Output(fmt, column, DEFAULT_COLUMNS)
    with open_services() as store:
        defaults = limits_svc.get_default_limits(store)
    out_.list({"resource": res, "limit": limit} for res, limit in defaults.items())


# -- quota show --------------------------------------------------------------------------------

def quota_rows(resources: list[ResourceQuota]) -> list[dict[str, Any]]:
    return [{"resource": q.resource, "limit": q.limit, "source": q.source, "own": q.own,
             "subtree": q.subtree, "headroom": q.headroom.room,
             "binding": q.headroom.binding} for q in resources]


def _amount(limit: int) -> str:
    return "∞" if limit == quotas.UNLIMITED else str(limit)


def node_label(node: limits_svc.QuotaNode) -> Text:
    """``id (name)  cores=4/16  ram=512/∞``: subtree usage over the effective limit.

    Each resource is one word, so a narrow terminal wraps between resources, never
    inside one (nor inside a project's id)."""
    p = node.project
    label = Text(p.id, style="bold")
    if p.name:
        label.append(f" ({p.name})", style="dim")
    for q in node.resources:
        over = q.limit != quotas.UNLIMITED and q.subtree > q.limit
        label.append(f"  {q.resource}=")
        label.append(f"{q.subtree}/{_amount(q.limit)}", style="red" if over else "cyan")
    return label


def render_tree(nodes: list[limits_svc.QuotaNode]) -> Tree:
    root = Tree(node_label(nodes[0]))
    branches = {nodes[0].project.id: root}
    for node in nodes[1:]:
        parent = branches[node.project.parent_id or ""]
        branches[node.project.id] = parent.add(node_label(node))
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
    with open_services() as store:
        nodes = limits_svc.quota_tree(store, project, depth=depth)
    if fmt is output.Format.table:
        out.print(render_tree(nodes), soft_wrap=False,
                  width=output.width_of(sys.stdout, 200))
        out.print(Text(f"Headroom of {project} (path {' / '.join(nodes[0].project.path)})",
                       style="bold"))
    out_.list({**row, "limit": row["limit"] if fmt is not output.Format.table
               else _amount(row["limit"]),
               "headroom": row["headroom"] if fmt is not output.Format.table
               else ("∞" if row["headroom"] is None else row["headroom"])}
              for row in quota_rows(nodes[0].resources))
