"""corral's own consumer against the real 3-node RabbitMQ cluster.

A poison event (one the handler refuses every time) is dead-lettered to ``<queue>.dead``
after the delivery limit instead of looping; a ``corral consume`` process killed with
SIGKILL while it holds unacked deliveries leaves no connection, channel or queue behind
on the cluster, and the other consumer handles everything it held, each event once.
The figures printed are recorded in docs/events.md.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from corral.domain.inbox import Delivered
from corral.persistence import Store
from corral.services.relay import Relay
from corral.services.stores import Repo
from corral.services.topology import dead_letter_queue

from .conftest import clean_env, corral_command, store_url
from .rabbit import CorralConsumer, inbox_ids
from .rabbit_cluster import Cluster
from .test_event_relay import HEARTBEAT_S, commit_events, relay_settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rabbit")]


def _queues(cluster: Cluster) -> dict[str, tuple[int, int]]:
    """Every queue of the cluster: (messages, consumers) by name."""
    listed = cluster.ctl(cluster.nodes[0], "list_queues", "name", "messages", "consumers", "-q")
    queues = {}
    for line in listed.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].strip().isdigit():  # not the header line
            queues[parts[0].strip()] = (int(parts[1]), int(parts[2]))
    return queues


def _until(what: str, check: object, timeout: float) -> float:
    """Seconds until ``check()`` is true (polled); fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_poison_event_is_dead_lettered_after_the_delivery_limit(
        store: Store, rabbit: Cluster, tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}").model_copy(
        update={"consume_delivery_limit": 3})
    attempts: list[str] = []

    def refuse_poison(_repo: Repo, event: Delivered) -> None:
        if event.payload.get("n") == 7:
            attempts.append(event.message_id)
            raise ValueError("this event makes the handler fail, every time")

    consumer = CorralConsumer(store, settings, handlers=[refuse_poison])
    relay = Relay(store, settings).start_thread()
    try:
        ids = commit_events(store, 20)
        poison = ids[7]
        assert consumer.wait_for(set(ids) - {poison}, 60) == set()
        dead = dead_letter_queue(settings.consume_queue)
        _until("the poison event in the dead-letter queue",
               lambda: _queues(rabbit).get(dead, (0, 0))[0] == 1, 60)
        assert _queues(rabbit)[settings.consume_queue][0] == 0  # not looping
        assert poison not in consumer.inbox()
        assert attempts == [poison] * (settings.consume_delivery_limit + 1)
        assert int(consumer.consumer.metrics.dead_lettered._value.get()) == 1
        print(f"\npoison event: refused {len(attempts)} times (x-delivery-limit "
              f"{settings.consume_delivery_limit}), then dead-lettered to {dead}; "
              f"the {len(ids) - 1} others handled once each")
    finally:
        relay.stop()
        consumer.stop()


def _consume_process(store: Store, queue: str, urls: str, exchange: str, tmp_path: Path,
                     log_name: str) -> subprocess.Popen[bytes]:
    env = {**clean_env(tmp_path), "CORRAL_DATABASE_URL": store_url(store),
           "CORRAL_BROKER_URLS": urls, "CORRAL_EXCHANGE": exchange,
           "CORRAL_CONSUME_QUEUE": queue, "CORRAL_CONSUME_PREFETCH": "100",
           "CORRAL_AMQP_HEARTBEAT_S": str(HEARTBEAT_S), "CORRAL_LOG_LEVEL": "warning"}
    log = (tmp_path / log_name).open("ab")
    return subprocess.Popen(corral_command("consume"), env=env, stdout=log, stderr=log,
                            start_new_session=True)


def _connection_of(cluster: Cluster, pid: int) -> str | None:
    """The broker's name of the connection of process ``pid`` (None: it has none)."""
    listed = cluster.ctl(cluster.nodes[0], "list_connections", "name", "client_properties",
                         "-q")
    for line in listed.splitlines():
        if f":{pid}:" in line:
            return line.split("\t")[0].strip()
    return None


def _channels_of(cluster: Cluster, connection: str) -> int:
    listed = cluster.ctl(cluster.nodes[0], "list_channels", "name", "-q")
    return sum(1 for line in listed.splitlines() if line.strip().startswith(connection))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_consumer_that_goes_away_for_good_leaves_nothing_behind(
        store: Store, rabbit: Cluster, tmp_path: Path) -> None:
    """Two ``corral consume`` processes share the queue; one is killed with SIGKILL
    while events stream in and is never restarted."""
    settings = relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}")
    queue = settings.consume_queue
    args = (store, queue, settings.broker_urls, settings.exchange, tmp_path)
    consumers = [_consume_process(*args, f"consume{i}.log") for i in range(2)]
    relay = Relay(store, settings).start_thread()
    try:
        names = {p.pid: _wait_connection(rabbit, p.pid) for p in consumers}
        _until("both consumers on the queue",
               lambda: _queues(rabbit).get(queue, (0, 0))[1] == 2, 60)
        ids: list[str] = []
        writer = threading.Thread(target=lambda: ids.extend(
            commit_events(store, 800, pause_s=0.01)), daemon=True)
        writer.start()
        _until("some events consumed", lambda: len(inbox_ids(store)) > 100, 60)
        victim = consumers[0]
        victim.kill()
        victim.wait(10)
        gone = _until("the killed consumer's connection closed",
                      lambda: _connection_of(rabbit, victim.pid) is None, 10 * HEARTBEAT_S)
        assert _channels_of(rabbit, names[victim.pid]) == 0
        writer.join(120)
        _until("every event in the inbox", lambda: inbox_ids(store) >= set(ids), 120)
        assert inbox_ids(store) == set(ids)  # each once: the inbox's key is the message_id
        drained = _until("the queue drained (duplicates dropped, all acked)",
                         lambda: _queues(rabbit)[queue][0] == 0, 60)
        left = {n: q for n, q in _queues(rabbit).items() if settings.exchange in n
                or n.startswith("amq.gen")}
        assert left == {queue: (0, 1), dead_letter_queue(queue): (0, 0)}, left
        print(f"\na consumer killed with SIGKILL for good: its connection and channels "
              f"gone from the cluster in {gone:.2f} s (heartbeat {HEARTBEAT_S} s), no queue "
              f"of its own left; {len(ids)} events, 0 lost, each in the inbox once (queue drained "
              f"{drained:.1f} s after the last one arrived)")
    finally:
        relay.stop()
        for p in consumers:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        for name in (queue, dead_letter_queue(queue)):
            rabbit.ctl(rabbit.nodes[0], "delete_queue", name)


def _wait_connection(cluster: Cluster, pid: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (name := _connection_of(cluster, pid)) is not None:
            return name
        time.sleep(0.3)
    raise AssertionError(f"consumer {pid} did not connect")
