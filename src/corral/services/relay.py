"""The relay: publishes the event outbox to RabbitMQ, never losing a committed event.

One relay publishes at a time, whatever the number of processes and hosts: it holds a
lease row in the database (``relay_leases``), renewed while it runs; a relay that dies
loses it when it expires and another takes over. The relay reads the unsent events in
id order, publishes each to the topic exchange (routing key: the event type; AMQP
``message_id``: the event's) persistent and ``mandatory``, on a channel with publisher
confirms, and stamps ``sent_at`` only once the broker confirmed, in a transaction that
first checks the lease is still its own. Anything unconfirmed (a lost connection, a
publish timeout, a crash between the confirm and the stamp) is published again, with
the same ``message_id``: delivery is at least once, and consumers drop duplicates by
``message_id``. An event no queue is bound for comes back (``basic.return``): it is
stamped as sent all the same (the broker had it and nobody listens; it stays readable
over ``GET /v1/events``) and counted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import aio_pika
import orjson
import structlog
from aiormq.exceptions import DeliveryError
from pamqp.commands import Basic
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from corral.config import Settings
from corral.domain.events import Event
from corral.persistence.clock import utcnow
from corral.services import events as event_log
from corral.services.broker import LINK_ERRORS, BrokerLink
from corral.services.stores import Store

log = structlog.get_logger("corral.relay")

LEASE = "relay"
BATCH = 200
IDLE_POLL_S = 0.2
TRIM_EVERY_S = 60.0


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or REGISTRY
        self.pending = Gauge("corral_events_pending", "Events the broker has not "
                             "confirmed yet.", registry=r)
        self.oldest_age = Gauge("corral_events_oldest_pending_age_seconds",
                                "Age of the oldest event not yet confirmed (0: none).",
                                registry=r)
        self.published = Counter("corral_events_published", "Events the broker "
                                 "confirmed.", registry=r)
        self.republished = Counter("corral_events_republished", "Events published again "
                                   "after their first publish went unconfirmed.", registry=r)
        self.unroutable = Counter("corral_events_unroutable", "Events the broker returned: "
                                  "no queue was bound for their type.", registry=r)
        self.confirm = Histogram("corral_events_confirm_seconds", "From publishing a batch "
                                 "to the broker's last confirm of it.", registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5))
        self.reconnects = Counter("corral_events_relay_link_lost", "Times the relay's "
                                  "broker connection was lost (then made again).", registry=r)
        self.leader = Gauge("corral_events_relay_leader", "1 while this process's relay "
                            "holds the lease.", registry=r)


class Relay:
    """Publishes pending events while it holds the lease; :meth:`run` until ``stop``."""

    def __init__(self, store: Store, settings: Settings, *,
                 metrics: RelayMetrics | None = None, lease_s: float = 15.0) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics or RelayMetrics(CollectorRegistry())
        self.lease_s = lease_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.link = BrokerLink(settings.brokers, exchange=settings.exchange,
                               heartbeat_s=settings.amqp_heartbeat_s,
                               connect_timeout_s=settings.amqp_connect_timeout_s,
                               name=f"corral-relay {self.holder}")
        self._tried: set[str] = set()  # published once, not yet confirmed
        #: When the link was lost (monotonic seconds), for tests and logs.
        self.lost: list[float] = []
        self._renewed = 0.0
        self._trimmed = 0.0

    # -- the lease ----------------------------------------------------------------------------

    def _take_lease(self) -> bool:
        now = utcnow()
        with self.store.write() as repo:
            held = repo.take_lease(LEASE, self.holder, now,
                                   now + timedelta(seconds=self.lease_s))
        self.metrics.leader.set(1 if held else 0)
        if held:
            self._renewed = time.monotonic()
        return held

    def _mark_sent(self, ids: Sequence[int]) -> bool:
        """Stamp ``ids`` sent if the lease is still ours (False: it is not)."""
        with self.store.write() as repo:
            if not repo.holds_lease(LEASE, self.holder, utcnow()):
                return False
            repo.mark_events_sent(ids, utcnow())
        return True

    def _pending(self) -> list[Event]:
        with self.store.read() as repo:
            count, oldest = repo.pending_summary()
            batch = repo.pending_events(BATCH) if count else []
        self.metrics.pending.set(count)
        self.metrics.oldest_age.set((utcnow() - oldest).total_seconds() if oldest else 0)
        return batch

    def _release(self) -> None:
        with self.store.write() as repo:
            repo.drop_lease(LEASE, self.holder)
        self.metrics.leader.set(0)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Lead and publish until ``stop``; reconnect on any broker failure."""
        try:
            while not stop.is_set():
                if not await asyncio.to_thread(self._take_lease):
                    await _wait(stop, self.lease_s / 3)
                    continue
                try:
                    await self.link.connect(stop)
                    await self._serve(stop)
                except LINK_ERRORS as exc:
                    self.lost.append(time.monotonic())
                    self.metrics.reconnects.inc()
                    log.warning("relay_link_lost", node=self.link.node, error=str(exc))
                finally:
                    await self.link.close()
        except asyncio.CancelledError:
            pass
        finally:
            await asyncio.to_thread(self._release)

    async def _serve(self, stop: asyncio.Event) -> None:
        """Publish while connected and leading; return when the lease is lost."""
        watchdog = asyncio.ensure_future(self.link.watch())
        try:
            while not stop.is_set():
                if watchdog.done():
                    watchdog.result()  # raises what killed the link
                if (time.monotonic() - self._renewed > self.lease_s / 3
                        and not await asyncio.to_thread(self._take_lease)):
                    log.warning("relay_lease_lost", holder=self.holder)
                    return
                await asyncio.to_thread(self._trim_if_due)
                batch = await asyncio.to_thread(self._pending)
                if not batch:
                    await _wait(stop, IDLE_POLL_S, watchdog)
                    continue
                sent = await self._publish(batch, watchdog)
                if not await asyncio.to_thread(self._mark_sent, sent):
                    log.warning("relay_lease_lost", holder=self.holder)
                    return
                self._tried.difference_update(e.message_id for e in batch)
        finally:
            watchdog.cancel()

    async def _publish(self, batch: list[Event], watchdog: asyncio.Future[None]) -> list[int]:
        """Publish ``batch`` in order; the ids of all of it once every confirm came."""
        exchange = self.link.exchange
        assert exchange is not None
        again = sum(1 for e in batch if e.message_id in self._tried)
        self._tried.update(e.message_id for e in batch)
        started = time.perf_counter()
        sends = [asyncio.ensure_future(exchange.publish(
            _message(e), routing_key=e.event_type, mandatory=True)) for e in batch]
        done: asyncio.Future[list[Any]] = asyncio.gather(*sends, return_exceptions=True)
        await self._confirmed(done, sends, watchdog)
        returned = 0
        for outcome in done.result():
            if isinstance(outcome, DeliveryError) and isinstance(outcome.frame, Basic.Return):
                returned += 1
            elif isinstance(outcome, BaseException):
                raise outcome
        self.metrics.confirm.observe(time.perf_counter() - started)
        self.metrics.published.inc(len(batch))
        self.metrics.republished.inc(again)
        self.metrics.unroutable.inc(returned)
        return [e.id for e in batch]

    async def _confirmed(self, done: asyncio.Future[list[Any]], sends: Sequence[asyncio.Future[Any]],
                         watchdog: asyncio.Future[None]) -> None:
        """Until every confirm of a batch came. A busy broker that keeps confirming is
        waited for; one that confirms nothing for ``publish_timeout_s`` is given up on
        (raises TimeoutError: the caller reconnects and publishes the batch again)."""
        timeout = self.settings.publish_timeout_s
        confirmed = 0
        while not done.done():
            await _first(timeout, done, watchdog)
            if watchdog.done():
                done.cancel()
                watchdog.result()
            now = sum(1 for f in sends if f.done())
            if not done.done() and now == confirmed:
                done.cancel()
                raise TimeoutError(f"no confirm within {timeout} s")
            confirmed = now

    def _trim_if_due(self) -> None:
        hours = self.settings.event_retention_hours
        if not hours or time.monotonic() - self._trimmed < TRIM_EVERY_S:
            return
        self._trimmed = time.monotonic()
        event_log.trim(self.store, hours * 3600, sent_only=True)

    # -- a thread of its own, for 'corral serve' -----------------------------------------------

    def start_thread(self) -> RelayThread:
        return RelayThread(self)


