"""The hot paths' short way in: requests that need none of the outer app's routing.

Every request used to walk corral's whole FastAPI app before reaching its handler: its
middleware stack (error, telemetry, body limit, exceptions, exit stacks), then its
router, which tries every /v1, /ui and docs route in turn and, for a Placement path,
falls through to the Placement mounts at the end. For the routes that carry the load
that walk costs more than the handler's own parsing. :class:`HotRoutes` sends them
straight where that walk would have ended:

* a lean /v1 route without path parameters (api/v1/lean.py; POST /v1/instances) to its
  lean handler, with the app's own exception handlers answering its refusals;
* every Placement path (PUT /allocations/{consumer_uuid}, GET /allocation_candidates
  and the rest) to the Placement mount that serves it, exactly as the router would
  after trying every route of corral's own.

What the client sees is unchanged: the same handlers, the same error bodies, the same
route template in the access log and the metrics. Anything else (and anything the
short way does not recognise) goes through the app as before.

Corral's own paths (/v1, /ui, ...) read at most MAX_BODY bytes of a body, as Placement's
do (:func:`limited`): a larger one is a 413 before it is read whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Mount
from starlette.types import Message, Receive, Scope, Send

from corral.api.envelope import is_corral_path
from corral.api.placement.middleware import MAX_BODY
from corral.api.v1.lean import Handler, lean_handler

#: What corral's own API answers a body past its limit (``max_body_bytes``, Placement's
#: limit too; MAX_BODY by default).
TOO_LARGE = "The request body is larger than {limit} bytes: send less in each request."
#: The rest of a refused body is not read: the connection is closed after the answer.
CLOSE = {"connection": "close"}


def limited(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> Receive:
    """``receive`` refusing a body past ``limit``, whether its content-length says so
    (before a byte is read) or it grows past it: a 413, answered by the app's handler
    for HTTPException as every other refusal of the body is."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
    counting = not declared.isdigit()  # no usable content-length: count what arrives
    total = 0 if counting else int(declared)

    async def receive_limited() -> Message:
        nonlocal total
        if total > limit:
            raise HTTPException(413, TOO_LARGE.format(limit=limit), CLOSE)
        message = await receive()
        if counting and message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise HTTPException(413, TOO_LARGE.format(limit=limit), CLOSE)
        return message

    return receive_limited


class HotRoutes:
    """Pure ASGI: the short way for hot requests (see the module docstring)."""

    def __init__(self, app: FastAPI, routers: Iterable[tuple[str, APIRouter]],
                 placement: Sequence[Mount]) -> None:
        self.app = app
        self.placement = list(placement)
        self.own: dict[tuple[str, str], tuple[APIRoute, Handler]] = {}
        for prefix, router in routers:
            for route in router.routes:
                handler = lean_handler(route)
                if handler is None or not isinstance(route, APIRoute) or "{" in route.path:
                    continue
                for method in route.methods or ():
                    self.own[(method, prefix + route.path)] = (route, handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            own = is_corral_path(path)
            if own:
                receive = limited(scope, receive, self.app.state.settings.max_body_bytes)
            found = self.own.get((scope["method"], path))
            if found is not None:
                await self._lean(found[0], found[1], scope, receive, send)
                return
            if not own:
                for mount in self.placement:
                    match, child = mount.matches(scope)
                    if match is Match.FULL:
                        scope.update(child)
                        scope["route"] = mount
                        await mount.handle(scope, receive, send)
                        return
        await self.app(scope, receive, send)

    async def _lean(self, route: APIRoute, handler: Handler, scope: Scope, receive: Receive,
                    send: Send) -> None:
        # What the app and its router would have put in the scope on the way.
        scope["app"] = self.app
        scope["router"] = self.app.router
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            answer = self._handler_for(exc)
            if answer is None:
                raise  # the envelope answers and logs it, as the app's last resort does
            response = await answer(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Any:
        """The app's own handler for ``exc`` (its class, or the nearest base), but not the
        last-resort one for any Exception (the envelope's, which also logs)."""
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None
