"""Faults under a real ``corral serve``: a PostgreSQL server stopped and restarted, and an
unexpected error, each seen over ONE keep-alive connection.

* PostgreSQL stopped: every answer, on every API, is a JSON 503 with ``Retry-After``;
  the connection stays up; once PostgreSQL is back the same connection gets 200s.
* An unexpected error (a table renamed away under the server): a JSON 500 with the
  request id, its traceback logged once with that id, and the next request on the same
  connection answered.

The PostgreSQL server is a private throwaway cluster (``.ci/start-postgres``) on a free
port, since the test stops it. Every wait is bounded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)
from sqlalchemy import text

from corral.persistence import make_store
from corral.services import system

from .conftest import Server, free_port, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START_POSTGRES = ROOT / ".ci" / "start-postgres"
ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
#: How long PostgreSQL may take to come back before the test gives up.
RECOVERY_S = 60.0


class Cluster:
    """A private PostgreSQL cluster: start, stop, start again on the same port."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port

    def start(self) -> str:
        done = subprocess.run([str(START_POSTGRES), str(self.directory), str(self.port)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        subprocess.run([str(START_POSTGRES), "--stop", str(self.directory)],
                       capture_output=True, text=True, timeout=120, check=False)


def _binaries_present() -> bool:
    return any(Path(d, "bin", "initdb").exists() for d in Path("/usr/lib/postgresql").glob("*"))


@pytest.fixture
def cluster() -> Iterator[tuple[Cluster, str]]:
    if not _binaries_present():
        require_service("PostgreSQL server binaries", "no /usr/lib/postgresql/*/bin/initdb")
    # Not under pytest's tmp_path: as root the server runs as 'postgres', which must be
    # able to reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="corral-faults-pg-", dir="/tmp"))
    directory.chmod(0o755)
    pg = Cluster(directory / "pg", free_port())
    try:
        url = pg.start()
        yield pg, url
    finally:
        pg.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _peer(response: httpx.Response) -> Any:
    """The client side of the TCP connection a response came on (same port: same one)."""
    stream = response.extensions["network_stream"]
    return stream.get_extra_info("socket").getsockname()


def _check_503(r: httpx.Response, where: str) -> None:
    assert r.status_code == 503, (where, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), (where, r.headers)
    assert int(r.headers["retry-after"]) >= 1, (where, r.headers)
    assert r.headers.get("connection", "").lower() != "close", (where, r.headers)
    body = r.json()
    if where.startswith("/v1"):
        assert body["error"]["code"] == "store_unavailable", body
        assert body["error"]["request_id"] == r.headers["x-openstack-request-id"]
    elif where != "/healthz":
        assert body["errors"][0]["code"] == "corral.store_unavailable", body
        assert body["errors"][0]["request_id"] == r.headers["x-openstack-request-id"]


REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/hosts", None),
    ("POST", "/v1/aggregates", {"name": "while-down"}),
    ("GET", "/v1/instances", None),
    ("GET", "/resource_providers", None),
    ("POST", "/resource_providers", {"name": "while-down"}),
    ("GET", "/placement/allocation_candidates?resources=VCPU:1", None),
    ("GET", "/healthz", None),
]


def test_a_stopped_postgresql_is_a_503_and_the_connection_survives(
        cluster: tuple[Cluster, str], tmp_path: Path) -> None:
    pg, url = cluster
    store = make_store(url)
    system.upgrade_schema(store)
    store.dispose()
    server = start_server(url, tmp_path / "server")
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30.0,
                          limits=httpx.Limits(max_connections=1)) as client:
            first = client.get("/v1/hosts")
            assert first.status_code == 200, first.text
            connection = _peer(first)

            pg.stop()
            answered = 0
            for _round in range(3):
                for method, path, body in REQUESTS:
                    r = client.request(method, path, json=body)
                    _check_503(r, path.split("?")[0])
                    assert _peer(r) == connection, "the server dropped the connection"
                    answered += 1
            assert answered == 3 * len(REQUESTS)

            pg.start()
            deadline = time.monotonic() + RECOVERY_S
            while True:
                r = client.get("/healthz")
                assert _peer(r) == connection
                if r.status_code == 200:
                    break
                _check_503(r, "/healthz")
                assert time.monotonic() < deadline, "PostgreSQL did not come back"
                time.sleep(0.2)
            for method, path, body in REQUESTS:
                r = client.request(method, path, json=body if method == "GET" else
                                   {"name": f"after-{len(path)}"})
                assert r.status_code in (200, 201), (path, r.status_code, r.text)
                assert _peer(r) == connection
        log = server.log()
        assert "Exception in ASGI application" not in log
        assert "Traceback" not in log, log
        # the operator sees why (the driver's reason), the client only that it may retry
        assert re.search(r"store_unavailable .*reason=", log), log
    finally:
        server.stop()


def test_an_unexpected_error_answers_json_and_keeps_the_connection(tmp_path: Path) -> None:
    database = tmp_path / "corral.sqlite"
    store = make_store(f"sqlite:///{database}")
    system.upgrade_schema(store)
    server: Server = start_server(f"sqlite:///{database}", tmp_path / "server")
    try:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE hosts RENAME TO hosts_gone"))
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30.0,
                          limits=httpx.Limits(max_connections=1)) as client:
            ok = client.get("/")
            connection = _peer(ok)
            failed = client.get("/v1/hosts")
            assert failed.status_code == 500, failed.text
            error = failed.json()["error"]
            request_id = failed.headers["x-openstack-request-id"]
            assert (error["code"], error["request_id"]) == ("internal_error", request_id)
            assert failed.headers.get("connection", "").lower() != "close"
            after = client.get("/")
            assert after.status_code == 200
            assert _peer(after) == connection, "the 500 cost the client its connection"
        time.sleep(0.2)  # the log line is written as the response goes out
        log = server.log()
        # One traceback (a chained exception prints one header per link of the chain).
        chained = (log.count("The above exception was the direct cause")
                   + log.count("During handling of the above exception"))
        assert log.count("Traceback (most recent call last)") == 1 + chained, log
        assert "Exception in ASGI application" not in log
        (line,) = [ln for ln in log.splitlines() if "unexpected_error" in ln]
        assert request_id in line
        assert re.search(rf"request .*{request_id}|{request_id}.*request", log)
    finally:
        server.stop()
        store.dispose()
