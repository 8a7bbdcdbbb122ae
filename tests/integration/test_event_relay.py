"""The relay against a real 3-node RabbitMQ cluster, with real faults.

Events are committed to the outbox while the fault happens; a listener (an outside
consumer with its own quorum queue) counts every delivery. After each fault: every
committed event was delivered, duplicates only for what was unconfirmed (the listener
drops them by ``message_id``), and the fault was detected within twice the heartbeat.
Heartbeats are a few seconds here so the matrix runs in minutes. The figures each test
prints are recorded in docs/events.md.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from corral.config import Settings
from corral.domain.events import NewEvent
from corral.persistence import Store
from corral.persistence.clock import utcnow
from corral.services import events as event_log
from corral.services.relay import BATCH, Relay, RelayThread

from .conftest import clean_env, corral_command, start_server, store_url
from .freeze_proxy import FreezeProxy
from .rabbit import CorralConsumer, Listener
from .rabbit_cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rabbit")]

HEARTBEAT_S = 4


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
                    amqp_connect_timeout_s=HEARTBEAT_S, publish_timeout_s=HEARTBEAT_S,
                    consume_queue=f"corral-{exchange}")


class Rig:
    """A relay thread, a listener and corral's own consumer on one exchange of the
    shared cluster."""

    def __init__(self, store: Store, settings: Settings, cluster: Cluster) -> None:
        self.store = store
        self.cluster = cluster
        self.listener = Listener(cluster.urls, settings.exchange,
                                 f"listen-{settings.exchange}", HEARTBEAT_S)
        self.consumer = CorralConsumer(store, settings)
        self.relay = Relay(store, settings, lease_s=3 * HEARTBEAT_S)
        self.thread: RelayThread = self.relay.start_thread()
        self.stopped = False

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
        """Every id delivered and stamped sent; each handled exactly once by corral's
        consumer (its inbox holds them all, it committed each once)."""
        missing = self.listener.wait_for(set(ids), timeout)
        assert not missing, f"{len(missing)} of {len(ids)} committed events never arrived"
        missing = self.consumer.wait_for(set(ids), timeout)
        assert not missing, f"{len(missing)} of {len(ids)} committed events never consumed"
        assert self.consumer.consumed == len(self.consumer.inbox())  # 0 after the inbox
        deadline = time.monotonic() + timeout
        while self.unsent() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.unsent() == 0

    def figures(self) -> str:
        """What corral's consumer saw, for the printed figures."""
        return (f"consumer: {self.consumer.consumed} handled once, "
                f"{self.consumer.duplicates} duplicates dropped by its inbox")

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.thread.stop()
            self.listener.stop()
            self.consumer.stop()


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
          f"{len(ids)} events, 0 lost, {dupes} duplicates at the listener; {rig.figures()}")
    assert took < 2 * HEARTBEAT_S


def _lost_within(rig: Rig, since: float, losses_before: int) -> float:
    deadline = since + 10 * HEARTBEAT_S
    while time.monotonic() < deadline:
        if len(rig.relay.lost) > losses_before:
            return rig.relay.lost[losses_before] - since
        time.sleep(0.02)
    raise AssertionError(f"the relay did not notice within {10 * HEARTBEAT_S} s")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_frozen_node_is_left_within_two_heartbeats(rig: Rig) -> None:
    node = rig.cluster.nodes[rig.relay_node()]
    writer, ids = _in_background(rig.store, 1000)
    time.sleep(1.0)
    losses = len(rig.relay.lost)
    frozen = time.monotonic()
    rig.cluster.freeze(node)
    try:
        took = _lost_within(rig, frozen, losses)
        # Frozen for longer than the heartbeat, and past the relay's detection.
        time.sleep(max(0.0, frozen + 1.5 * HEARTBEAT_S - time.monotonic()))
    finally:
        rig.cluster.thaw(node)
    writer.join(60)
    rig.settle(ids, timeout=120)
    dupes = sum(n - 1 for n in rig.listener.deliveries.values())
    print(f"\nSIGSTOP of the relay's node for {1.5 * HEARTBEAT_S:.0f}+ s: detected in {took:.2f} s "
          f"(heartbeat {HEARTBEAT_S} s), {len(ids)} events, 0 lost, {dupes} duplicates at the "
          f"listener; {rig.figures()}")
    assert took < 2 * HEARTBEAT_S


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_half_open_connection_is_detected_within_two_heartbeats(
        store: Store, rabbit: Cluster, tmp_path: Path) -> None:
    proxy = FreezeProxy(rabbit.nodes[0].amqp_port)
    settings = relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}", [proxy.url])
    rig = Rig(store, settings, rabbit)
    try:
        rig.relay_node = lambda timeout=30.0: 0  # type: ignore[method-assign]
        first = commit_events(store, 100)
        rig.settle(first)
        writer, ids = _in_background(store, 500)
        losses = len(rig.relay.lost)
        frozen = time.monotonic()
        proxy.freeze()
        took = _lost_within(rig, frozen, losses)
        time.sleep(HEARTBEAT_S)  # reconnect attempts meet the frozen proxy: they time out
        proxy.thaw()
        writer.join(60)
        rig.settle(ids, timeout=120)
    finally:
        rig.stop()
        proxy.close()
    print(f"\nhalf-open connection (proxy stops forwarding): detected in {took:.2f} s "
          f"(heartbeat {HEARTBEAT_S} s), {len(ids)} events, 0 lost; {rig.figures()}")
    assert took < 2 * HEARTBEAT_S


