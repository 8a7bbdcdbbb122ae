"""Host rows on PostgreSQL: the writes that lock them never wait on each other in a cycle.

Each write to a host's row stamps it with the next value of the ``host_rows`` sequence
(persistence/revisions.py), a row of its own held until commit: a transaction that
took the sequence before the host's row deadlocked with a host report, which takes
them the other way round. A heartbeat flush writes no host row; folding the heartbeat
log writes the hosts' rows; a boot takes a key share lock on each host it inserts an
instance on (the foreign key): the fold's locks must not exclude those, or a boot
placing on hosts out of id order and a fold wait on each other. PostgreSQL aborts one
transaction of such a cycle: a 500.

A real ``corral serve`` on PostgreSQL; a host's row is held here until the requests
are queued in the order that closes the cycle, so the interleaving is forced rather
than hoped for.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import start_server, store_url
from sqlalchemy import select, text

from corral.persistence import Store, tables
from corral.services import liveness

from .clients import PROJECT
from .test_heartbeat_kill import WAIT_S, _until
from .test_scheduler_race import add_flavor, add_hosts, host_size, v1_client

pytestmark = pytest.mark.slow


def _waiting_on_locks(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())


#: One request: (method, path, JSON body), or a function run in the test's process.
Call = tuple[str, str, dict[str, Any]] | Callable[[], Any]


def _queued_behind(store: Store, server: Any, held: Any, first: Call, second: Call
                   ) -> tuple[Any, Any]:
    """Hold the row ``held`` selects (FOR UPDATE) until ``first`` waits for it and
    ``second`` is queued too, then let go; both answers."""
    answers: dict[int, Any] = {}

    def send(i: int, call: Call) -> None:
        if callable(call):
            answers[i] = call()
            return
        with v1_client(server) as api:
            answers[i] = api.request(call[0], call[1], json=call[2])

    threads = [threading.Thread(target=send, args=(i, call))
               for i, call in enumerate((first, second))]
    with store.engine.connect() as conn, conn.begin():
        conn.execute(held.with_for_update())
        for waiting, thread in enumerate(threads, 1):
            thread.start()
            _until(lambda n=waiting: _waiting_on_locks(store) >= n,  # type: ignore[misc]
                   f"request {waiting} waiting for the held row")
    for thread in threads:
        thread.join(WAIT_S)
    return answers[0], answers[1]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_failed_build_and_a_host_report_at_once_do_not_deadlock(
        store: Store, tmp_path: Path) -> None:
    """A build report counts a failure on its host's row and a host report rewrites
    that row, each stamping the host_rows change sequence: both must take the host's
    row first (as every host write does) or the two wait on each other until
    PostgreSQL aborts one (a 500). The host row is held here until the report waits
    for it and the build report is queued behind it, then let go."""
    server = start_server(store_url(store), tmp_path / "s0")
    try:
        (host,) = add_hosts(server, "dl", count=1, slots=10)
        flavor = add_flavor(server)
        with v1_client(server) as api:
            r = api.post("/v1/instances", json={"name": "vm", "flavor": flavor,
                                                "project_id": PROJECT})
            assert r.status_code == 201, r.text
            instance = r.json()["instances"][0]["id"]
        report, build = _queued_behind(
            store, server, select(tables.hosts.c.id).where(tables.hosts.c.name == host),
            ("PUT", f"/v1/hosts/{host}", host_size(10)),
            ("POST", f"/v1/instances/{instance}/build-report", {"status": "failed"}))
        assert report.status_code == 200, report.text
        assert build.status_code == 200, build.text
        assert build.json()["state"] == "error", build.text
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_heartbeat_fold_and_a_boot_across_two_hosts_do_not_deadlock(
        store: Store, tmp_path: Path) -> None:
    """A boot's instances reference their hosts (a foreign key: PostgreSQL takes a key
    share lock on each host's row as each instance is inserted, in placement order);
    folding the heartbeat log writes the hosts' rows in id order. If the fold's locks
    excluded key share locks, a boot placing on the second host then the first would
    wait for the fold, which waits for it. A flush writes no host row: it answers while
    one is held. The first host's row is held here until the fold waits for it and the
    boot is queued behind it, then let go."""
    server = start_server(store_url(store), tmp_path / "s0")
    try:
        with v1_client(server) as api:
            # Spread puts the first instance on kb (more room), the second on ka (a tie
            # then, broken by name): instances are inserted kb first, ka (lower id) next.
            for name, slots in (("ka", 9), ("kb", 10)):
                r = api.put(f"/v1/hosts/{name}", json=host_size(slots))
                assert r.status_code == 201, r.text
        flavor = add_flavor(server)
        held = select(tables.hosts.c.id).where(tables.hosts.c.name == "ka")
        with store.engine.connect() as conn, conn.begin(), v1_client(server) as api:
            conn.execute(held.with_for_update())
            flush = api.post("/v1/hosts/heartbeats", json={"hosts": ["ka", "kb"]})
        assert flush.status_code == 200, flush.text
        folded, boot = _queued_behind(
            store, server, held, lambda: liveness.fold(store, keep_s=0),
            ("POST", "/v1/instances", {"name": "vm", "flavor": flavor, "count": 2,
                                       "project_id": PROJECT}))
        assert folded == 2
        assert boot.status_code == 201, boot.text
        hosts = [i["host"] for i in boot.json()["instances"]]
        assert hosts == ["kb", "ka"], hosts  # the order the test is about
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("write", ["report", "patch"])
def test_a_host_write_and_a_boot_on_that_host_do_not_deadlock(
        store: Store, tmp_path: Path, write: str) -> None:
    """A host report (or an operator's change) locks the host's row, then writes its
    provider's inventory; a boot
    locks the provider to claim, then inserts the instance (a key share lock on the
    host's row). If the report's lock excluded key share locks, each would wait for the
    other. The provider's row is held here until the boot and then the report are
    queued on it, then let go."""
    server = start_server(store_url(store), tmp_path / "s0")
    try:
        (host,) = add_hosts(server, "kr", count=1, slots=10)
        flavor = add_flavor(server)
        change = (("PUT", {**host_size(10), "vcpus": 32}) if write == "report"
                  else ("PATCH", {"cpu_allocation_ratio": 3.0}))
        rp = tables.resource_providers
        boot, report = _queued_behind(
            store, server, select(rp.c.id).where(rp.c.name == host),
            ("POST", "/v1/instances", {"name": "vm", "flavor": flavor, "project_id": PROJECT}),
            (change[0], f"/v1/hosts/{host}", change[1]))
        assert boot.status_code == 201, boot.text
        assert report.status_code == 200, report.text
    finally:
        server.stop()
