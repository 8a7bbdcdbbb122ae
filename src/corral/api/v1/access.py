"""Who may read and manage which projects of the tree (docs/access.md).

Roles: *admin* (the cloud), *project-admin* (its project and every descendant; manages
the descendants, not its own project, so it cannot raise its own limits), *member*
(boots and deletes in its own project), *reader* (reads its own project). A project
is within a project admin's reach when the admin's project is in its chain (the
project then its ancestors). Every check raises a 403 ``ApiError`` naming what was
missing; nothing is written before a check passes.
"""

from __future__ import annotations

from fastapi import Request

from corral.api.context import RequestContext
from corral.api.v1.common import forbidden, permits


def require_cloud_admin(request: Request, ctx: RequestContext, rule: str) -> None:
    """``rule`` (by default the cloud admin only)."""
    if not permits(request, ctx, rule):
        raise forbidden("needs the admin role")


def require_reader(request: Request, ctx: RequestContext, project_id: str, rule: str) -> None:
    """``rule`` on ``project_id`` (by default ``project_reader``: the cloud admin, a role
    in that project, or a project admin of it or an ancestor)."""
    if not permits(request, ctx, rule, project_id):
        raise forbidden(f"no role in project {project_id}")


def require_project_admin(request: Request, ctx: RequestContext, project_id: str,
                          rule: str) -> None:
    """``rule`` on ``project_id`` (by default ``project_admin``: the cloud admin, or a
    project admin of that project or of an ancestor)."""
    if not permits(request, ctx, rule, project_id):
        raise forbidden(f"needs the project-admin role in project {project_id} or above")


def require_manager(request: Request, ctx: RequestContext, project_id: str, rule: str) -> None:
    """``rule`` on ``project_id`` (by default ``project_manager``: the cloud admin, or a
    project admin of a strict ancestor; never of the project itself, so a project admin
    may not raise its own limits)."""
    if not permits(request, ctx, rule, project_id):
        raise forbidden(f"may not manage project {project_id}")