def _connections(cluster: Cluster, prefix: str) -> int:
    listed = cluster.ctl(cluster.nodes[0], "list_connections", "client_properties", "-q")
    return sum(1 for line in listed.splitlines() if prefix in line)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_ten_forced_disconnects_in_a_row(rig: Rig) -> None:
    writer, ids = _in_background(rig.store, 1500)
    for _ in range(10):
        rig.cluster.ctl(rig.cluster.nodes[0], "close_all_connections", "corral test")
        time.sleep(0.7)
    writer.join(60)
    rig.settle(ids, timeout=120)
    dupes = sum(n - 1 for n in rig.listener.deliveries.values())
    reconnects = len(rig.relay.lost)
    figures = rig.figures()
    rig.stop()
    left = _connections(rig.cluster, rig.relay.holder)
    left += _connections(rig.cluster, rig.consumer.consumer.name)
    print(f"\nclose_all_connections x10: the relay reconnected {reconnects} times, "
          f"{len(ids)} events, 0 lost, {dupes} duplicates at the listener; {figures}; "
          f"{left} connections left")
    assert reconnects >= 5 and left == 0


def _relay_process(store: Store, settings: Settings, tmp_path: Path,
                   log_name: str) -> subprocess.Popen[bytes]:
    env = {**clean_env(tmp_path), "CORRAL_DATABASE_URL": store_url(store),
           "CORRAL_BROKER_URLS": settings.broker_urls, "CORRAL_EXCHANGE": settings.exchange,
           "CORRAL_AMQP_HEARTBEAT_S": str(HEARTBEAT_S), "CORRAL_LOG_LEVEL": "warning"}
    log = (tmp_path / log_name).open("ab")
    return subprocess.Popen(corral_command("relay"), env=env, stdout=log, stderr=log,
                            start_new_session=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL: the next two
def test_relays_killed_mid_batch_lose_nothing_and_one_leads_at_a_time(
        store: Store, rabbit: Cluster, tmp_path: Path) -> None:
    """Two ``corral relay`` processes; the leader is killed (SIGKILL) again and again
    while events are committed, at moments that fall between a batch's publish, its
    confirms and its stamp; the other takes over once the lease expires."""
    settings = relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}")
    listener = Listener(rabbit.urls, settings.exchange, f"listen-{settings.exchange}",
                        HEARTBEAT_S)
    consumer = CorralConsumer(store, settings)
    relays = [_relay_process(store, settings, tmp_path, f"relay{i}.log") for i in range(2)]
    spawned = 2
    try:
        writer, ids = _in_background(store, 3000)
        for _ in range(3):
            time.sleep(1.5)
            victim = _leader(store, relays)
            victim.kill()
            victim.wait(10)
            relays.remove(victim)
            relays.append(_relay_process(store, settings, tmp_path, f"relay{spawned}.log"))
            spawned += 1
        writer.join(120)
        missing = listener.wait_for(set(ids), 120)
        assert not missing, f"{len(missing)} of {len(ids)} committed events never arrived"
        assert not consumer.wait_for(set(ids), 120)
        assert consumer.consumed == len(ids)  # each handled once
        dupes = sum(n - 1 for n in listener.deliveries.values())
        print(f"\n3 leaders killed with SIGKILL: {len(ids)} events, 0 lost, "
              f"{dupes} duplicates at the listener; corral's consumer handled "
              f"{consumer.consumed} once each, dropped {consumer.duplicates}")
    finally:
        for p in relays:
            p.terminate()
        for p in relays:
            p.wait(20)
        listener.stop()
        consumer.stop()
    with store.read() as repo:
        assert repo.pending_summary()[0] == 0


