"""Plumbing shared by the /v1 modules: callers, errors, strict bodies.

Errors answer ``{"error": {...}}`` (api/errors.py) on every route of corral's own app,
and say what to send instead: a bad JSON body names the line and column, a body that is
not ``application/json`` is a 415 saying so, a wrong method is a 405 with ``Allow``, a
trailing slash is a 404 naming the path without it, and a NUL character anywhere in the
path, the query or a JSON string is a 400 naming the field (no database stores NUL in
text). The request id comes from the envelope (api/envelope.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

from corral.api.context import RequestContext, allowed, authenticate
from corral.api.errors import (
    ApiError,
)
from corral.api.identity import KeystoneAuth, needs_keystone
from corral.config import Settings
from corral.domain.audit_log import Actor
from corral.domain.tokens import looks_like_secret
from corral.services import tokens as token_svc
from corral.services.policy import Policy
from corral.services.stores import Store

PREFIX = "/v1"


class Body(BaseModel):
    """Base of every /v1 request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def timestamp(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 to the second, with a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def exact_timestamp(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with its microseconds (hosts, aggregates)."""
    return None if value is None else value.isoformat() + "Z"


def location(request: Request, *parts: str) -> str:
    """An absolute /v1 URL for a Location header, each part percent-encoded (a name may
    hold any character; a header holds ASCII only)."""
    return (str(request.base_url).rstrip("/") + PREFIX + "/"
            + "/".join(quote(p, safe="") for p in parts))


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def store_of(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def authenticator_of(request: Request) -> token_svc.Authenticator | None:
    found: token_svc.Authenticator | None = getattr(request.app.state, "tokens", None)
    return found


def keystone_of(request: Request) -> KeystoneAuth | None:
    """The app's Keystone validation (``auth_strategy = keystone``), else None."""
    found: KeystoneAuth | None = getattr(request.app.state, "keystone", None)
    return found


def context_of(state: Any, h: Mapping[str, str]) -> RequestContext | None:
    """The caller the headers ``h`` name to the app whose ``state`` is given; None when
    its token is not accepted (raises IdentityUnavailable when Keystone cannot say). One
    question for :func:`caller` and for the gate that asks it before a body is read
    (api/guard.py)."""
    tokens: token_svc.Authenticator | None = getattr(state, "tokens", None)
    ks: KeystoneAuth | None = getattr(state, "keystone", None)
    return authenticate(state.settings, h.get("x-auth-token"), h.get("x-roles"),
                        h.get("openstack-system-scope"),
                        lookup=tokens.authenticate if tokens is not None else None,
                        keystone=ks.context if ks is not None else None,
                        service_token=h.get("x-service-token"))


def may_wait(state: Any, h: Mapping[str, str]) -> bool:
    """Whether authenticating the headers ``h`` may wait on I/O, so must not run on the
    event loop: a stored token's secret this process has not cached (a query), or a
    Keystone token its cache does not hold (a call to Keystone)."""
    token = h.get("x-auth-token")
    if needs_keystone(state.settings, getattr(state, "keystone", None), token,
                      h.get("x-service-token")):
        return True
    tokens: token_svc.Authenticator | None = getattr(state, "tokens", None)
    return (token is not None and looks_like_secret(token) and tokens is not None
            and not tokens.knows(token))


def caller(request: Request) -> RequestContext:
    """The authenticated caller; 401 without an accepted token (503 when Keystone
    cannot say)."""
    ks = keystone_of(request)
    ctx = context_of(request.app.state, request.headers)
    if ctx is None:
        raise ApiError(401, "The request you have made requires authentication.",
                       code="unauthenticated",
                       headers=ks.www_authenticate() if ks is not None else None)
    return ctx


Caller = Annotated[RequestContext, Depends(caller)]


def policy_of(request: Request) -> Policy:
    p: Policy = request.app.state.policy
    return p


def permits(request: Request, ctx: RequestContext | None, rule: str,
            target_project: str | None = None) -> bool:
    """Whether the policy's ``rule`` lets the caller act on ``target_project``. Behind
    Keystone the ``service`` role (Nova's and Neutron's service users) is for the
    Placement API only: /v1 rules see the caller without it."""
    if ctx is not None and "service" in ctx.roles and keystone_of(request) is not None:
        ctx = replace(ctx, roles=ctx.roles - {"service"})
    return allowed(policy_of(request), ctx, rule, target_project)


def require_admin(request: Request, ctx: RequestContext, rule: str) -> RequestContext:
    """``rule`` (admin or service by default, as Placement's rules); 403 otherwise."""
    if not permits(request, ctx, rule):
        raise ApiError(403, "Policy does not allow this action to be performed.",
                       code="forbidden")
    return ctx


def allow(rule: str) -> Callable[[Request, RequestContext], RequestContext]:
    """A route dependency: the caller, when the policy's ``rule`` (one without a
    target project) lets it through; 403 otherwise."""
    def dependency(request: Request, ctx: Caller) -> RequestContext:
        return require_admin(request, ctx, rule)

    return dependency


def acting(request: Request, ctx: RequestContext) -> Actor:
    """Who an audited change is done for (services/audit_log.py): the caller as
    authentication found it, and the id this server gave the request; never a body
    field or any other header."""
    return Actor(user_id=ctx.user_id, project_id=ctx.project_id,
                 roles=tuple(sorted(ctx.roles)), request_id=request_id_of(request),
                 origin="api")


READ_ROLES = frozenset({"reader", "member", "project-admin", "admin"})
WRITE_ROLES = frozenset({"member", "project-admin", "admin"})


def forbidden(why: str) -> ApiError:
    return ApiError(403, f"Policy does not allow this action to be performed: {why}.",
                    code="forbidden")


def is_admin(request: Request, ctx: RequestContext) -> bool:
    """The cloud admin (the base rule ``admin_or_service``; behind Keystone, the admin
    role only: see :func:`permits`): acts in every project."""
    return permits(request, ctx, "admin_or_service")


def project_scope(request: Request, ctx: RequestContext, roles: frozenset[str],
                  asked: str | None, rule: str) -> str | None:
    """The project to act in: None (any) for an admin who named none; else the one
    asked, when the policy's ``rule`` lets the caller act there; else the caller's.
    ``roles`` (the roles the default rule accepts) only word the refusal.

    Raises:
        ApiError 403: ``rule`` refuses the project (the caller's, or the one asked).
    """
    if is_admin(request, ctx):
        if permits(request, ctx, rule, asked):
            return asked
        raise forbidden(f"the policy rule {rule} refuses it")
    project = asked or ctx.project_id
    if project is not None and permits(request, ctx, rule, project):
        return project
    if project == ctx.project_id or not ctx.roles & roles:
        raise forbidden(f"needs one of the roles {', '.join(sorted(roles))} in a project")
    raise forbidden(f"no role in project {asked}")


def owner_scope(request: Request, ctx: RequestContext, roles: frozenset[str],
                owner: Callable[[], str], rule: str) -> str | None:
    """:func:`project_scope` for a thing named by id: a project admin acts in the
    project that owns it (``owner()``, read only for project admins) when ``rule`` lets
    it act there; anybody else in their own project, as before."""
    project = project_scope(request, ctx, roles, None, rule)
    if project is not None and "project-admin" in ctx.roles:
        found = owner()
        if found != project and permits(request, ctx, rule, found):
            return found
    return project


def request_id_of(request: Request) -> str | None:
    """The id the envelope gave this request (api/envelope.py)."""
    return getattr(request.state, "request_id", None)
