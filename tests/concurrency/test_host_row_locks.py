"""Host rows and the host_rows change sequence: every write takes them in one order.

Each write to a host's row stamps it with the next value of the ``host_rows`` sequence
(persistence/revisions.py), a row of its own that the transaction holds until it
commits. A transaction that took the sequence before the host's row waits for a host
report that took them the other way round, which waits for it: PostgreSQL aborts one
(a 500). A real ``corral serve`` on PostgreSQL, with the host's row held here so that
the interleaving is forced rather than hoped for.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.conftest import start_server, store_url
from sqlalchemy import select, text

from corral.persistence import Store, tables

from .clients import PROJECT
from .test_heartbeat_kill import WAIT_S, _until
from .test_scheduler_race import add_flavor, add_hosts, host_size, v1_client

pytestmark = pytest.mark.slow


def _waiting_on_locks(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())


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
        answers: dict[str, httpx.Response] = {}

        def send(what: str, method: str, path: str, body: dict[str, Any]) -> None:
            with v1_client(server) as api:
                answers[what] = api.request(method, path, json=body)

        report = threading.Thread(target=send, args=(
            "report", "PUT", f"/v1/hosts/{host}", host_size(10)))
        build = threading.Thread(target=send, args=(
            "build", "POST", f"/v1/instances/{instance}/build-report", {"status": "failed"}))
        with store.engine.connect() as conn, conn.begin():
            conn.execute(select(tables.hosts.c.id).where(tables.hosts.c.name == host)
                         .with_for_update())
            report.start()
            _until(lambda: _waiting_on_locks(store) >= 1, "the report waiting for the host")
            build.start()
            _until(lambda: _waiting_on_locks(store) >= 2, "the build report waiting too")
        report.join(WAIT_S)
        build.join(WAIT_S)
        assert answers["report"].status_code == 200, answers["report"].text
        assert answers["build"].status_code == 200, answers["build"].text
        assert answers["build"].json()["state"] == "error", answers["build"].text
    finally:
        server.stop()
