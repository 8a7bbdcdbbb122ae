"""/v1/projects and /v1/limits: the project tree, its limits, and a project's quota.

A project's ``id`` is its free-form external id (a Keystone project id, or any string
without '/'). Reading a project needs a role in it (or the cloud admin); changing one, or
its limits, needs :func:`~corral.api.v1.access.require_manager` on it; a new child or a
move needs that on the new parent too (the cloud admin alone makes roots). Default
limits are read by any caller and written by the cloud admin. The allocation model
(``overbook`` or ``strict``) is the ``quota_model`` setting.

``/v1/limits/defaults`` is the default limits, which is why no project may be called
``defaults``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import StrictStr

from corral.api.context import RequestContext
from corral.api.errors import ApiError
from corral.api.v1 import access
from corral.api.v1.common import (
    Body,
    Caller,
    acting,
    is_admin,
    location,
    settings_of,
    store_of,
    timestamp,
)
from corral.api.v1.types import QueryCountOrNone, QuotaLimit
from corral.domain.projects import LimitWarning, Model, Project, ResourceQuota
from corral.services import limits as limits_svc
from corral.services import projects as svc

router = APIRouter(tags=["projects"])


class ProjectCreate(Body):
    id: StrictStr
    name: StrictStr | None = None
    parent_id: StrictStr | None = None
    limits: dict[str, QuotaLimit] = {}


class ProjectUpdate(Body):
    """Give ``name`` (null clears it) and/or ``parent_id`` (null makes a root)."""

    name: StrictStr | None = None
    parent_id: StrictStr | None = None


class LimitsUpdate(Body):
    """Limits to set, merged into those already set: resource -> limit (-1 unlimited)."""

    limits: dict[str, QuotaLimit]


def model_of(request: Request) -> Model:
    return settings_of(request).quota_model


def project_body(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "parent_id": p.parent_id, "path": list(p.path),
            "depth": p.depth, "children": list(p.children),
            "created_at": timestamp(p.created_at), "updated_at": timestamp(p.updated_at)}


def warnings_body(warnings: list[LimitWarning]) -> list[dict[str, Any]]:
    return [{"project_id": w.project_id, "resource": w.resource, "limit": w.limit,
             "in_use": w.in_use} for w in warnings]


def limits_body(view: limits_svc.ProjectLimits) -> dict[str, Any]:
    return {"project_id": view.project_id, "limits": view.limits,
            "effective": {res: {"limit": limit, "source": source}
                          for res, (limit, source) in view.effective.items()}}


def quota_body(p: Project, resources: list[ResourceQuota], model: str) -> dict[str, Any]:
    return {"project_id": p.id, "path": list(p.path), "quota_model": model,
            "resources": {q.resource: {
                "limit": q.limit, "source": q.source, "own": q.own, "subtree": q.subtree,
                "headroom": {"room": q.headroom.room, "binding": q.headroom.binding}}
                for q in resources}}


def named(request: Request, ctx: RequestContext, ref: str, field: str | None = None) -> str:
    """The project ``ref`` is the id or the (unique) name of: among every project for
    the cloud admin, else among the caller's project and its descendants."""
    within = None if is_admin(request, ctx) else (ctx.project_id or "")
    return svc.resolve_project(store_of(request), ref, within=within, field=field)


def _may_place_under(request: Request, ctx: RequestContext, parent_id: str | None) -> None:
    if parent_id is None:
        access.require_cloud_admin(request, ctx, "corral:projects:create_root")
    else:
        access.require_manager(request, ctx, parent_id, "corral:projects:create")


# -- projects ------------------------------------------------------------------------------

@router.post("/projects", status_code=201)
def create_project(request: Request, response: Response, body: ProjectCreate,
                   ctx: Caller) -> dict[str, Any]:
    """Create a project: a root (cloud admin) or a child of ``parent_id``, optionally
    with limits of its own. 409 if the id is taken; 400 naming ``parent_id`` if the
    parent does not exist."""
    parent = None if body.parent_id is None else named(request, ctx, body.parent_id,
                                                          "parent_id")
    _may_place_under(request, ctx, parent)
    created = svc.create_project(store_of(request), body.id, name=body.name,
                                 parent_id=parent, limits=body.limits,
                                 model=model_of(request), actor=acting(request, ctx))
    response.headers["location"] = location(request, "projects", created.id)
    return project_body(created)


@router.get("/projects")
def list_projects(
    request: Request, ctx: Caller,
    root: Annotated[str | None, Query(
        description="List this project and its subtree (default: every root).")] = None,
    depth: Annotated[QueryCountOrNone, Query(
        description="Levels below the root(s) to include (0: the root(s) only).")
    ] = None,
) -> dict[str, Any]:
    """Projects depth first, children by id, each with its depth and path."""
    if root is None:
        access.require_cloud_admin(request, ctx, "corral:projects:list_all")
    else:
        root = named(request, ctx, root, "root")
        access.require_reader(request, ctx, root, "corral:projects:list")
    return {"projects": [project_body(p) for p in
                         svc.list_projects(store_of(request), root=root, depth=depth)]}


@router.get("/projects/{project_id}")
def show_project(request: Request, project_id: str, ctx: Caller) -> dict[str, Any]:
    project_id = named(request, ctx, project_id)
    access.require_reader(request, ctx, project_id, "corral:projects:show")
    return project_body(svc.get_project(store_of(request), project_id))


