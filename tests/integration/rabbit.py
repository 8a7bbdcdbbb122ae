"""Fixtures and tools for the event tests against a real RabbitMQ cluster.

``rabbit`` is one 3-node cluster per test session (``rabbit_cluster.py``; registered in
conftest.py, so every module shares it: do not import it into a test module), for the
tests marked ``xdist_group("rabbit")`` (one xdist worker runs them all, so a run starts
one cluster). :class:`Listener` is an outside consumer as the docs tell one to write:
its own durable quorum queue bound to the exchange, manual acks, reconnecting through
the same failover link the relay uses, and counting every delivery so a test can tell
lost events from duplicates. :class:`CorralConsumer` runs corral's own consumer on a
thread: its inbox is what the fault tests count after.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)
from sqlalchemy import text

from corral.config import Settings
from corral.persistence import Store
from corral.services.broker import LINK_ERRORS, BrokerLink
from corral.services.consumer import Consumer, Handler
from corral.services.topology import dead_letter_queue

from . import rabbit_cluster
from .rabbit_cluster import Cluster


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    why = rabbit_cluster.available()
    if why is not None:
        require_service("RabbitMQ", why)
    cluster = Cluster(Path(tmp_path_factory.mktemp("rabbit")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class Listener:
    """Consumes ``queue`` (bound to every event type) on a thread of its own."""

    def __init__(self, urls: list[str], exchange: str, queue: str, heartbeat_s: float) -> None:
        self.link = BrokerLink(urls, exchange=exchange, heartbeat_s=heartbeat_s,
                               connect_timeout_s=heartbeat_s, name=f"listener {queue}")
        self.queue = queue
        self.deliveries: Counter[str] = Counter()
        self.order: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._run(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(60), "the listener did not connect"

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.link.connect(self._stop)
                assert self.link.channel is not None and self.link.exchange is not None
                await self.link.channel.set_qos(prefetch_count=100)
                queue = await self.link.channel.declare_queue(
                    self.queue, durable=True, arguments={"x-queue-type": "quorum"})
                await queue.bind(self.link.exchange, routing_key="#")
                await queue.consume(self._on_message)
                self._ready.set()
                watchdog = asyncio.ensure_future(self.link.watch())
                stopped = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait({watchdog, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if watchdog.done():
                    watchdog.result()
                watchdog.cancel()
            except LINK_ERRORS:
                pass  # reconnect
            finally:
                await self.link.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        assert message.message_id is not None
        with self._lock:
            self.deliveries[message.message_id] += 1
            if self.deliveries[message.message_id] == 1:
                self.order.append(message.message_id)
        # A stale delivery tag after a reconnect fails: the message comes again.
        with contextlib.suppress(*LINK_ERRORS):
            await message.ack()

    def received(self) -> set[str]:
        with self._lock:
            return set(self.deliveries)

    def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """The ids of ``ids`` still missing after waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = ids - self.received()
            if not missing:
                return missing
            time.sleep(0.1)
        return ids - self.received()

    def stop(self, delete_queue: bool = True) -> None:
        async def finish() -> None:
            if delete_queue and self.link.channel is not None:
                await self.link.channel.queue_delete(self.queue)
            self._stop.set()
        try:
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result(10)
        except Exception:  # noqa: BLE001 - the link may be down; the stop still goes
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


class CorralConsumer:
    """corral's own consumer (``services/consumer.py``) on a thread of its own, over the
    test's store: what the fault tests count after (its inbox, its metrics)."""

    def __init__(self, store: Store, settings: Settings, *, handlers: Sequence[Handler] = ()
                 ) -> None:
        self.store = store
        self.consumer = Consumer(store, settings, handlers=handlers)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self.consumer.run(self._stop),), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self.consumer.consuming:
            assert time.monotonic() < deadline, "corral's consumer did not start consuming"
            time.sleep(0.05)

    @property
    def consumed(self) -> int:
        return int(self.consumer.metrics.consumed._value.get())

    @property
    def duplicates(self) -> int:
        return int(self.consumer.metrics.duplicates._value.get())

    def inbox(self) -> set[str]:
        return inbox_ids(self.store)

    def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """The ids of ``ids`` not in the inbox after waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (missing := ids - self.inbox()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return missing

    def stop(self, delete_queues: bool = True) -> None:
        async def finish() -> None:
            channel = self.consumer.link.channel
            if delete_queues and channel is not None:
                queue = self.consumer.settings.consume_queue
                for name in (queue, dead_letter_queue(queue)):
                    await channel.queue_delete(name)
            self._stop.set()
        try:
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result(10)
        except Exception:  # noqa: BLE001 - the link may be down; the stop still goes
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def inbox_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT message_id FROM event_inbox"))}


__all__ = ["CorralConsumer", "Listener", "aio_pika", "inbox_ids", "rabbit"]
