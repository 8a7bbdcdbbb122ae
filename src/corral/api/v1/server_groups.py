"""/v1/server-groups: server groups of a project.

A member of a project creates and deletes groups in it; readers list and show them;
admins act on any project (``project_id`` in the body or the query). Another
project's group is a 404 to non-admins. ``members`` is empty until instances land.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, StrictStr

from corral.api.v1.access import require_cloud_admin
from corral.api.v1.common import (
    READ_ROLES,
    WRITE_ROLES,
    Body,
    Caller,
    location,
    owner_scope,
    project_scope,
    store_of,
    timestamp,
)
from corral.api.v1.types import Amount
from corral.domain import errors
from corral.domain import flavors as rules
from corral.domain.flavors import ServerGroup
from corral.services import server_groups as svc

router = APIRouter(tags=["server_groups"])

class Rules(Body):
    max_server_per_host: Amount


class ServerGroupCreate(Body):
    name: StrictStr
    policy: StrictStr
    rules: Rules | None = None
    project_id: StrictStr | None = None
    user_id: StrictStr | None = Field(default=None, description="Admins only (as for a "
                                      "boot): the user recorded as its creator.")


def group_body(g: ServerGroup) -> dict[str, Any]:
    rules = {} if g.max_server_per_host is None else {"max_server_per_host": g.max_server_per_host}
    return {"id": g.id, "name": g.name, "policy": g.policy, "rules": rules,
            "project_id": g.project_id, "user_id": g.user_id, "members": list(g.members),
            "created_at": timestamp(g.created_at)}


@router.post("/server-groups", status_code=201)
def create_server_group(request: Request, response: Response, body: ServerGroupCreate,
                        ctx: Caller) -> dict[str, Any]:
    """Create a group in the caller's project (an admin may name another project)."""
    project = project_scope(request, ctx, WRITE_ROLES, body.project_id,
                            "corral:server_groups:create")
    max_per_host = body.rules.max_server_per_host if body.rules else None
    rules.check_server_group(body.name, body.policy, max_per_host)  # the body first
    if project is None:  # an admin says which project, as for a boot
        raise errors.InvalidInput("project_id is required when an admin creates a server "
                                  "group: name the project it belongs to", field="project_id")
    if body.user_id is not None and body.user_id != ctx.user_id:
        require_cloud_admin(request, ctx, "corral:server_groups:create:other_user")
    created = svc.create_server_group(
        store_of(request), name=body.name, policy=body.policy, project_id=project,
        user_id=body.user_id or ctx.user_id, max_server_per_host=max_per_host)
    response.headers["location"] = location(request, "server-groups", created.id)
    return group_body(created)


@router.get("/server-groups")
def list_server_groups(
    request: Request, ctx: Caller,
    project_id: Annotated[str | None, Query(
        description="Admins: only this project's groups (default: every project's).")] = None,
) -> dict[str, Any]:
    """The caller's project's groups; an admin's: every project's, or ``project_id``'s."""
    project = project_scope(request, ctx, READ_ROLES, project_id, "corral:server_groups:list")
    return {"server_groups": [group_body(g) for g in
                              svc.list_server_groups(store_of(request), project_id=project)]}


@router.get("/server-groups/{group_id}")
def show_server_group(request: Request, group_id: str, ctx: Caller) -> dict[str, Any]:
    """One group, by id or (unique among the groups the caller sees) name."""
    project = owner_scope(request, ctx, READ_ROLES,
                          lambda: svc.owner_of(store_of(request), group_id) or str(ctx.project_id),
                          "corral:server_groups:show")
    return group_body(svc.get_server_group(store_of(request), group_id, project_id=project))


@router.delete("/server-groups/{group_id}", status_code=204)
def delete_server_group(request: Request, group_id: str, ctx: Caller) -> None:
    project = owner_scope(request, ctx, WRITE_ROLES,
                          lambda: svc.owner_of(store_of(request), group_id) or str(ctx.project_id),
                          "corral:server_groups:delete")
    svc.delete_server_group(store_of(request), group_id, project_id=project)