@router.patch("/projects/{project_id}")
def update_project(request: Request, project_id: str, body: ProjectUpdate,
                   ctx: Caller) -> dict[str, Any]:
    """Rename and/or move. A move is refused (409) when it would make a cycle, or when
    the subtree's usage or limits do not fit under the new ancestors."""
    given = body.model_fields_set
    if not given:
        raise ApiError(400, "nothing to change: give name and/or parent_id",
                       code="invalid_input")
    project_id = named(request, ctx, project_id)
    access.require_manager(request, ctx, project_id, "corral:projects:update")
    parent = None if body.parent_id is None else named(request, ctx, body.parent_id,
                                                          "parent_id")
    if "parent_id" in given:
        _may_place_under(request, ctx, parent)
    updated = svc.update_project(
        store_of(request), project_id, model=model_of(request), actor=acting(request, ctx),
        name=body.name if "name" in given else svc.KEEP,
        parent_id=parent if "parent_id" in given else svc.KEEP)
    return project_body(updated)


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(request: Request, project_id: str, ctx: Caller) -> None:
    """409 while the project has children, live instances, consumers or server groups."""
    project_id = named(request, ctx, project_id)
    access.require_manager(request, ctx, project_id, "corral:projects:delete")
    svc.delete_project(store_of(request), project_id, actor=acting(request, ctx))


@router.get("/projects/{project_id}/quota")
def show_project_quota(request: Request, project_id: str, ctx: Caller) -> dict[str, Any]:
    """Per resource: effective limit, own and subtree usage, and the headroom (the
    smallest room left along the project's chain, naming the project that binds; a
    null room is unlimited)."""
    project_id = named(request, ctx, project_id)
    access.require_reader(request, ctx, project_id, "corral:projects:quota")
    project, resources = limits_svc.quota_of(store_of(request), project_id)
    return quota_body(project, resources, model_of(request))


@router.get("/projects/{project_id}/quota-tree")
def show_project_quota_tree(
    request: Request, project_id: str, ctx: Caller,
    depth: Annotated[QueryCountOrNone, Query(
        description="Levels of the subtree to include (default: all).")] = None,
) -> dict[str, Any]:
    """The quota of the project and of every project below it, depth first (what
    ``corral quota show`` draws): each as ``GET /v1/projects/{id}/quota`` answers."""
    project_id = named(request, ctx, project_id)
    access.require_reader(request, ctx, project_id, "corral:projects:quota")
    nodes = limits_svc.quota_tree(store_of(request), project_id, depth=depth)
    model = model_of(request)
    return {"projects": [{**quota_body(n.project, n.resources, model), "name": n.project.name,
                          "parent_id": n.project.parent_id} for n in nodes]}


# -- default limits (before /limits/{project_id}, which would take "defaults") --------------

@router.get("/limits/defaults")
def get_default_limits(request: Request, _ctx: Caller) -> dict[str, Any]:
    return {"limits": limits_svc.get_default_limits(store_of(request))}


@router.put("/limits/defaults")
def set_default_limits(request: Request, body: LimitsUpdate, ctx: Caller) -> dict[str, Any]:
    """Merge default limits. ``warnings``: projects relying on a default now below
    their usage."""
    access.require_cloud_admin(request, ctx, "corral:limits:defaults:update")
    defaults, warnings = limits_svc.set_default_limits(store_of(request), body.limits,
                                                       model=model_of(request),
                                                       actor=acting(request, ctx))
    return {"limits": defaults, "warnings": warnings_body(warnings)}


@router.delete("/limits/defaults/{resource}", status_code=204)
def unset_default_limit(request: Request, resource: str, ctx: Caller) -> None:
    access.require_cloud_admin(request, ctx, "corral:limits:defaults:delete")
    limits_svc.unset_default_limit(store_of(request), resource, model=model_of(request),
                                   actor=acting(request, ctx))


# -- per-project limits ---------------------------------------------------------------------

@router.get("/limits/{project_id}")
def get_limits(request: Request, project_id: str, ctx: Caller) -> dict[str, Any]:
    """The project's own limits, and the effective limit of every resource limited on it
    or by default (a resource not listed is unlimited)."""
    project_id = named(request, ctx, project_id)
    access.require_reader(request, ctx, project_id, "corral:limits:show")
    return limits_body(limits_svc.get_limits(store_of(request), project_id))


@router.put("/limits/{project_id}")
def set_limits(request: Request, project_id: str, body: LimitsUpdate,
               ctx: Caller) -> dict[str, Any]:
    """Merge limits into the project's. 400 naming both projects when the allocation
    model refuses one; a limit below usage is set and reported in ``warnings``."""
    project_id = named(request, ctx, project_id)
    access.require_manager(request, ctx, project_id, "corral:limits:update")
    view, warnings = limits_svc.set_limits(store_of(request), project_id, body.limits,
                                           model=model_of(request), actor=acting(request, ctx))
    return {**limits_body(view), "warnings": warnings_body(warnings)}


@router.delete("/limits/{project_id}/{resource}", status_code=204)
def unset_limit(request: Request, project_id: str, resource: str, ctx: Caller) -> None:
    """The default (or unlimited) applies again."""
    project_id = named(request, ctx, project_id)
    access.require_manager(request, ctx, project_id, "corral:limits:delete")
    limits_svc.unset_limit(store_of(request), project_id, resource, model=model_of(request),
                           actor=acting(request, ctx))
