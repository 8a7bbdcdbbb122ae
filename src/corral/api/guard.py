"""The gate every request passes before any handler reads it: a per-token rate, a
declared body size, and, on corral's own API, the caller's token before its body.

Pure ASGI, inside the envelope (so every refusal has a request id, one access log line
and its metrics), in front of everything else:

* **Rate.** With ``rate_limit_per_s`` set, each token (``x-auth-token``, whatever its
  kind, accepted or not) has a bucket of ``rate_limit_burst`` requests refilled at that
  rate, in this server process; an empty bucket is a 429 with ``Retry-After`` (whole
  seconds until a request is allowed again). ``/healthz`` is never limited. The
  buckets of the most recently seen :data:`MAX_BUCKETS` tokens are kept.
* **Size.** (After the caller, on ``/v1``.) A body whose ``content-length`` passes
  ``max_body_bytes`` is a 413 before a byte of it is read (a body without one is
  counted as it arrives, by the APIs' own readers: api/hot.py,
  api/placement/middleware.py).
* **Authentication first.** A ``/v1`` request carrying a body is authenticated before
  the body is read: without an accepted token, a 401 (so a caller without a token
  cannot make the server hold its body). Placement's middleware already authenticates
  first.

Refusals made before the body is read carry ``connection: close``: the server drops
the connection instead of reading and discarding what remains of the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import OrderedDict
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from corral.api.envelope import is_corral_path
from corral.api.errors import (
    error_response,
    headers_for,
    note_error,
    request_id_of,
    status_for,
    v1_response,
)
from corral.api.v1.common import PREFIX, context_of, may_wait
from corral.config import Settings
from corral.domain import codes, errors
from corral.domain.keystone import IdentityUnavailable

#: Tokens whose buckets are kept (least recently seen forgotten first): bounded memory
#: whatever number of tokens callers make up.
MAX_BUCKETS = 10_000

UNAUTHENTICATED = "The request you have made requires authentication."


class TokenBuckets:
    """A token bucket per key: ``burst`` requests at once, refilled at ``rate`` a second."""

    def __init__(self, rate: float, burst: int, clock: Any = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def take(self, key: bytes) -> float:
        """Take one request from ``key``'s bucket: 0 when allowed, else the seconds until
        one would be."""
        now = self.clock()
        level, then = self.buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        wait = 0.0
        if level >= 1.0:
            level -= 1.0
        else:
            wait = (1.0 - level) / self.rate
        self.buckets[key] = (level, now)
        if len(self.buckets) > MAX_BUCKETS:
            self.buckets.popitem(last=False)
        return wait


def refuse(scope: Scope, status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    """The error answer of the API ``scope``'s path belongs to."""
    request_id = request_id_of(scope)
    if is_corral_path(str(scope.get("path", ""))):
        note_error(scope, code)
        return v1_response(status, code, message, request_id=request_id, headers=headers)
    note_error(scope, codes.UNDEFINED)
    return error_response(status, message, request_id=request_id, code=codes.UNDEFINED,
                          headers=headers)


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length", "")
    return (length.isdigit() and int(length) > 0) or "transfer-encoding" in headers


class Guard:
    """Pure ASGI: the gate of the module docstring, around ``app``; ``state`` is the
    FastAPI app's (settings, token cache, worker threads)."""

    def __init__(self, app: ASGIApp, state: Any, settings: Settings) -> None:
        self.app = app
        self.state = state
        self.max_body = settings.max_body_bytes
        self.buckets = (TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
                        if settings.rate_limit_per_s > 0 else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        path = str(scope["path"])
        token = headers.get("x-auth-token")
        if self.buckets is not None and token is not None and path != "/healthz":
            wait = self.buckets.take(hashlib.sha256(token.encode("utf-8", "replace")).digest())
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                close = {"connection": "close"} if _has_body(headers) else {}
                return refuse(scope, 429, "rate_limited",
                              f"Too many requests with this token: retry in {seconds} s.",
                              {"retry-after": str(seconds), **close})
        if (path == PREFIX or path.startswith(PREFIX + "/")) and _has_body(headers):
            refused = await self._unauthenticated(scope, headers)
            if refused is not None:
                return refused
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            message = (f"The request body is larger than {self.max_body} bytes: send less "
                       "in each request.")
            return refuse(scope, 413, "too_large", message, {"connection": "close"})
        return None

    async def _unauthenticated(self, scope: Scope, headers: Headers) -> Response | None:
        """A 401 (or the store's 503) when the caller's token is not accepted."""
        try:
            if may_wait(self.state, headers):
                # A query or a call to Keystone: not on the event loop.
                loop = asyncio.get_running_loop()
                ctx = await loop.run_in_executor(getattr(self.state, "workers", None),
                                                 context_of, self.state, headers)
            else:
                ctx = context_of(self.state, headers)
        except errors.StoreUnavailable as exc:
            return refuse(scope, status_for(exc), "store_unavailable", exc.detail,
                          {**headers_for(exc), "connection": "close"})
        except IdentityUnavailable as exc:
            return refuse(scope, 503, "identity_unavailable", str(exc),
                          {**headers_for(exc), "connection": "close"})
        if ctx is None:
            ks = getattr(self.state, "keystone", None)
            return refuse(scope, 401, "unauthenticated", UNAUTHENTICATED,
                          {**(ks.www_authenticate() if ks is not None else {}),
                           "connection": "close"})
        return None
