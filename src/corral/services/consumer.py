"""corral's own event consumer: idempotent by ``message_id``, acked after commit.

Every ``corral consume`` process reads the one durable quorum queue corral declares
for itself (``services/topology.py``), so several processes share the work and one
that dies hands its unacked deliveries to the others. Each delivery is handled in one
database transaction that first writes the event's row in the inbox
(``persistence/inbox.py``): a ``message_id`` already there is a duplicate (delivery is
at least once) and is acked without being handled again. The broker gets the ack only
after the transaction committed; a consumer killed in between gets the message again,
and its inbox row (committed or not) decides. A delivery that fails (a body that is no
event, a handler that raises) is returned to the queue; after ``x-delivery-limit``
deliveries the broker dead-letters it to ``<queue>.dead`` instead of looping.

What an event does is the handlers' business (:data:`Handler`: called inside the
transaction, with the Repo and the event): corral registers none yet; the usage records
will be one. The link heals itself through :class:`~corral.services.broker.BrokerLink`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from corral.config import Settings
from corral.domain import errors
from corral.domain.inbox import Delivered
from corral.persistence.clock import utcnow
from corral.services import topology
from corral.services.broker import LINK_ERRORS, BrokerLink, BrokerLost
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.consumer")

#: What the consumer does with an event, inside the transaction that writes its inbox
#: row (raise to refuse it: it is returned to the queue, dead-lettered at the limit).
Handler = Callable[[Repo, Delivered], None]

TRIM_EVERY_S = 60.0
STORE_RETRY_S = 1.0


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or REGISTRY
        self.consumed = Counter("corral_consumer_consumed", "Events handled and "
                                "committed (each once, whatever the deliveries).", registry=r)
        self.duplicates = Counter("corral_consumer_duplicates", "Deliveries dropped: "
                                  "their message_id was in the inbox already.", registry=r)
        self.failed = Counter("corral_consumer_failed", "Deliveries returned to the queue: "
                              "not an event, or a handler raised.", registry=r)
        self.dead_lettered = Counter("corral_consumer_dead_lettered", "Deliveries returned "
                                     "for the last time: the broker dead-letters them.",
                                     registry=r)
        self.lag = Gauge("corral_consumer_lag_seconds", "From an event's timestamp to its "
                         "commit by the consumer (the last one handled).", registry=r)
        self.queue_messages = Gauge("corral_consumer_queue_messages", "Messages ready in the "
                                    "consumer's queue, as last seen.", registry=r)
        self.reconnects = Counter("corral_consumer_link_lost", "Times the consumer's broker "
                                  "connection was lost (then made again).", registry=r)


class Consumer:
    """Consumes corral's queue into the inbox and the handlers; :meth:`run` until stop."""

    def __init__(self, store: Store, settings: Settings, *, handlers: Sequence[Handler] = (),
                 metrics: ConsumerMetrics | None = None) -> None:
        self.store = store
        self.settings = settings
        self.handlers = tuple(handlers)
        self.metrics = metrics or ConsumerMetrics(CollectorRegistry())
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.link = BrokerLink(settings.brokers, exchange=settings.exchange,
                               heartbeat_s=settings.amqp_heartbeat_s,
                               connect_timeout_s=settings.amqp_connect_timeout_s,
                               name=f"corral-consumer {self.name}")
        #: When the link was lost (monotonic seconds), for tests and logs.
        self.lost: list[float] = []
        #: True while the queue is consumed (declared, bound, deliveries flowing).
        self.consuming = False
        self._trimmed = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; reconnect on any broker failure."""
        while not stop.is_set():
            try:
                await self.link.connect(stop)
                await self._serve(stop)
            except asyncio.CancelledError:
                if not stop.is_set():
                    raise
            except LINK_ERRORS as exc:
                self.lost.append(time.monotonic())
                self.metrics.reconnects.inc()
                log.warning("consumer_link_lost", node=self.link.node, error=str(exc))
            finally:
                await self.link.close()

    async def _serve(self, stop: asyncio.Event) -> None:
        channel, exchange = self.link.channel, self.link.exchange
        assert channel is not None and exchange is not None
        await channel.set_qos(prefetch_count=self.settings.consume_prefetch)
        queue = await topology.declare_consumer_queue(
            channel, exchange, self.settings.consume_queue, self.settings.consume_keys,
            delivery_limit=self.settings.consume_delivery_limit)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put)
        self.consuming = True
        log.info("consumer_ready", queue=queue.name, node=self.link.node)
        tasks = {asyncio.ensure_future(self._watch(queue)),
                 asyncio.ensure_future(self._drain(inbox)),
                 asyncio.ensure_future(stop.wait())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what killed the link
        finally:
            self.consuming = False
            for task in tasks:
                task.cancel()

    async def _watch(self, queue: AbstractQueue) -> None:
        """The link's watchdog (a round trip every half heartbeat, one that does not
        come back within half a heartbeat is a dead link), which also reads the
        queue's depth."""
        half = self.link.heartbeat_s / 2
        channel = self.link.channel
        assert channel is not None
        while True:
            await asyncio.sleep(half)
            if channel.is_closed:
                raise BrokerLost("the channel is closed")
            try:
                async with asyncio.timeout(half):
                    seen = await channel.declare_queue(queue.name, passive=True)
            except TimeoutError as exc:
                raise BrokerLost(f"no answer from {self.link.node} in {half:.1f} s") from exc
            count = getattr(seen.declaration_result, "message_count", None)
            if count is not None:
                self.metrics.queue_messages.set(count)

    async def _drain(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> None:
        """Handle deliveries one at a time, in the order they came."""
        while True:
            message = await inbox.get()
            try:
                fresh = await self._handle(message)
            except Exception as exc:  # noqa: BLE001 - counted, logged, returned to the queue
                await self._refuse(message, exc)
                continue
            if fresh:
                self.metrics.consumed.inc()
            else:
                self.metrics.duplicates.inc()
            await message.ack()  # a dead link raises: the message comes again

    async def _handle(self, message: AbstractIncomingMessage) -> bool:
        """Commit ``message``'s event; while the database is away, hold the delivery
        and try again (returning it would count against its delivery limit)."""
        event = _delivered(message)
        while True:
            try:
                return await asyncio.to_thread(self._commit, event)
            except errors.StoreUnavailable as exc:
                log.warning("consumer_store_unavailable", reason=exc.reason)
                await asyncio.sleep(STORE_RETRY_S)

    def _commit(self, event: Delivered) -> bool:
        """Handle ``event`` and write its inbox row in one transaction; False: a
        duplicate (nothing handled)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.store.write() as repo:
            if not repo.record_inbox(event, now):
                return False
            for handler in self.handlers:
                handler(repo, event)
        self.metrics.lag.set(max(0.0, (now - event.created_at).total_seconds()))
        self._trim_if_due()
        return True

    async def _refuse(self, message: AbstractIncomingMessage, exc: Exception) -> None:
        before = message.headers.get("x-delivery-count")
        returns = int(before) if isinstance(before, int) else 0
        last = returns + 1 > self.settings.consume_delivery_limit
        self.metrics.failed.inc()
        if last:
            self.metrics.dead_lettered.inc()
        log.warning("consumer_event_refused", message_id=message.message_id,
                    routing_key=message.routing_key, deliveries=returns + 1,
                    dead_lettered=last, error=str(exc))
        await message.nack(requeue=True)

    def _trim_if_due(self) -> None:
        hours = self.settings.event_retention_hours
        if not hours or time.monotonic() - self._trimmed < TRIM_EVERY_S:
            return
        self._trimmed = time.monotonic()
        with self.store.write() as repo:
            gone = repo.trim_inbox(utcnow() - timedelta(hours=hours))
        if gone:
            log.info("inbox_trimmed", rows=gone)


class NotAnEvent(ValueError):
    """A delivery whose body is not an event corral can read."""


def _delivered(message: AbstractIncomingMessage) -> Delivered:
    """The event a delivery carries (raises NotAnEvent)."""
    try:
        body: Any = orjson.loads(message.body)
        stamp = datetime.fromisoformat(str(body["timestamp"]).removesuffix("Z"))
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        event = Delivered(str(body["message_id"]), str(body["event_type"]),
                          str(body["object_type"]), str(body["object_id"]), stamp,
                          str(body["payload_version"]), dict(body["payload"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NotAnEvent(f"not an event: {exc}") from exc
    if message.message_id is not None and message.message_id != event.message_id:
        raise NotAnEvent(f"message_id {message.message_id!r} != body's {event.message_id!r}")
    return event
