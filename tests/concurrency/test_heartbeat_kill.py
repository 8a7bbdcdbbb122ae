"""A server killed while it group-commits heartbeats and boots, then started again.

A real ``corral serve`` (SQLite or PostgreSQL: the ``store`` fixture) takes bulk and
single heartbeats from several clients and boots from another, and is killed with
SIGKILL in the middle. After the restart the store must be consistent:

* every heartbeat a client got a 200 (or 204) for is recorded: the host's
  ``last_heartbeat`` is at least the time answered (or sent);
* the log of heartbeat flushes not folded yet names only hosts, and ends at the
  ``beats`` change sequence; folding it moves each host's latest time (the later of
  its row's and the log's) into its row and empties it;
* every boot answered 201 is there and the quota ledger audit is clean;
* a second server process sees the heartbeats the first records, through the flush
  log: once every host is down for it, one heartbeat sent to the first makes exactly
  that host the one it places on.

Every wait is bounded by a deadline and ends as soon as its condition holds.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.conftest import Server, start_server, store_url
from sqlalchemy import select

from corral.domain.hosts import later
from corral.persistence import Store, tables
from corral.persistence.revisions import BEATS
from corral.services import liveness, quota_audit

from .clients import HEADERS, PROJECT
from .test_scheduler_race import add_flavor, add_hosts, v1_client

pytestmark = pytest.mark.slow

HOSTS = 30
BEATERS = 3
#: Heartbeat answers and boots to have before the kill (so it lands mid-stream).
BEATS_BEFORE_KILL = 40
BOOTS_BEFORE_KILL = 3
#: A host is down for the second server after this long without a heartbeat.
DOWN_AFTER_S = 3
WAIT_S = 30.0


def _until(condition: Callable[[], bool], what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.02)


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


class Traffic:
    """Heartbeat and boot clients against one server, recording what was answered."""

    def __init__(self, bases: list[str], names: list[str], flavor: str) -> None:
        self.bases = bases
        self.stopped = threading.Event()
        self.names = names
        self.flavor = flavor
        #: (names sent, time answered) of every bulk 200
        self.bulk: list[tuple[list[str], datetime]] = []
        #: (name, whole second before it was sent) of every single 204
        self.single: list[tuple[str, datetime]] = []
        self.booted: list[str] = []
        self.threads = [threading.Thread(target=self._beat, args=(seed,))
                        for seed in range(BEATERS)]
        self.threads.append(threading.Thread(target=self._boot))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(WAIT_S)
            assert not t.is_alive(), "a client did not stop after the kill"

    def _beat(self, seed: int) -> None:
        pick = random.Random(seed)
        base = self.bases[seed % len(self.bases)]
        with httpx.Client(base_url=base, timeout=10.0, headers=HEADERS) as api:
            for i in range(100_000):
                if self.stopped.is_set():
                    return
                try:
                    if i % 4 == 3:
                        name = pick.choice(self.names)
                        sent = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003
                        r = api.post(f"/v1/hosts/{name}/heartbeat")
                        assert r.status_code == 204, r.text
                        self.single.append((name, sent))
                        continue
                    names = pick.sample(self.names, 8) + [f"ghost{seed}"]
                    r = api.post("/v1/hosts/heartbeats", json={"hosts": names})
                except httpx.HTTPError:
                    return  # the server is gone
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["recorded"] == 8 and body["unknown"] == [f"ghost{seed}"], body
                self.bulk.append((names[:8], _stamp(body["last_heartbeat"])))

    def _boot(self) -> None:
        with httpx.Client(base_url=self.bases[-1], timeout=10.0, headers=HEADERS) as api:
            for i in range(100_000):
                if self.stopped.is_set():
                    return
                try:
                    r = api.post("/v1/instances", json={"name": f"b{i}", "flavor": self.flavor,
                                                        "project_id": PROJECT})
                except httpx.HTTPError:
                    return
                assert r.status_code == 201, r.text
                self.booted.append(r.json()["instances"][0]["id"])


def _kill(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(10)


def _heartbeats(store: Store) -> dict[str, datetime | None]:
    """Each host's last heartbeat: the later of its row's and the unfolded log's."""
    with store.read() as repo:
        rows = repo.host_rows()
        logged = repo.logged_heartbeats()
    return {row.name: later(row.last_heartbeat, logged.get(row.id)) for row in rows}


