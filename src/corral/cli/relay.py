"""``corral relay``: publish the event log to RabbitMQ, as a process of its own.

Also the start and the run of every such broker process (``corral consume`` too): the
configured store, upgraded, and a loop that runs until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from corral.cli.context import fail, out, settings
from corral.config import Settings
from corral.logging import redact
from corral.services import relay as svc
from corral.services import system
from corral.services.stores import Store


@contextmanager
def broker_process() -> Iterator[tuple[Settings, Store]]:
    """The settings (a service's) and the store of a process that works on the database
    and the broker; refuses (exit 1) with no broker or a schema that is behind."""
    conf = settings(service=True)
    if not conf.brokers:
        fail("no broker is configured: set broker_urls ([events]) or CORRAL_BROKER_URLS")
    store = system.open_store(conf)
    try:
        try:
            system.prepare(store, conf)
        except system.SchemaBehind as exc:
            fail(str(exc))
        yield conf, store
    finally:
        store.dispose()


def run_until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """``run(stop)`` on an event loop; SIGTERM and SIGINT set ``stop``."""
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)
    asyncio.run(main())


def relay_command() -> None:
    """Publish events to RabbitMQ until stopped (SIGTERM or Ctrl-C); one relay at a
    time across every process and host (the others wait for the lease)."""
    with broker_process() as (conf, store):
        relay = svc.Relay(store, conf, metrics=svc.RelayMetrics())
        out.print(f"relaying events to {', '.join(redact(u) for u in conf.brokers)} "
                  f"(exchange {conf.exchange!r}) as {relay.holder}", highlight=False)
        run_until_signalled(relay.run)
