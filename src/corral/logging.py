"""structlog set-up: JSON for machines, console for people, levels from settings.

Every line is scrubbed of secrets before it is written (:func:`redact`): stored token
secrets (``corral_...``) and the password of any URL. Tracebacks never show local
variables (a request's locals hold its headers, token included): the console renderer
prints a plain traceback, the JSON renderer the formatted exception text. uvicorn's own
loggers (the standard library's) get the same scrubbing.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}

#: A stored token's secret: the prefix, then ``secrets.token_urlsafe(32)`` (43 characters).
#: Shorter ``corral_`` words (metric names, database names) are not secrets.
_TOKEN = re.compile(r"corral_[A-Za-z0-9_-]{40,}")
#: ``scheme://user:password@host``: keep the user, drop the password.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def redact(text: str) -> str:
    """``text`` without token secrets or URL passwords (each replaced by ``***``)."""
    if "corral_" in text:
        text = _TOKEN.sub("corral_***", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    return text


def _redacting(renderer: Any) -> Any:
    """Wrap the final renderer so that what it writes is scrubbed (tracebacks included)."""
    def render(logger: Any, name: str, event: Any) -> Any:
        rendered = renderer(logger, name, event)
        return redact(rendered) if isinstance(rendered, str) else rendered

    return render


class RedactingFormatter(logging.Formatter):
    """A standard-library formatter whose output is scrubbed like structlog's."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def _scrub_stdlib(names: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, RedactingFormatter):
                handler.setFormatter(RedactingFormatter(handler.formatter))


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    renderer: structlog.typing.Processor
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        # The traceback as text: never dict_tracebacks, which carries frame locals.
        processors.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        # The default exception formatter (rich, when installed) shows locals.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(
        processors=[*processors, _redacting(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # Look sys.stderr up per logger: tests and embedders may swap the stream.
        logger_factory=lambda *_args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _scrub_stdlib()
