"""Who may read and manage which projects of the tree (docs/quotas.md, "Access").

Roles: *admin* (the cloud), *project-admin* (its project and every descendant),
*member* (boots and deletes in its own project), *reader* (reads its own project).
Every check raises a 403 ``ApiError`` naming what was missing; nothing is written
before a check passes.
"""

from __future__ import annotations

from fastapi import Request

from corral.api.context import RequestContext
from corral.api.v1.common import forbidden, is_admin


def require_cloud_admin(request: Request, ctx: RequestContext) -> None:
    """The cloud admin only."""
    if not is_admin(request, ctx):
        raise forbidden("needs the admin role")


def require_reader(request: Request, ctx: RequestContext, project_id: str) -> None:
    """May see ``project_id``: the cloud admin, or a role in that project."""
    if is_admin(request, ctx):
        return
    if ctx.project_id != project_id or not ctx.roles:
        raise forbidden(f"no role in project {project_id}")


def require_manager(request: Request, ctx: RequestContext, project_id: str) -> None:
    """May change ``project_id`` (its limits, name, children): the cloud admin only, for
    now; project admins of an ancestor come with tokens."""
    if not is_admin(request, ctx):
        raise forbidden(f"may not manage project {project_id}")

