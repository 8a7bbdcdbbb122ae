"""Plumbing shared by the /v1 modules: request ids, callers, errors, strict bodies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.context import RequestContext, allowed, authenticate
from corral.api.errors import ApiError, status_for
from corral.config import Settings
from corral.domain import errors
from corral.persistence import Store
from corral.services import tokens as token_svc

PREFIX = "/v1"


class Body(BaseModel):
    """Base of every /v1 request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class V1Envelope:
    """Pure ASGI middleware: a request id for every /v1 request, echoed in a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-openstack-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def store_of(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def authenticator_of(request: Request) -> token_svc.Authenticator | None:
    found: token_svc.Authenticator | None = getattr(request.app.state, "tokens", None)
    return found


def caller(request: Request) -> RequestContext:
    """The authenticated caller; 401 without an accepted token."""
    h = request.headers
    tokens = authenticator_of(request)
    ctx = authenticate(settings_of(request), h.get("x-auth-token"), h.get("x-roles"),
                       h.get("openstack-system-scope"),
                       lookup=tokens.authenticate if tokens is not None else None)
    if ctx is None:
        raise ApiError(401, "The request you have made requires authentication.",
                       code="unauthenticated")
    return ctx


Caller = Annotated[RequestContext, Depends(caller)]


def require_admin(request: Request, ctx: Caller) -> RequestContext:
    """Admin or service (project-scoped), as Placement's rules; 403 otherwise."""
    if not allowed(ctx, "admin_or_service",
                   enforce_new_defaults=settings_of(request).enforce_new_defaults):
        raise ApiError(403, "Policy does not allow this action to be performed.",
                       code="forbidden")
    return ctx


Admin = Annotated[RequestContext, Depends(require_admin)]


READ_ROLES = frozenset({"reader", "member", "project-admin", "admin"})
WRITE_ROLES = frozenset({"member", "project-admin", "admin"})


def forbidden(why: str) -> ApiError:
    return ApiError(403, f"Policy does not allow this action to be performed: {why}.",
                    code="forbidden")


def is_admin(request: Request, ctx: RequestContext) -> bool:
    return allowed(ctx, "admin_or_service",
                   enforce_new_defaults=settings_of(request).enforce_new_defaults)


def in_subtree(request: Request, ctx: RequestContext, project_id: str) -> bool:
    """Whether the caller is a project admin of ``project_id`` or of an ancestor."""
    return (ctx.project_id is not None and "project-admin" in ctx.roles
            and token_svc.within_subtree(store_of(request), ctx.project_id, project_id))


def project_scope(request: Request, ctx: RequestContext, roles: frozenset[str],
                  asked: str | None) -> str | None:
    """The project to act in: None (any) for an admin who named none; else the one
    asked, when the caller's project admin role reaches it; else the caller's.

    Raises:
        ApiError 403: no project-scoped role among ``roles``, or a project asked that
            is neither the caller's nor (for a project admin) a descendant of it.
    """
    if is_admin(request, ctx):
        return asked
    if ctx.project_id is None or not ctx.roles & roles:
        raise forbidden(f"needs one of the roles {', '.join(sorted(roles))} in a project")
    if asked is not None and asked != ctx.project_id:
        if in_subtree(request, ctx, asked):
            return asked
        raise forbidden(f"no role in project {asked}")
    return ctx.project_id


def owner_scope(request: Request, ctx: RequestContext, roles: frozenset[str],
                owner: Callable[[], str]) -> str | None:
    """:func:`project_scope` for a thing named by id: a project admin acts in the
    project that owns it (``owner()``, read only for project admins) when that project
    is in its subtree; anybody else in their own project, as before."""
    project = project_scope(request, ctx, roles, None)
    if project is not None and "project-admin" in ctx.roles:
        found = owner()
        if found != project and in_subtree(request, ctx, found):
            return found
    return project


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_entry(request: Request, status: int, code: str, message: str,
                field: str | None = None) -> dict[str, Any]:
    """The ``error`` object of a /v1 error body."""
    return {"status": status, "code": code, "message": message, "field": field,
            "request_id": getattr(request.state, "request_id", None)}


def error_body(request: Request, status: int, code: str, message: str,
               field: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status,
                        content={"error": error_entry(request, status, code, message, field)})


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CorralError)
    status = status_for(exc)
    body = error_entry(request, status, _snake(type(exc).__name__), exc.detail,
                       getattr(exc, "field", None))
    facts = getattr(exc, "facts", None)
    if callable(facts):  # a quota refusal: which project in the tree stops it, and how
        body["quota"] = facts()
    return JSONResponse(status_code=status, content={"error": body})


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    code = exc.code if not exc.code.startswith("placement.") else "bad_request"
    return error_body(request, exc.status, code, exc.detail)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "(body)"


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    message = "; ".join(f"{_loc(tuple(p['loc']))}: {p['msg']}" for p in problems[:5])
    return error_body(request, 400, "invalid_input", message, _loc(tuple(first["loc"])))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    response = error_body(request, exc.status_code, codes.get(exc.status_code, "http_error"),
                          str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def install_v1(app: FastAPI) -> None:
    """Register the /v1 error handlers and routers on the corral app."""
    from corral.api.v1.routers import routers

    app.add_exception_handler(errors.CorralError, _on_domain_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    for router in routers():
        app.include_router(router, prefix=PREFIX)

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def unknown_v1_route(rest: str) -> None:
        raise HTTPException(404, f"No such /v1 resource: /{rest}")
