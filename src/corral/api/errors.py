"""Errors at the edge: the one table from domain errors to (status, code), and the bodies.

Placement's error body is ``{"errors": [{"status", "title", "detail", "request_id",
"code"}]}``; ``code`` appears from microversion 1.23. Clients read ``detail``.
corral's own API (/v1, and every other route that is not Placement's) answers
``{"error": {"status", "code", "message", "field", "request_id"}}``.

A store that cannot answer (``StoreUnavailable``) is a 503 with ``Retry-After``: the
client did nothing wrong and may retry.
"""

from __future__ import annotations

import html
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import structlog
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from corral.domain import codes, errors, quotas
from corral.domain.keystone import IdentityUnavailable

#: Domain error class -> HTTP status. The first matching base wins (most specific first).
STATUS: list[tuple[type[errors.CorralError], int]] = [
    (errors.IdempotencyKeyReused, 422),
    (quotas.QuotaExceeded, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidInput, 400),
    (errors.StoreUnavailable, 503),
    (IdentityUnavailable, 503),
]

#: The code of an unexpected error on corral's own API (Placement's is its undefined code).
INTERNAL = "internal_error"
UNEXPECTED_DETAIL = ("An unexpected error occurred; nothing is known to have been changed. "
                     "Quote the request id {request_id} when reporting it.")


class ApiError(Exception):
    """An error decided at the edge (bad JSON, wrong media type, forbidden...)."""

    def __init__(self, status: int, detail: str, code: str = codes.UNDEFINED,
                 headers: dict[str, str] | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}
        self.field = field


def status_for(exc: errors.CorralError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


log = structlog.get_logger("corral.api")


def headers_for(exc: errors.CorralError) -> dict[str, str]:
    """Headers a domain error adds to its response (Retry-After on a 503), and the log
    line an operator needs when it is the store's fault (the driver's reason, which the
    client is not shown)."""
    if isinstance(exc, errors.StoreUnavailable):
        log.warning("store_unavailable", reason=exc.reason, retry_after_s=exc.retry_after_s)
        return {"retry-after": str(exc.retry_after_s)}
    if isinstance(exc, IdentityUnavailable):
        log.warning("identity_unavailable", reason=exc.reason, retry_after_s=exc.retry_after_s)
        return {"retry-after": str(exc.retry_after_s)}
    return {}


def header_value(text: str) -> str:
    """``text`` made safe for an HTTP header: percent-encode anything that is not
    printable ASCII (header values are bytes; a name in Japanese must not be a 500)."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe="".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%"))


def note_error(scope: Scope, code: str) -> None:
    """Record an error's code for the request's access log line (api/envelope.py)."""
    scope.setdefault("state", {})["error_code"] = code


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def error_response(status: int, detail: str, *, request_id: str, code: str | None,
                   headers: dict[str, str] | None = None, want_html: bool = False,
                   extra: dict[str, object] | None = None) -> Response:
    """Build the Placement error body; ``code=None`` leaves it out (before 1.23).

    ``extra`` adds fields to the error entry (the supported range on a 406 for an
    unacceptable microversion).
    """
    title = HTTPStatus(status).phrase
    if want_html:
        body = (f"<html><head><title>{status} {title}</title></head><body>"
                f"<h1>{status} {title}</h1>{html.escape(detail)}</body></html>")
        return HTMLResponse(body, status_code=status, headers=headers)
    entry: dict[str, object] = {"status": status, "title": title, "detail": detail,
                                "request_id": request_id}
    if code is not None:
        entry["code"] = code
    entry.update(extra or {})
    return JSONResponse({"errors": [entry]}, status_code=status, headers=headers)


def v1_entry(status: int, code: str, message: str, *, request_id: str | None,
             field: str | None = None) -> dict[str, Any]:
    """The ``error`` object of a corral (/v1) error body."""
    return {"status": status, "code": code, "message": message, "field": field,
            "request_id": request_id}


def v1_response(status: int, code: str, message: str, *, request_id: str | None,
                field: str | None = None, headers: dict[str, str] | None = None,
                extra: dict[str, Any] | None = None) -> JSONResponse:
    """A corral (/v1) error response."""
    entry = v1_entry(status, code, message, request_id=request_id, field=field)
    entry.update(extra or {})
    return JSONResponse({"error": entry}, status_code=status, headers=headers)
