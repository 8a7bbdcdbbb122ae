"""The one envelope around every HTTP request, as pure ASGI middleware.

For every route (Placement at ``/`` and ``/placement``, ``/v1``, ``/ui``, ``/healthz``,
``/metrics``, ``/docs``) it:

* gives the request an id (``req-<uuid>``), kept in ``scope["state"]["request_id"]``,
  echoed in ``x-openstack-request-id`` on every response and bound into structlog's
  context variables, so every log line written while serving the request carries it;
* writes exactly one access log line, ``request``: method, route template, status,
  milliseconds, and the error code when the answer is an error (info below 500,
  warning from 500);
* counts and times the request in ``corral_http_requests_total`` and
  ``corral_http_request_duration_seconds`` by method, route template and status;
* turns any exception that reaches it into the error body of the API the path belongs
  to (Placement's ``{"errors": [...]}``, corral's ``{"error": {...}}`` elsewhere), with
  the request id, logs the traceback once, and does not re-raise: the server keeps the
  connection. If the response had already started, it returns without finishing it and
  the server closes that one connection.

The inner Starlette apps register :func:`answer_unexpected` as their ``Exception``
handler so that their own last-resort middleware sends this body instead of plain text;
that middleware re-raises, and the exception is logged here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.errors import (
    INTERNAL,
    UNEXPECTED_DETAIL,
    error_response,
    headers_for,
    note_error,
    request_id_of,
    status_for,
    v1_response,
)
from corral.api.metrics import HttpMetrics
from corral.domain import codes, errors

log = structlog.get_logger("corral.api")

REQUEST_ID_HEADER = b"x-openstack-request-id"
#: Paths served by corral's own app; every other path is Placement's.
CORRAL_PREFIXES = ("/v1", "/ui", "/healthz", "/metrics", "/docs", "/redoc", "/openapi.json")
#: The route label of a request no route matched (never the raw path: it is unbounded).
UNMATCHED = "(unmatched)"


def is_corral_path(path: str) -> bool:
    """Whether ``path`` belongs to corral's own API rather than Placement's."""
    return any(path == p or path.startswith(p + "/") for p in CORRAL_PREFIXES)


def route_template(scope: Scope, root_path: str, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that answered (``/v1/hosts/{name}``,
    ``/placement/resource_providers/{uuid}``), or :data:`UNMATCHED`.

    Routers record the route they chose in ``scope["route"]``; its own template may lack
    the prefixes it was included or mounted under (FastAPI keeps included routers whole),
    so the template is the path up to where the route's pattern matches, then the
    route's own template. A Mount that answered itself (static files, or Placement
    refusing before its router ran) gives ``prefix/{path}``. Routers that record nothing
    (FastAPI's, for its plain routes and mounts) leave it to ``routes``, matched here.
    """
    route = scope.get("route")
    if route is None and routes:
        probe = {**scope, "root_path": root_path}  # as the outer router saw it
        route = next((r for r in routes if r.matches(probe)[0] is Match.FULL), None)
    template = getattr(route, "path_format", None)
    pattern = getattr(route, "path_regex", None)
    if template is None or pattern is None:
        return UNMATCHED
    path = str(scope.get("path", ""))[len(root_path):]
    start = 0
    while start != -1:
        if pattern.match(path[start:]):
            return path[:start] + str(template)
        start = path.find("/", start + 1)
    return UNMATCHED


def unexpected_response(scope: Scope, exc: BaseException) -> Response:
    """The error answer for ``exc`` in the format of the API ``scope``'s path belongs to.

    A domain error keeps its status and code (a 503 for a store that cannot answer);
    anything else is a 500 that says nothing about its cause but the request id.
    """
    request_id = request_id_of(scope)
    state = scope.get("state", {})
    if isinstance(exc, errors.CorralError):
        status, detail, headers = status_for(exc), exc.detail, headers_for(exc)
        placement_code, own_code = exc.code, _snake(type(exc).__name__)
    else:
        status, detail, headers = 500, UNEXPECTED_DETAIL.format(request_id=request_id), {}
        placement_code, own_code = codes.UNDEFINED, INTERNAL
    if is_corral_path(str(scope.get("path", ""))):
        note_error(scope, own_code)
        return v1_response(status, own_code, detail, request_id=request_id, headers=headers)
    note_error(scope, placement_code)
    version = state.get("version")
    with_code = version is not None and version.matches((1, 23))
    return error_response(status, detail, request_id=request_id,
                          code=placement_code if with_code else None, headers=headers)


async def answer_unexpected(request: Request, exc: Exception) -> Response:
    """The ``Exception`` handler of the inner apps: the body only (logged by Envelope)."""
    return unexpected_response(request.scope, exc)


def _snake(name: str) -> str:
    out = [name[0].lower()]
    for ch in name[1:]:
        out.append("_" + ch.lower() if ch.isupper() else ch)
    return "".join(out)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Envelope:
    """Pure ASGI middleware; see the module docstring. ``routes`` are the outer app's,
    for naming requests its router does not record (:func:`route_template`)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"req-{uuid.uuid4()}"
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        root_path = str(scope.get("root_path", ""))
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        progress = {"status": 500, "started": False, "done": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                progress["status"] = message["status"]
                progress["started"] = True
                message["headers"] = [*message.get("headers", ()), id_header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                progress["done"] = True
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client left, or its connection was refused under it (api/edge.py):
            # nobody to answer. 499: closed before its answer, as proxies log it.
            progress["status"] = state.get("refused", 499)
        except Exception as exc:  # noqa: BLE001 - the last resort: answered and logged here
            if isinstance(exc, errors.CorralError):
                # A refusal no inner handler saw (the store's own is logged with its
                # reason as its response is built).
                if not isinstance(exc, errors.StoreUnavailable):
                    log.warning("request_failed", error=type(exc).__name__, detail=exc.detail)
            else:
                log.error("unexpected_error", exc_info=exc)
            if not progress["started"]:
                response = unexpected_response(scope, exc)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            status = int(progress["status"])
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = route_template(scope, root_path, self.routes)
            fields: dict[str, Any] = {"method": method, "route": route, "status": status,
                                      "ms": round(elapsed * 1000, 2)}
            client = scope.get("client")
            if client:  # the proxy's, unless it is trusted (trusted_proxies)
                fields["client"] = client[0]
            code = state.get("error_code")
            if status >= 400 and code:
                fields["code"] = code
            if "version" in state:
                fields["version"] = str(state["version"])
            if status >= 500:
                log.warning("request", **fields)
            else:
                log.info("request", **fields)
            self.metrics.observe(method, route, status, elapsed)
            structlog.contextvars.reset_contextvars(**bound)
