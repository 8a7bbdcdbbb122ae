"""Errors at the edge: the one table from domain errors to (status, code), and the body.

Placement's error body is ``{"errors": [{"status", "title", "detail", "request_id",
"code"}]}``; ``code`` appears from microversion 1.23. Clients read ``detail``.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from starlette.responses import HTMLResponse, JSONResponse, Response

from corral.domain import codes, errors, quotas

#: Domain error class -> HTTP status. The first matching base wins (most specific first).
STATUS: list[tuple[type[errors.CorralError], int]] = [
    (errors.IdempotencyKeyReused, 422),
    (quotas.QuotaExceeded, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidInput, 400),
]


class ApiError(Exception):
    """An error decided at the edge (bad JSON, wrong media type, forbidden...)."""

    def __init__(self, status: int, detail: str, code: str = codes.UNDEFINED,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}


def status_for(exc: errors.CorralError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


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
