"""What every Placement request goes through, as pure ASGI middleware.

For every request: the microversion (400/406 for a bad header; ``openstack-api-version``
and ``vary`` on the response), authentication (401 without an accepted token, except the
version document), and the body read once, bounded in size, for the synchronous
handlers. The request id, the access log line and the HTTP metrics are the outer
envelope's (api/envelope.py), shared by every route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api import microversion
from corral.api.context import RequestContext, authenticate
from corral.api.errors import error_response, headers_for, note_error, status_for
from corral.api.identity import KeystoneAuth, needs_keystone
from corral.config import Settings
from corral.domain import codes, errors
from corral.domain.tokens import looks_like_secret
from corral.services.tokens import Authenticator

MAX_BODY = 16 * 1024 * 1024


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


def wants_html(headers: Headers) -> bool:
    accept = headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


class PlacementMiddleware:
    #: Keystone validation with ``auth_strategy = keystone`` (set by the app).
    keystone: KeystoneAuth | None = None

    def __init__(self, app: ASGIApp, settings: Settings,
                 tokens: Authenticator | None = None) -> None:
        self.app = app
        self.settings = settings
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        extra_headers: list[tuple[bytes, bytes]] = []
        send_with_headers = _adding_headers(send, _origin(scope, headers), extra_headers)
        reply = _replier(scope, receive, send_with_headers, headers,
                         str(state.get("request_id", "")))
        version = await _version(headers, reply)
        if version is None:
            return
        state["version"] = version
        extra_headers += [
            (b"openstack-api-version", f"placement {version}".encode()),
            (b"vary", b"openstack-api-version"),
        ]
        code = codes.UNDEFINED if version.matches((1, 23)) else None
        if route_path(scope) != "/":
            ctx = await self._context(headers, reply, code)
            if ctx is None:
                return
            state["context"] = ctx
            if self.keystone is not None:  # allocations place the projects they name
                state["keystone"] = self.keystone
        body = await _body(scope, receive, headers, reply, code, self.settings.max_body_bytes)
        if body is None:
            return
        state["body"] = body

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send_with_headers)

    async def _context(self, headers: Headers, reply: Reply,
                       code: str | None) -> RequestContext | None:
        """The caller from the token headers; None once a 401 (or the store's error) is
        sent."""
        token = headers.get("x-auth-token")
        args = (self.settings, token, headers.get("x-roles"),
                headers.get("openstack-system-scope"))
        lookup = self.tokens.authenticate if self.tokens is not None else None
        project = headers.get("x-project-id")
        ks = self.keystone
        service_token = headers.get("x-service-token")
        keystone = ks.context if ks is not None else None
        try:
            if ((lookup is not None and self.tokens is not None and token
                    and looks_like_secret(token) and not self.tokens.knows(token))
                    or needs_keystone(self.settings, ks, token, service_token)):
                # A stored token not in the cache costs a query, a Keystone token not in
                # the cache a call to Keystone: not on the event loop.
                ctx = await run_in_threadpool(authenticate, *args, lookup=lookup,
                                              project_header=project, keystone=keystone,
                                              service_token=service_token)
            else:  # no token of the store's, or one this process's cache holds
                ctx = authenticate(*args, lookup=lookup, project_header=project, keystone=keystone,
                                              service_token=service_token)
        except errors.CorralError as exc:  # the store or Keystone, unreachable
            await reply(status_for(exc), exc.detail, exc.code if code else None,
                        reply_headers=headers_for(exc))
            return None
        if ctx is None:
            await reply(401, "The request you have made requires authentication.", code,
                        reply_headers=ks.www_authenticate() if ks is not None else None)
        return ctx


#: Sends an error response: (status, detail, code, extra body fields, extra headers).
Reply = Callable[..., Awaitable[None]]


def _adding_headers(send: Send, origin: bytes, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send``, adding ``extra`` (filled in later) to the response's headers."""
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            # Location is absolute, as Placement's is: clients such as keystoneauth
            # would otherwise prefix the endpoint to it a second time.
            message["headers"] = [
                (k, origin + v if k == b"location" and v.startswith(b"/") else v)
                for k, v in message.get("headers", [])] + extra
        await send(message)

    return send_with_headers


def _replier(scope: Scope, receive: Receive, send: Send, headers: Headers,
             request_id: str) -> Reply:
    async def reply(status: int, detail: str, code: str | None,
                    extra: dict[str, object] | None = None,
                    reply_headers: dict[str, str] | None = None) -> None:
        note_error(scope, code or codes.UNDEFINED)
        response = error_response(status, detail, request_id=request_id, code=code,
                                  want_html=wants_html(headers), extra=extra,
                                  headers=reply_headers)
        await response(scope, receive, send)

    return reply


async def _version(headers: Headers, reply: Reply) -> microversion.Version | None:
    """The requested microversion; None once the 400 or 406 is sent."""
    # Without a version there is no ``code`` (it starts at 1.23); a 406 names the
    # range served, as Placement's does.
    try:
        return microversion.parse_header(headers.get(microversion.HEADER))
    except microversion.BadVersion as exc:
        await reply(400, str(exc), None)
    except microversion.UnacceptableVersion as exc:
        await reply(406, str(exc), None, {"min_version": str(microversion.MIN_VERSION),
                                          "max_version": str(microversion.MAX_VERSION)})
    return None


async def _body(scope: Scope, receive: Receive, headers: Headers, reply: Reply,
                code: str | None, limit: int = MAX_BODY) -> bytes | None:
    """The whole request body, read once; None once a refusal is sent (NUL in the URL,
    too large, no content type)."""
    # No database stores NUL in text (PostgreSQL refuses it): refuse it at the edge.
    if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        await reply(400, "The URL may not contain NUL characters.", code)
        return None
    chunks: list[bytes] = []  # joined once: appending to bytes copies it every time
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None  # nobody to answer (api/edge.py may have refused it)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
        if size > limit:
            await reply(413, f"Request body larger than {limit} bytes.", code,
                        reply_headers={"connection": "close"})
            return None
    body = b"".join(chunks)
    if body and not headers.get("content-type"):
        await reply(400, "content-type header required when content-length > 0", code)
        return None
    return body


def _origin(scope: Scope, headers: Headers) -> bytes:
    """scheme://host[:port] the client used to reach us."""
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}".encode("latin-1")


def json_loads(body: bytes) -> Any:
    """json.loads that refuses NaN and Infinity (not JSON, whatever Python thinks), and
    strings holding NUL characters (no database stores them in text)."""
    def reject(value: str) -> Any:
        raise ValueError(f"{value} is not valid JSON")

    data = json.loads(body, parse_constant=reject)
    # A NUL can only be spelled \u0000 in valid JSON: no need to walk a body without it.
    if b"\\u0000" in body and _holds_nul(data):
        raise ValueError("strings may not contain NUL characters")
    return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False