def _leader(store: Store, relays: list[subprocess.Popen[bytes]], timeout: float = 60.0
            ) -> subprocess.Popen[bytes]:
    """The relay process holding the lease (waits while a killed one's runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.read() as repo:
            holder = repo.lease_holder("relay", utcnow()) or ""
        for p in relays:
            if f":{p.pid}:" in holder:
                return p
        time.sleep(0.1)
    raise AssertionError("no live relay took the lease")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_relay_killed_between_the_confirms_and_the_stamp(
        store: Store, rabbit: Cluster, tmp_path: Path) -> None:
    """The events' rows are locked, so the relay's stamp waits after the broker
    confirmed the batch; the relay is killed right there. The next relay publishes the
    batch again with the same message ids, and the listener drops every duplicate."""
    settings = relay_settings(tmp_path, rabbit, f"ev-{uuid.uuid4().hex[:8]}")
    listener = Listener(rabbit.urls, settings.exchange, f"listen-{settings.exchange}",
                        HEARTBEAT_S)
    ids = commit_events(store, BATCH * 3 // 4)  # one batch: its stamp is what waits
    consumer = CorralConsumer(store, settings)
    relays: list[subprocess.Popen[bytes]] = []
    try:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM events FOR UPDATE"))
            relays.append(_relay_process(store, settings, tmp_path, "first.log"))
            assert not listener.wait_for(set(ids), 60), "the first relay did not publish"
            with store.read() as repo:
                assert repo.pending_summary()[0] == len(ids)  # confirmed, not stamped
            relays[0].kill()
            relays[0].wait(10)
        relays.append(_relay_process(store, settings, tmp_path, "second.log"))
        deadline = time.monotonic() + 60
        while min(listener.deliveries[i] for i in ids) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(listener.deliveries[i] == 2 for i in ids)
        assert listener.order == ids  # first deliveries in commit order
        deadline = time.monotonic() + 60
        while consumer.duplicates < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert consumer.inbox() == set(ids)
        assert (consumer.consumed, consumer.duplicates) == (len(ids), len(ids))
        print(f"\nrelay killed between the confirms and the stamp: {len(ids)} events "
              "published again by the next relay with the same message_id, each "
              f"delivered twice; corral's consumer handled {consumer.consumed} once each "
              f"and dropped {consumer.duplicates} duplicates by its inbox")
    finally:
        for p in relays:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        listener.stop()
        consumer.stop()
    with store.read() as repo:
        assert repo.pending_summary()[0] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # relays on both: above
def test_corral_serve_relays_what_its_boots_commit(store: Store, rabbit: Cluster,
                                                  tmp_path: Path) -> None:
    """Two server processes (uvicorn workers), each with a relay in it: one leads; the
    boots and deletes of both arrive, once each, as instance events."""
    exchange = f"ev-{uuid.uuid4().hex[:8]}"
    listener = Listener(rabbit.urls, exchange, f"listen-{exchange}", HEARTBEAT_S)
    server = start_server(store_url(store), tmp_path / "serve", "--workers", "2", env={
        "CORRAL_BROKER_URLS": ",".join(rabbit.urls), "CORRAL_EXCHANGE": exchange,
        "CORRAL_AMQP_HEARTBEAT_S": str(HEARTBEAT_S)})
    try:
        admin = {"x-auth-token": "admin"}
        r = httpx.put(f"{server.url}/v1/hosts/cn1", headers=admin, timeout=30, json={
            "vcpus": 64, "memory_mb": 262144, "disk_gb": 4000})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{server.url}/v1/flavors", headers=admin, timeout=30, json={
            "name": "small", "vcpus": 1, "ram_mb": 512, "disk_gb": 1})
        assert r.status_code == 201, r.text
        booted = []
        for k in range(20):
            r = httpx.post(f"{server.url}/v1/instances", headers=admin, timeout=30, json={
                "name": f"vm{k}", "flavor": "small", "project_id": "p1"})
            assert r.status_code == 201, r.text
            booted.append(r.json()["instances"][0]["id"])
        for uuid_ in booted[:5]:
            assert httpx.delete(f"{server.url}/v1/instances/{uuid_}", headers=admin,
                                timeout=30).status_code == 204
        logged = httpx.get(f"{server.url}/v1/events", headers=admin, params={"limit": 100},
                           timeout=30).json()["events"]
        assert sum(1 for e in logged if e["object_type"] == "instance") == 25
        missing = listener.wait_for({e["message_id"] for e in logged}, 60)
        assert not missing
        assert max(listener.deliveries.values()) == 1
    finally:
        server.stop()
        listener.stop()


def _leader_of(cluster: Cluster, queue: str, ask: int = 0) -> int:
    """The index of the node leading ``queue`` (asked of node ``ask``)."""
    listed = cluster.ctl(cluster.nodes[ask], "list_queues", "name", "leader", "-q")
    for line in listed.splitlines():
        name, _sep, leader = line.strip().partition("\t")
        if name == queue:
            return next(i for i, n in enumerate(cluster.nodes) if n.name == leader.strip())
    raise AssertionError(f"queue {queue} not listed: {listed}")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_kill_9_of_the_queue_leader_while_publishing(rig: Rig) -> None:
    led = _leader_of(rig.cluster, rig.listener.queue)
    leader = rig.cluster.nodes[led]
    writer, ids = _in_background(rig.store, 1500)
    time.sleep(1.0)
    rig.cluster.kill(leader)
    writer.join(60)
    try:
        rig.settle(ids, timeout=120)
        moved = rig.cluster.nodes[_leader_of(rig.cluster, rig.listener.queue, ask=(led + 1) % 3)]
    finally:
        rig.cluster.restart(leader)
    dupes = sum(n - 1 for n in rig.listener.deliveries.values())
    print(f"\nkill -9 of the quorum queue's leader ({leader.name}) while publishing: "
          f"leader moved to {moved.name}, {len(ids)} events, 0 lost, {dupes} duplicates at the "
          f"listener; {rig.figures()}")
    assert moved is not leader
