"""Lean routes: the hot /v1 routes served without FastAPI's per-request machinery.

FastAPI documents every /v1 route (``/openapi.json`` is generated from the endpoint's
signature and models), but serving a request through it costs more than the routing:
the dependency solver, a thread-pool hop for each synchronous dependency and another
for a synchronous endpoint, and a generic response encoder. A route whose endpoint
carries a *lean handler* (:func:`lean`) keeps its FastAPI declaration for the
documentation and the router, and is served by that handler instead
(:class:`LeanRoute`): a coroutine that reads the body once, parses it once, refuses
NUL characters, authenticates inline, validates the body with the endpoint's own
pydantic model once, and hands the work to a worker thread once.

Behaviour is FastAPI's, in the same order: a body that is not JSON (syntax) is refused
first, then the router's NUL check, then authentication (401), then the body's
validation (the same ``RequestValidationError`` FastAPI raises, so the same error
handler answers), then the endpoint. A stored token (``corral token create``) may cost
a query: it is then checked in the worker thread with the rest, still one hand-off.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from corral.api.context import RequestContext
from corral.api.v1.answers import is_json, refuse_nul
from corral.api.v1.common import caller, may_wait

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

#: What :func:`json_of` answers for a request without a body (JSON ``null`` is None).
NO_BODY: Any = object()

#: The attribute of an endpoint naming its lean handler.
_LEAN = "__corral_lean__"


def lean(handler: Handler) -> Callable[[F], F]:
    """Mark a FastAPI endpoint as served by ``handler`` (documented by the endpoint)."""
    def mark(endpoint: F) -> F:
        setattr(endpoint, _LEAN, handler)
        return endpoint

    return mark


def lean_handler(route: object) -> Handler | None:
    """The lean handler serving ``route`` (None: a plain route)."""
    found: Handler | None = getattr(getattr(route, "endpoint", None), _LEAN, None)
    return found


class LeanRoute(APIRoute):
    """An APIRoute served by its endpoint's lean handler when it has one."""

    def get_route_handler(self) -> Handler:
        handler = lean_handler(self)
        return handler if handler is not None else super().get_route_handler()


async def json_of(request: Request) -> Any:
    """The request's body as FastAPI's body parameter sees it: the parsed JSON for a
    JSON content type, the raw bytes for any other, :data:`NO_BODY` for none; a syntax
    error is FastAPI's ``json_invalid`` validation error. Then the router's NUL check."""
    raw = await request.body()
    data: Any = NO_BODY
    if raw:
        if is_json(request.headers.get("content-type")):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError(
                    [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                      "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
            except (ValueError, RecursionError) as exc:
                # What json.loads refuses past the syntax (a number of too many digits):
                # the 400 FastAPI answers (api/v1/common.py names the reason).
                raise HTTPException(400, "There was an error parsing the body") from exc
        else:  # FastAPI hands the raw bytes to validation (a 415 says what to send)
            data = raw
    await refuse_nul(request)
    return data


def needs_store(request: Request) -> bool:
    """Whether authenticating the caller may wait on I/O (api/v1/common.py
    ``may_wait``): then it is done in the worker thread with the rest."""
    return may_wait(request.app.state, request.headers)


def validated(model: type[M], data: Any) -> M:
    """``data`` validated by ``model``, once; a refusal is FastAPI's validation error for
    a body parameter (locations under ``body``), answered by the same handler."""
    if data is NO_BODY:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)],
            body=data) from exc


def authenticated(request: Request) -> RequestContext:
    """The caller (401 without an accepted token): api/v1/common.py's ``caller``."""
    return caller(request)

