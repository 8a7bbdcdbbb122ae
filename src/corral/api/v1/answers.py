"""How /v1 answers what goes wrong, and how it is installed: error bodies in corral's
shape (each naming the field and the reason), FastAPI's validation errors and HTTP
errors turned into them, characters no database can store refused, and the routers
mounted with those handlers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from corral.api.errors import (
    ApiError,
    headers_for,
    note_error,
    status_for,
    v1_entry,
    v1_response,
)
from corral.api.v1.common import PREFIX, request_id_of
from corral.domain import errors


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_entry(request: Request, status: int, code: str, message: str,
                field: str | None = None) -> dict[str, Any]:
    """The ``error`` object of a /v1 error body."""
    note_error(request.scope, code)
    return v1_entry(status, code, message, request_id=request_id_of(request), field=field)


def error_body(request: Request, status: int, code: str, message: str,
               field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    note_error(request.scope, code)
    return v1_response(status, code, message, request_id=request_id_of(request), field=field,
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
