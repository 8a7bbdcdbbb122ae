"""The relay against a real 3-node RabbitMQ cluster, with real faults.

Events are committed to the outbox while the fault happens; a listener (an outside
consumer with its own quorum queue) counts every delivery. After each fault: every
committed event was delivered, duplicates only for what was unconfirmed (the listener
drops them by ``message_id``), and the fault was detected within twice the heartbeat.
Heartbeats are a few seconds here so the matrix runs in minutes. The figures each test
prints are recorded in docs/events.md.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.config import Settings
from corral.domain.events import NewEvent
from corral.persistence import Store
from corral.persistence.clock import utcnow
from corral.services import events as event_log
from corral.services.relay import Relay, RelayThread

from .rabbit import Listener, rabbit
from .rabbit_cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rabbit")]

HEARTBEAT_S = 4
__all__ = ["rabbit"]


def commit_events(store: Store, count: int, *, per_tx: int = 10, pause_s: float = 0.0,
                  objects: int = 5) -> list[str]:
    """Commit ``count`` events, ``per_tx`` per transaction; their message ids in order."""
    ids: list[str] = []
    for start in range(0, count, per_tx):
        batch = [NewEvent(str(uuid.uuid4()), "test.event.happened", "thing",
                          f"t{(start + k) % objects}", {"n": start + k}, utcnow())
                 for k in range(min(per_tx, count - start))]
        with store.write() as repo:
            event_log.write(repo, batch)
        ids.extend(e.message_id for e in batch)
        if pause_s:
            time.sleep(pause_s)
    return ids


def relay_settings(tmp_path: Path, cluster: Cluster, exchange: str,
                   urls: list[str] | None = None) -> Settings:
    return Settings(data_dir=str(tmp_path), broker_urls=",".join(urls or cluster.urls),
                    exchange=exchange, amqp_heartbeat_s=HEARTBEAT_S,
                    amqp_connect_timeout_s=HEARTBEAT_S, publish_timeout_s=HEARTBEAT_S)


class Rig:
    """A relay thread and a listener on one exchange of the shared cluster."""

    def __init__(self, store: Store, settings: Settings, cluster: Cluster) -> None:
        self.store = store
        self.cluster = cluster
        self.listener = Listener(cluster.urls, settings.exchange,
                                 f"listen-{settings.exchange}", HEARTBEAT_S)
        self.relay = Relay(store, settings, lease_s=3 * HEARTBEAT_S)
        self.thread: RelayThread = self.relay.start_thread()

    def relay_node(self, timeout: float = 30.0) -> int:
        """The index of the node the relay is connected to (waits for a connection)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.relay.link.node
            if node is not None:
                return next(i for i, n in enumerate(self.cluster.nodes)
                            if f":{n.amqp_port}/" in node)
            time.sleep(0.05)
        raise AssertionError("the relay did not connect")

    def unsent(self) -> int:
        with self.store.read() as repo:
            return repo.pending_summary()[0]

    def settle(self, ids: list[str], timeout: float = 60.0) -> None:
        """Every id delivered and stamped sent; none delivered twice after dedupe."""
        missing = self.listener.wait_for(set(ids), timeout)
        assert not missing, f"{len(missing)} of {len(ids)} committed events never arrived"
        deadline = time.monotonic() + timeout
        while self.unsent() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.unsent() == 0

    def stop(self) -> None:
        self.thread.stop()
        self.listener.stop()


@pytest.fixture
def rig(store: Store, rabbit: Cluster, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(store, relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}"), rabbit)
    yield r
    r.stop()


def test_every_committed_event_arrives_once_in_order(rig: Rig) -> None:
    ids = commit_events(rig.store, 600)
    rig.settle(ids)
    assert rig.listener.order == ids
    assert max(rig.listener.deliveries.values()) == 1
    assert rig.relay.metrics.published._value.get() == 600


def _in_background(store: Store, count: int) -> tuple[threading.Thread, list[str]]:
    ids: list[str] = []
    thread = threading.Thread(target=lambda: ids.extend(
        commit_events(store, count, pause_s=0.01)), daemon=True)
    thread.start()
    return thread, ids


def _detected_within(rig: Rig, before: str | None, since: float) -> float:
    """Seconds from ``since`` until the relay is connected to a node other than
    ``before`` (or reconnected at all, when ``before`` is None)."""
    deadline = since + 10 * HEARTBEAT_S
    while time.monotonic() < deadline:
        node = rig.relay.link.node
        if node is not None and node != before and rig.relay.link.channel is not None:
            return time.monotonic() - since
        time.sleep(0.02)
    raise AssertionError(f"the relay did not reconnect within {10 * HEARTBEAT_S} s")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_kill_9_of_the_relays_node_while_publishing(rig: Rig) -> None:
    node = rig.cluster.nodes[rig.relay_node()]
    writer, ids = _in_background(rig.store, 1500)
    time.sleep(1.0)
    before = rig.relay.link.node
    killed = time.monotonic()
    rig.cluster.kill(node)
    took = _detected_within(rig, before, killed)
    writer.join(60)
    try:
        rig.settle(ids)
    finally:
        rig.cluster.restart(node)
    dupes = sum(n - 1 for n in rig.listener.deliveries.values())
    print(f"\nkill -9 of the relay's node: reconnected elsewhere in {took:.2f} s, "
          f"{len(ids)} events, 0 lost, {dupes} duplicates dropped")
    assert took < 2 * HEARTBEAT_S