class Trimmer:
    """With no broker: trims the event log by its retention on a thread of its own
    (``keep``: trims nothing; another process relays and trims)."""

    def __init__(self, store: Store, settings: Settings, *, keep: bool = False) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, settings, keep),
                                        name="event-trim", daemon=True)
        self._thread.start()

    def _run(self, store: Store, settings: Settings, keep: bool) -> None:
        hours = 0 if keep else settings.event_retention_hours
        while hours and not self._stopped.wait(TRIM_EVERY_S):
            try:
                event_log.trim(store, hours * 3600, sent_only=False)
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("event_trim_failed")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._thread.join(timeout)


def start_in_server(store: Store, settings: Settings,
                    registry: CollectorRegistry) -> RelayThread | Trimmer:
    """What 'corral serve' runs for events: the relay when a broker is configured and
    ``relay_in_serve`` is on; with no broker, the retention trimmer (with a broker and
    the relay elsewhere, 'corral relay' trims)."""
    if not settings.brokers:
        return Trimmer(store, settings)
    if settings.relay_in_serve:
        return Relay(store, settings, metrics=RelayMetrics(registry)).start_thread()
    return Trimmer(store, settings, keep=True)


class RelayThread:
    """The relay on a thread with an event loop of its own (the server's loop serves
    requests); :meth:`stop` ends it and releases the lease."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="event-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.relay.run(self._stop))

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


def _message(event: Event) -> aio_pika.Message:
    return aio_pika.Message(
        orjson.dumps(event.message()), message_id=event.message_id,
        content_type="application/json", type=event.event_type,
        timestamp=event.created_at, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        app_id="corral")


async def _wait(stop: asyncio.Event, seconds: float,
                also: asyncio.Future[Any] | None = None) -> None:
    """Until ``stop`` is set, ``also`` is done, or ``seconds`` passed."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await _first(seconds, stopped, *(() if also is None else (also,)))
    finally:
        stopped.cancel()


async def _first(seconds: float, *futures: asyncio.Future[Any]) -> None:
    """Until one of ``futures`` is done, or ``seconds`` passed."""
    await asyncio.wait(set(futures), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
