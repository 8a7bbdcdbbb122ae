"""Entry point for ASGI servers: ``uvicorn --factory corral.api.asgi:app_from_environment``.

Settings come from the environment (``CORRAL_*``, ``CORRAL_CONFIG_FILE``), which is how
``corral serve --workers N`` hands them to each worker process.
"""

from __future__ import annotations

import asyncio
import socket

from starlette.types import ASGIApp
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from corral.api.app import create_app
from corral.config import load_settings
from corral.logging import configure_logging
from corral.services import memory


def app_from_environment() -> ASGIApp:
    memory.serve()  # before the thread pool's threads start
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


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