def _check_store(store: Store, traffic: Traffic) -> None:
    h, f = tables.hosts, tables.heartbeat_flushes
    with store.read() as repo:
        ids = set(repo.conn.execute(select(h.c.id)).scalars())
        flushes = repo.conn.execute(select(f.c.seq, f.c.host_ids).order_by(f.c.seq)).all()
        beats = repo.revision(BEATS)
    beat = _heartbeats(store)
    # Every heartbeat answered is recorded.
    for names, when in traffic.bulk:
        for name in names:
            assert (beat[name] or datetime.min) >= when, (name, beat[name], when)
    for name, sent in traffic.single:
        assert (beat[name] or datetime.min) >= sent, (name, beat[name], sent)
    # The log not folded yet names hosts only, and ends at the beats sequence.
    assert beats > 0, "no heartbeat flush was logged"
    if flushes:
        assert beats == flushes[-1].seq, (beats, flushes[-1].seq)
    named = {i for flush in flushes for i in memoryview(bytes(flush.host_ids)).cast("i")}
    assert named <= ids, named - ids
    # Folding the log moves each host's latest time into its row and empties the log.
    liveness.fold(store, keep_s=0)
    with store.read() as repo:
        assert not repo.unfolded()
        assert {row.name: row.last_heartbeat for row in repo.host_rows()} == beat
    report = quota_audit.audit(store)
    assert report.clean, report


def _placed_on(server: Server, flavor: str) -> str | None:
    """Where the server would boot one instance now (None: nowhere)."""
    with v1_client(server) as api:
        r = api.post("/v1/instances", json={"name": "probe", "flavor": flavor,
                                            "project_id": PROJECT, "dry_run": True})
    if r.status_code == 409:
        assert r.json()["error"]["code"] == "no_valid_host", r.text
        return None
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    found: str = body["placements"][0]["host"]
    return found


def test_a_server_killed_under_heartbeats_and_boots_leaves_a_consistent_store(
        store: Store, tmp_path: Path) -> None:
    url = store_url(store)
    server = start_server(url, tmp_path / "s0")
    other: Server | None = None
    try:
        names = list(add_hosts(server, "hb", count=HOSTS, slots=200))
        flavor = add_flavor(server)
        traffic = Traffic([server.url], names, flavor)
        traffic.start()
        _until(lambda: len(traffic.bulk) >= BEATS_BEFORE_KILL
               and len(traffic.booted) >= BOOTS_BEFORE_KILL, "traffic before the kill")
        _kill(server)
        traffic.join()
        _check_store(store, traffic)

        server = start_server(url, tmp_path / "s1")
        with v1_client(server) as api:
            r = api.get("/v1/instances", params={"limit": 10000, "project_id": PROJECT})
            assert r.status_code == 200, r.text
            listed = {i["id"] for i in r.json()["instances"]}
        assert set(traffic.booted) <= listed, set(traffic.booted) - listed

        # A second process learns the first one's heartbeats from the flush log.
        other = start_server(url, tmp_path / "other",
                             env={"CORRAL_HOST_DOWN_AFTER_S": str(DOWN_AFTER_S)})
        _until(lambda: _placed_on(other, flavor) is None, "every host down for the other")
        with v1_client(server) as api:
            r = api.post(f"/v1/hosts/{names[7]}/heartbeat")
            assert r.status_code == 204, r.text
        _until(lambda: _placed_on(other, flavor) == names[7],
               "the other process placing on the host that beat", seconds=DOWN_AFTER_S)
    finally:
        server.stop()
        if other is not None:
            other.stop()


def test_heartbeats_through_two_servers_are_all_recorded(store: Store, tmp_path: Path) -> None:
    """Two processes group-commit heartbeats of the same hosts at once: whichever flush
    commits last, no host's heartbeat ends older than one a client was answered."""
    url = store_url(store)
    servers = [start_server(url, tmp_path / "s0")]
    try:
        servers.append(start_server(url, tmp_path / "s1"))
        names = list(add_hosts(servers[0], "hb", count=HOSTS, slots=200))
        flavor = add_flavor(servers[0])
        traffic = Traffic([s.url for s in servers], names, flavor)
        traffic.start()
        # Long enough for flushes of both processes to straddle many whole seconds.
        started = time.monotonic()
        _until(lambda: len(traffic.bulk) >= 20 * BEATS_BEFORE_KILL
               and time.monotonic() - started > 4, "heartbeats through two servers")
        traffic.join()
        _check_store(store, traffic)
    finally:
        for s in servers:
            s.stop()

