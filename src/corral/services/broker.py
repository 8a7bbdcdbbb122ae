"""A connection to a RabbitMQ cluster that heals itself: the thin layer aio-pika lacks.

aio-pika speaks AMQP well but connects to one URL, waits forever on a hung endpoint
unless told otherwise, takes about three heartbeat intervals to declare a silent
connection dead, and sets no TCP options. :class:`BrokerLink` adds what is missing:

- every node of the cluster in a list, tried in a shuffled order (clients do not all
  land on the first node), with jittered exponential backoff between rounds;
- a timeout on every connection attempt and an explicit AMQP heartbeat;
- TCP keepalive and ``TCP_USER_TIMEOUT`` on the socket, so a peer that vanished is
  noticed by the kernel as well as by the heartbeat;
- a watchdog (:meth:`BrokerLink.watch`) that makes a round trip to the broker every
  half heartbeat and declares the link dead when one does not come back within half a
  heartbeat: a frozen or half-open connection is detected within one heartbeat, where
  the library alone needs three.

The caller owns the retry loop: when anything raises :data:`LINK_ERRORS`, close the
link and connect again (see ``services/relay.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.connection import make_url
from aiormq.connection import TCPTransportFactory
from yarl import URL

log = structlog.get_logger("corral.broker")

# aiormq logs every failed connection attempt as an error with a traceback; the link
# logs each attempt once, as a warning naming the node (broker_connect_failed).
logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)

#: What a lost, refused, frozen or closed link raises.
LINK_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError, ConnectionError, OSError, asyncio.TimeoutError,
    RuntimeError)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


class BrokerLost(ConnectionError):
    """The watchdog's round trip did not come back in time."""


def _tune(sock: socket.socket, heartbeat_s: float) -> None:
    """Keepalive probes after a quiet heartbeat, and unacknowledged data bounded too."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = max(1, int(heartbeat_s))
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", max(1, idle // 3)),
                        ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", int(heartbeat_s * 1000))):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class _KeepaliveTransport(TCPTransportFactory):
    def __init__(self, heartbeat_s: float) -> None:
        self.heartbeat_s = heartbeat_s

    async def create(self, url: URL, **kwargs: Any
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await super().create(url, **kwargs)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            _tune(sock, self.heartbeat_s)
        return reader, writer


def _connection_class(heartbeat_s: float) -> type[aio_pika.Connection]:
    """aio-pika's connection, handing aiormq a transport that tunes its socket (an
    amqps:// URL keeps the library's own TLS transport)."""
    class TunedConnection(aio_pika.Connection):
        def __init__(self, url: URL, **kwargs: Any) -> None:
            super().__init__(url, **kwargs)
            if url.scheme == "amqp":
                self.kwargs["transport_factory"] = _KeepaliveTransport(heartbeat_s)
    return TunedConnection


class BrokerLink:
    """One connection, one confirming channel and the exchange, to any node of a list."""

    def __init__(self, urls: Sequence[str], *, exchange: str, heartbeat_s: float,
                 connect_timeout_s: float, name: str = "corral") -> None:
        if not urls:
            raise ValueError("no broker URL")
        self.urls = list(urls)
        self.exchange_name = exchange
        self.heartbeat_s = heartbeat_s
        self.connect_timeout_s = connect_timeout_s
        self.name = name
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchange: AbstractExchange | None = None
        #: The URL connected to (credentials hidden), for logs and tests.
        self.node: str | None = None
        self._failures = 0

    async def connect(self, stop: asyncio.Event | None = None) -> None:
        """Connect to the first node of a shuffled list that answers; after a round
        where none did, wait a jittered, growing delay and try again (until ``stop``)."""
        while stop is None or not stop.is_set():
            order = random.sample(self.urls, len(self.urls))
            for url in order:
                try:
                    await self._open(url)
                    self._failures = 0
                    return
                except LINK_ERRORS as exc:
                    log.warning("broker_connect_failed", node=_safe(url), error=str(exc))
                    await self.close()
            self._failures += 1
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(self._failures, 8))
            await _sleep(random.uniform(delay / 2, delay), stop)
        raise asyncio.CancelledError("stopped while connecting")

    async def _open(self, url: str) -> None:
        # As aio_pika.connect, but holding the connection: one that fails half-way is
        # closed here, on this loop (left to the garbage collector, aio-pika would
        # schedule its close on whatever thread collects it).
        connection = _connection_class(self.heartbeat_s)(
            make_url(url, heartbeat=int(self.heartbeat_s)),
            client_properties={"connection_name": self.name})
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await connection.connect(timeout=self.connect_timeout_s)
                channel = await connection.channel(publisher_confirms=True,
                                                   on_return_raises=True)
                exchange = await channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        except BaseException:
            self.connection = connection
            raise
        self.connection, self.channel, self.exchange = connection, channel, exchange
        self.node = _safe(url)
        log.info("broker_connected", node=self.node)

    async def watch(self) -> None:
        """Return never; raise :class:`BrokerLost` once a round trip to the broker does
        not come back within half a heartbeat (one is made every half heartbeat)."""
        half = self.heartbeat_s / 2
        while True:
            await asyncio.sleep(half)
            channel = self.channel
            if channel is None or channel.is_closed:
                raise BrokerLost("the channel is closed")
            try:
                async with asyncio.timeout(half):
                    await channel.declare_exchange(self.exchange_name, passive=True)
            except TimeoutError as exc:
                raise BrokerLost(f"no answer from {self.node} in {half:.1f} s") from exc

    async def close(self) -> None:
        connection, self.connection, self.channel, self.exchange = (
            self.connection, None, None, None)
        if connection is not None:
            try:
                async with asyncio.timeout(1.0):
                    await connection.close()
            except LINK_ERRORS:
                pass  # a dead peer does not answer the close: the socket goes anyway


def _safe(url: str) -> str:
    """The URL without its password."""
    parsed = URL(url)
    return str(parsed.with_password(None)) if parsed.password else url


async def _sleep(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
