"""``corral relay``: publish the event log to RabbitMQ, as a process of its own."""

from __future__ import annotations

import asyncio
import signal

from corral.cli.context import fail, out, settings
from corral.logging import redact
from corral.services import relay as svc
from corral.services import system


def relay_command() -> None:
    """Publish events to RabbitMQ until stopped (SIGTERM or Ctrl-C); one relay at a
    time across every process and host (the others wait for the lease)."""
    conf = settings(service=True)
    if not conf.brokers:
        fail("no broker is configured: set broker_urls ([events]) or CORRAL_BROKER_URLS")
    store = system.open_store(conf)
    try:
        system.prepare(store, conf)
    except system.SchemaBehind as exc:
        store.dispose()
        fail(str(exc))
    relay = svc.Relay(store, conf, metrics=svc.RelayMetrics())
    out.print(f"relaying events to {', '.join(redact(u) for u in conf.brokers)} "
              f"(exchange {conf.exchange!r}) as {relay.holder}", highlight=False)
    try:
        asyncio.run(_run(relay))
    finally:
        store.dispose()


async def _run(relay: svc.Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await relay.run(stop)
