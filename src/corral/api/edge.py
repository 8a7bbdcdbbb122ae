"""The connection's own limits, below the ASGI app: sizes and times of what a client
sends before the app sees a request.

uvicorn's C parser (httptools) keeps a header's value in memory until its end arrives,
with no bound, and uvicorn waits for a request's headers and body for ever: a 100 MB
header stalled the process, and 1,000 silent connections were never closed (issue 14).
:class:`EdgeProtocol` is uvicorn's HTTP protocol with, per connection:

* the request target bounded (``max_url_bytes``: a 414) and the request line and headers
  together (``max_header_bytes``: a 431), counted as the bytes arrive, so that neither
  is ever held whole past its bound;
* ``header_timeout_s`` to send a request's headers, from when the connection opens or the
  previous response ends: a connection silent that long is closed, one that had begun a
  request is answered 408 and closed (slow clients, "slowloris");
* ``body_timeout_s`` to send the body once the headers are in: a 408 (or, if the app has
  already answered, a plain close);
* Nagle's algorithm off, as :class:`corral.api.asgi.NoDelayHTTPProtocol`.

Each refusal is the JSON error body of the API the path belongs to (corral's
``{"error": {...}}`` on its own paths, Placement's ``{"errors": [...]}`` elsewhere), with
a request id, ``connection: close``, and one ``request_refused`` log line. The limits
are the settings' (config_serving.py), set on the class by :func:`configure` in each
server process before its first connection (uvicorn builds the protocol from its class).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from corral.api.envelope import is_corral_path
from corral.api.errors import v1_entry
from corral.config import Settings
from corral.domain import codes

log = structlog.get_logger("corral.api")


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What one connection may send (config_serving.py has each option's meaning)."""

    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        return cls(max_url_bytes=settings.max_url_bytes,
                   max_header_bytes=settings.max_header_bytes,
                   header_timeout_s=settings.header_timeout_s,
                   body_timeout_s=settings.body_timeout_s)


#: Seconds a refused connection is kept to read and drop what the client still sends,
#: after the answer, before it is closed.
LINGER_S = 2.0

#: (code on corral's paths, message) of each refusal made here.
REFUSALS: dict[int, tuple[str, str]] = {
    408: ("request_timeout", "The request was not received in time ({limit} s): send it "
          "whole, without pauses."),
    414: ("uri_too_long", "The request target is longer than {limit} bytes: send fewer or "
          "shorter query parameters."),
    431: ("headers_too_large", "The request line and headers are larger than {limit} bytes "
          "together: send smaller headers."),
}


def refusal(status: int, path: str, limit: object) -> bytes:
    """The whole HTTP response refusing a request for ``path`` with ``status``."""
    request_id = f"req-{uuid.uuid4()}"
    own_code, template = REFUSALS[status]
    message = template.format(limit=limit)
    body: dict[str, Any]
    if is_corral_path(path):
        body = {"error": v1_entry(status, own_code, message, request_id=request_id)}
    else:
        body = {"errors": [{"status": status, "title": HTTPStatus(status).phrase,
                            "detail": message, "request_id": request_id,
                            "code": codes.UNDEFINED}]}
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n"
            f"x-openstack-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("latin-1") + payload


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring."""

    limits: ClassVar[EdgeLimits] = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self.url = b""  # the request target so far (uvicorn starts it at each request)
        self._refused = False
        self._in_headers = True  # waiting for a request's line and headers
        self._pending = 0  # bytes of the headers received so far
        self._begun = False  # a byte of the awaited request has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: dropped unread
        self._begun = True
        super().data_received(data)
        if self._in_headers and not self._refused and self.parser is not None:
            self._pending += len(data)
            if self._pending > self.limits.max_header_bytes:
                self._refuse(431, self.limits.max_header_bytes)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser's complaint about what was refused is moot
            super().send_400_response(msg)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes and not self._refused:
            self._refuse(414, self.limits.max_url_bytes)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse(431, self.limits.max_header_bytes)
            return
        self._in_headers, self._pending = False, 0
        self._arm(self.limits.body_timeout_s, self._body_late)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._in_headers, self._pending, self._begun = True, 0, False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._in_headers:
            self._arm(self.limits.header_timeout_s, self._headers_late)

    def _arm(self, seconds: float, then: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, then)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request in flight: its response re-arms the wait
        if self._begun:
            self._refuse(408, self.limits.header_timeout_s)
        elif not self.transport.is_closing():
            self.transport.close()  # idle: nothing to answer

    def _body_late(self) -> None:
        self._timer = None
        if self.cycle is not None and self.cycle.response_started:
            self.cycle.keep_alive = False
            if self.cycle.response_complete and not self.transport.is_closing():
                self.transport.close()
            return
        self._refuse(408, self.limits.body_timeout_s)

    def _refuse(self, status: int, limit: object) -> None:
        """Answer ``status`` at once, close the connection, ignore what else arrives."""
        self._refused = True
        self._disarm()
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive now sees a disconnect
            self.cycle.message_event.set()
            self.cycle.scope.setdefault("state", {})["refused"] = status  # for the envelope
        if self.transport.is_closing():
            return
        self.transport.write(refusal(status, path, limit))
        if self.transport.can_write_eof():
            # Closing now, with unread bytes of the client's, would reset the connection
            # and could lose the answer: say we are done, read nothing more (the client's
            # sends stall, costing us nothing), and close a little later.
            self.transport.write_eof()
            self.transport.pause_reading()
            self.loop.call_later(LINGER_S, self._close)
        else:
            self.transport.close()
        log.info("request_refused", status=status, path=path[:200], limit=limit,
                 client=self.client[0] if self.client else None)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def configure(settings: Settings) -> None:
    """Set the limits of every connection this process serves from now on."""
    EdgeProtocol.limits = EdgeLimits.of(settings)
