"""/v1/tokens: API tokens scoped to a project with a role (docs/access.md).

The cloud admin creates, lists and revokes any token. A project admin does the same
within its subtree (its project and every descendant), for the roles project-admin,
member and reader, never admin. Members and readers manage no tokens. The secret is
in the creation answer only; a token outside the caller's reach is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, StrictStr

from corral.api.context import RequestContext
from corral.api.v1.access import require_project_admin
from corral.api.v1.common import (
    Body,
    Caller,
    acting,
    authenticator_of,
    forbidden,
    is_admin,
    location,
    store_of,
    timestamp,
)
from corral.api.v1.types import ExpiresInDaysOrNone
from corral.domain import tokens as rules
from corral.domain.tokens import ApiToken
from corral.services import projects as project_svc
from corral.services import tokens as svc

router = APIRouter(tags=["tokens"])


class TokenCreate(Body):
    role: StrictStr = Field(description="admin, project-admin, member or reader.")
    project_id: StrictStr | None = Field(
        default=None, description="The project the token acts in (default: the "
        "caller's; none for a cloud admin token).")
    user_id: StrictStr | None = Field(default=None, description="Default: the name.")
    name: StrictStr | None = Field(default=None, description="Default: PROJECT-ROLE.")
    expires_in_days: ExpiresInDaysOrNone = Field(default=None, description="Default: never.")


def token_body(tok: ApiToken) -> dict[str, Any]:
    return {"id": tok.uuid, "name": tok.name, "project_id": tok.project_id,
            "user_id": tok.user_id, "role": tok.role, "state": svc.state_of(tok),
            "created_at": timestamp(tok.created_at), "expires_at": timestamp(tok.expires_at),
            "revoked_at": timestamp(tok.revoked_at)}


def _within(request: Request, ctx: RequestContext) -> str | None:
    """The subtree the caller manages tokens in: None (all) for the cloud admin."""
    if is_admin(request, ctx):
        return None
    if ctx.project_id is None or "project-admin" not in ctx.roles:
        raise forbidden("needs the admin or project-admin role")
    return ctx.project_id


@router.post("/tokens", status_code=201)
def create_token(request: Request, response: Response, body: TokenCreate,
                 ctx: Caller) -> dict[str, Any]:
    """Create a token; the answer's ``secret`` is shown this once and never again."""
    within = _within(request, ctx)
    project = body.project_id
    if project is not None:  # by id or name (a project's caller: in its subtree)
        project = project_svc.resolve_project(store_of(request), project, within=within,
                                              field="project_id")
    if within is not None:
        if body.role not in rules.DELEGABLE:
            raise forbidden(f"a project admin may not create {body.role} tokens")
        project = project or within
        require_project_admin(request, ctx, project)
    created = svc.create_token(store_of(request), role=body.role, project_id=project,
                               user_id=body.user_id, name=body.name,
                               expires_in_days=body.expires_in_days,
                               actor=acting(request, ctx))
    response.headers["location"] = location(request, "tokens", created.token.uuid)
    return {**token_body(created.token), "secret": created.secret}


@router.get("/tokens")
def list_tokens(
    request: Request, ctx: Caller,
    project_id: Annotated[str | None, Query(description="Only this project's.")] = None,
) -> dict[str, Any]:
    """Tokens (never their secrets): every one for the cloud admin, the subtree's for a
    project admin (403 for a ``project_id`` outside it)."""
    within = _within(request, ctx)
    if within is not None and project_id is not None:
        require_project_admin(request, ctx, project_id)
    return {"tokens": [token_body(t) for t in svc.list_tokens(
        store_of(request), within=within, project_id=project_id)]}


@router.get("/tokens/{token_id}")
def show_token(request: Request, token_id: str, ctx: Caller) -> dict[str, Any]:
    return token_body(svc.get_token(store_of(request), token_id,
                                    within=_within(request, ctx)))


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(request: Request, token_id: str, ctx: Caller) -> None:
    """Revoke a token: refused at once by this process, by others within seconds."""
    svc.revoke_token(store_of(request), token_id, within=_within(request, ctx),
                     actor=acting(request, ctx))
    tokens = authenticator_of(request)
    if tokens is not None:
        tokens.forget(token_id)
