"""Entry point for ASGI servers: ``uvicorn --factory corral.api.asgi:app_from_environment``.

Settings come from the environment (``CORRAL_*``, ``CORRAL_CONFIG_FILE``), which is how
``corral serve --workers N`` hands them to each worker process.
"""

from __future__ import annotations

import asyncio
import gc
import socket

import structlog
from starlette.types import ASGIApp
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from corral.api import edge
from corral.api.app import create_app
from corral.config import Settings, load_settings, setting_origins
from corral.config_view import origins_from_environment
from corral.logging import configure_logging
from corral.services import memory

#: The server process's garbage collector thresholds (Python's default: 700, 10, 10).
#: A boot allocates thousands of containers that reference counting frees; with the
#: default, 16 boots in flight were caught by a young collection every few boots, what
#: survived two of them reached the old generation, and a full collection then walked
#: every object of the engine and host table: 140 ms at 10,000 hosts, twice per 2,000
#: boots, 0.2 ms a boot in all (docs/performance.md, issue 13).
SERVER_GC_THRESHOLDS = (10_000, 20, 10)


def app_from_environment() -> ASGIApp:
    memory.serve()  # before the thread pool's threads start
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    edge.configure(settings)  # the connections' limits (api/edge.py)
    if settings.auth_strategy == "noauth2":
        warn_noauth2(settings)
    # Where each option came from: what 'corral serve' passed, else the file and environment.
    app = create_app(settings, origins=origins_from_environment() or setting_origins())
    tune_gc()
    return app


def warn_noauth2(settings: Settings) -> None:
    """The loud warning of every process serving in noauth2 mode."""
    structlog.get_logger("corral.api").warning(
        "noauth2_enabled", host=settings.host,
        message="auth_strategy is noauth2: ANY caller may claim ANY identity, admin "
        "included. For tests and demos only; set auth_strategy = tokens (docs/access.md).")


def tune_gc() -> None:
    """The server process's collector: rarer young collections, so that the objects of
    the requests in flight die young. Only the server process: an application that
    embeds the app keeps its own. (Freezing what start-up built as well cost 20-30 MB
    of resident memory for nothing measurable.)"""
    gc.set_threshold(*SERVER_GC_THRESHOLDS)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

    With ``--workers N`` uvicorn binds the listening socket itself with protocol 0, and
    asyncio only turns TCP_NODELAY on for sockets created with IPPROTO_TCP. Responses
    written as headers then body then wait for the client's delayed ACK: about 40 ms
    added to every small response (measured; see docs/performance.md).
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
