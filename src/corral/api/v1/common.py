"""Plumbing shared by the /v1 modules: callers, errors, strict bodies.

Errors answer ``{"error": {...}}`` (api/errors.py) on every route of corral's own app,
and say what to send instead: a bad JSON body names the line and column, a body that is
not ``application/json`` is a 415 saying so, a wrong method is a 405 with ``Allow``, a
trailing slash is a 404 naming the path without it, and a NUL character anywhere in the
path, the query or a JSON string is a 400 naming the field (no database stores NUL in
text). The request id comes from the envelope (api/envelope.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from corral.api.context import RequestContext, allowed, authenticate
from corral.api.errors import (
    ApiError,
    headers_for,
    note_error,
    status_for,
    v1_entry,
    v1_response,
)
from corral.config import Settings
from corral.domain import errors
from corral.domain.audit_log import Actor
from corral.services import tokens as token_svc
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


def acting(request: Request, ctx: RequestContext) -> Actor:
    """Who an audited change is done for (services/audit_log.py): the caller as
    authentication found it, and the id this server gave the request; never a body
    field or any other header."""
    return Actor(user_id=ctx.user_id, project_id=ctx.project_id,
                 roles=tuple(sorted(ctx.roles)), request_id=_request_id(request),
                 origin="api")


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


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_entry(request: Request, status: int, code: str, message: str,
                field: str | None = None) -> dict[str, Any]:
    """The ``error`` object of a /v1 error body."""
    note_error(request.scope, code)
    return v1_entry(status, code, message, request_id=_request_id(request), field=field)


def error_body(request: Request, status: int, code: str, message: str,
               field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    note_error(request.scope, code)
    return v1_response(status, code, message, request_id=_request_id(request), field=field,
                       headers=headers)


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CorralError)
    status = status_for(exc)
    body = error_entry(request, status, _snake(type(exc).__name__), exc.detail,
                       getattr(exc, "field", None))
    facts = getattr(exc, "facts", None)
    if callable(facts):  # a quota refusal: which project in the tree stops it, and how
        body["quota"] = facts()
    return JSONResponse(status_code=status, content={"error": body},
                        headers=headers_for(exc) or None)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    code = exc.code if not exc.code.startswith("placement.") else "bad_request"
    return error_body(request, exc.status, code, exc.detail, exc.field, exc.headers or None)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "(body)"


JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


def is_json(content_type: str | None) -> bool:
    return bool(content_type) and bool(
        JSON_TYPE.match(str(content_type).split(";")[0].strip().lower()))


def _line_column(doc: str, pos: int) -> tuple[int, int]:
    line = doc.count("\n", 0, pos) + 1
    return line, pos - (doc.rfind("\n", 0, pos) + 1) + 1


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        pos = int(first["loc"][-1]) if first["loc"] and str(first["loc"][-1]).isdigit() else 0
        doc = exc.body if isinstance(exc.body, str) else ""
        line, column = _line_column(doc, pos)
        ctx = first.get("ctx")
        reason = ctx.get("error", "JSON decode error") if isinstance(ctx, dict) else "JSON decode error"
        return error_body(request, 400, "invalid_json",
                          f"The body is not valid JSON: {reason} at line {line} column "
                          f"{column} (character {pos}). Send a JSON object with "
                          "content-type: application/json.", "(body)")
    body_problem = any(tuple(p["loc"])[:1] == ("body",) for p in problems)
    ctype = request.headers.get("content-type")
    if body_problem and isinstance(exc.body, bytes | bytearray) and exc.body:
        # FastAPI hands the raw bytes on when the content type is not JSON.
        if not is_json(ctype):
            return error_body(request, 415, "unsupported_media_type",
                              f"The body was sent as {ctype or 'no content type'}: send "
                              "application/json (header content-type: application/json).",
                              "(body)")
    elif body_problem and tuple(first["loc"]) == ("body",) and first.get("type") == "missing":
        return error_body(request, 400, "invalid_input",
                          "(body): this request needs a JSON object; send it with "
                          "content-type: application/json.", "(body)")
    message = "; ".join(f"{_loc(tuple(p['loc']))}: {p['msg']}" for p in problems[:5])
    return error_body(request, 400, "invalid_input", message, _loc(tuple(first["loc"])))


def _digits_reason(exc: ValueError) -> str:
    if "digits" in str(exc):
        return "it holds a number of more than 4,300 digits (every number corral accepts has at most 20)"
    return str(exc)


def _methods_for(request: Request) -> list[str]:
    """Every method some route serves at this path (asked of the routes themselves)."""
    served = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            served.append(method)
    return served


def _without_slash(request: Request) -> str | None:
    """The path without its trailing slash, when that path is a route."""
    path: str = request.scope["path"]
    if not path.endswith("/") or path == "/":
        return None
    stripped = {**request.scope, "path": path.rstrip("/")}
    for route in request.app.routes:
        if route.matches(stripped)[0] is not Match.NONE:
            return str(stripped["path"])
    return None


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    path = request.scope["path"]
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allow = ", ".join(_methods_for(request)) or headers.get("Allow", "")
        headers = {"allow": allow}
        return error_body(request, 405, "method_not_allowed",
                          f"The method {request.method} is not allowed for {path}; "
                          f"send one of: {allow}.", headers=headers)
    if exc.status_code == 404:
        other = _without_slash(request)
        message = (f"No such resource: {path}. Drop the trailing slash: {other}" if other
                   else f"No such resource: {path}")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            message += " (the /v1 API is described at /docs)"
        return error_body(request, 404, "not_found", message, headers=headers or None)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's answer to a body json.loads refused past its syntax: a number of more
        # digits than Python converts.
        return error_body(request, 400, "invalid_json",
                          f"The body is not usable JSON: {_digits_reason(exc.__cause__)}. "
                          "Send a JSON object with content-type: application/json.", "(body)")
    codes = {400: "bad_request", 413: "too_large", 415: "unsupported_media_type"}
    return error_body(request, exc.status_code, codes.get(exc.status_code, "http_error"),
                      str(exc.detail), headers=headers or None)


#: What no database stores in text: NUL (PostgreSQL), and a lone UTF-16 surrogate, which
#: JSON can spell (``"\ud800"``) but UTF-8 cannot encode (both backends).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: Valid JSON can only spell those as escapes (a raw NUL is not valid JSON, a raw
#: surrogate not valid UTF-8): a body without one of these is not parsed a second time.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _nul_field(value: Any, where: str) -> str | None:
    """The path to the first string holding NUL or a lone surrogate in a JSON value."""
    if isinstance(value, str):
        return where if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where != "(body)" else str(key)
            if _UNSTORABLE.search(str(key)):
                return inner.encode("ascii", "backslashreplace").decode().replace("\x00", "\\0")
            found = _nul_field(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_field(item, f"{where}.{index}" if where != "(body)" else str(index))
            if found is not None:
                return found
    return None


def _refuse_nul_field(field: str) -> ApiError:
    return ApiError(400, f"{field}: NUL characters (\\u0000) and lone surrogates "
                    "(\\ud800-\\udfff) are not allowed in text; send the value without "
                    "them.", code="invalid_input", field=field)


async def refuse_nul(request: Request) -> None:
    """400 naming the field for a NUL character in the path, the query or a JSON string
    of a /v1 request (PostgreSQL cannot store one; SQLite would keep a truncated name)."""
    query: bytes = request.scope.get("query_string", b"")
    # Parsed only when a NUL may be there (a path parameter is part of the decoded path).
    if "\x00" in request.scope["path"] or b"%00" in query or b"\x00" in query:
        for name, value in request.path_params.items():
            if "\x00" in str(value):
                raise _refuse_nul_field(name)
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                raise _refuse_nul_field(name.replace("\x00", "\\0"))
    body = await request.body()
    if body and is_json(request.headers.get("content-type")) and _UNSTORABLE_ESCAPE.search(body):
        try:
            data = await request.json()
        except ValueError:
            return  # the body's own validation says what is wrong with it
        found = _nul_field(data, "(body)")
        if found is not None:
            raise _refuse_nul_field(found)


def install_v1(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Register the error handlers of corral's own app and mount the /v1 ``routers`` (the
    app assembles them: api/v1/routers.py; the nouns do not import each other)."""
    app.add_exception_handler(errors.CorralError, _on_domain_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    for router in routers:
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(refuse_nul)])
