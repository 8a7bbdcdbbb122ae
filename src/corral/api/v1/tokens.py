"""/v1/tokens: API tokens scoped to a project with a role (docs/access.md).

The cloud admin creates, lists and revokes any token. A project admin does the same
within its subtree (its project and every descendant), for the roles project-admin,
member and reader, never admin: management follows the token's role as well as its
project, so an admin token in the subtree is a 404 to it, as if it did not exist.
Members and readers manage no tokens. A token never mints one above its own role nor
one that outlives it (the new expiry is capped at the minting token's). The secret is
in the creation answer only; a token outside the caller's reach is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    keystone_of,
    location,
    permits,
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


def _within(request: Request, ctx: RequestContext, rule: str) -> str | None:
    """The subtree the caller manages tokens in: None (all) for the cloud admin."""
    if is_admin(request, ctx):
        return None
    if ctx.project_id is None or not permits(request, ctx, rule, ctx.project_id):
        raise forbidden("needs the admin or project-admin role")
    return ctx.project_id


def _manageable(request: Request, ctx: RequestContext) -> frozenset[str] | None:
    """The roles of the tokens the caller may see, make and revoke: every role (None)
    for the cloud admin; else those at or below its own, never admin."""
    if is_admin(request, ctx):
        return None
    return rules.roles_up_to(rules.highest_role(ctx.roles)) & rules.DELEGABLE


def _minter_expiry(request: Request) -> datetime | None:
    """When the caller's own token expires, a stored one's or a Keystone one's (None:
    never, or a static or noauth2 one), in UTC as stored tokens' times are."""
    secret = request.headers.get("x-auth-token") or ""
    tokens = authenticator_of(request)
    if tokens is not None and rules.looks_like_secret(secret):
        found = tokens.authenticate(secret)
        return None if found is None else found.expires_at
    ks = keystone_of(request)
    holder = ks.keystone.validate(secret) if ks is not None and secret else None  # cached
    return None if holder is None else holder.expires_at.astimezone(UTC).replace(tzinfo=None)


@router.post("/tokens", status_code=201)
def create_token(request: Request, response: Response, body: TokenCreate,
                 ctx: Caller) -> dict[str, Any]:
    """Create a token; the answer's ``secret`` is shown this once and never again. Its
    role is never above the caller's and it never outlives the caller's token."""
    within = _within(request, ctx, "corral:tokens:create")
    project = body.project_id
    if project is not None:  # by id or name (a project's caller: in its subtree)
        project = project_svc.resolve_project(store_of(request), project, within=within,
                                              field="project_id")
    mintable = _manageable(request, ctx)
    if mintable is not None and body.role not in mintable:
        raise forbidden(f"a project admin may not create {body.role} tokens"
                        if body.role == "admin" else
                        f"a token may not create a {body.role} token (above its own role)")
    if within is not None:
        project = project or within
        require_project_admin(request, ctx, project, "corral:tokens:create")
    created = svc.create_token(store_of(request), role=body.role, project_id=project,
                               user_id=body.user_id, name=body.name,
                               expires_in_days=body.expires_in_days,
                               expires_at_most=_minter_expiry(request),
                               actor=acting(request, ctx))
    response.headers["location"] = location(request, "tokens", created.token.uuid)
    return {**token_body(created.token), "secret": created.secret}


@router.get("/tokens")
def list_tokens(
    request: Request, ctx: Caller,
    project_id: Annotated[str | None, Query(description="Only this project's.")] = None,
) -> dict[str, Any]:
    """Tokens (never their secrets): every one for the cloud admin; for a project admin
    those of its subtree (403 for a ``project_id`` outside it) and of the roles it
    manages (never admin tokens)."""
    within = _within(request, ctx, "corral:tokens:list")
    if within is not None and project_id is not None:
        require_project_admin(request, ctx, project_id, "corral:tokens:list")
    return {"tokens": [token_body(t) for t in svc.list_tokens(
        store_of(request), within=within, project_id=project_id,
        roles=_manageable(request, ctx))]}


@router.get("/tokens/{token_id}")
def show_token(request: Request, token_id: str, ctx: Caller) -> dict[str, Any]:
    return token_body(svc.get_token(store_of(request), token_id,
                                    within=_within(request, ctx, "corral:tokens:show"),
                                    roles=_manageable(request, ctx)))


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(request: Request, token_id: str, ctx: Caller) -> None:
    """Revoke a token: refused at once by this process, by others within seconds."""
    svc.revoke_token(store_of(request), token_id,
                     within=_within(request, ctx, "corral:tokens:revoke"),
                     roles=_manageable(request, ctx), actor=acting(request, ctx))
    tokens = authenticator_of(request)
    if tokens is not None:
        tokens.forget(token_id)
