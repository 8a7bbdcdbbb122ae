"""Real ``corral serve`` processes for the integration tests.

``serve(store)`` starts ``python -m corral.cli.main serve`` on 127.0.0.1 and a free
port, against the database of the ``store`` fixture (so the test runs on SQLite and
PostgreSQL), waits until ``GET /`` answers and returns a ``Server``. Every process
is started in its own session and its whole group is killed at teardown, workers
included. Every wait is bounded: nothing here can hang a test run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from corral.persistence import Store

from .keystone_world import keystone, world  # noqa: F401 (the session's Keystone, shared)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def corral_command(*args: str) -> list[str]:
    """The ``corral`` CLI of the interpreter running the tests (no PATH lookup)."""
    return [sys.executable, "-m", "corral.cli.main", *args]


def clean_env(data_dir: Path) -> dict[str, str]:
    """This environment without any CORRAL_* setting, and a private data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def placement(self) -> str:
        return self.url + "/placement"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        """Pids whose parent is the server process (uvicorn's workers)."""
        found = []
        for entry in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = entry.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(entry.parent.name))
        return found

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left of it."""
        pgid = self.process.pid  # start_new_session: the server leads its own group
        if self.process.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        _signal_group(pgid, signal.SIGKILL)  # workers that outlived their parent


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, sig)


def answers(url: str, alive: Callable[[], bool], timeout: float = START_TIMEOUT) -> bool:
    """Wait until ``GET url`` answers 200 (True), the process is gone or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def start_server(database_url: str, directory: Path, *extra: str,
                 env: Mapping[str, str] | None = None) -> Server:
    """Start ``corral serve`` and wait until ``GET /`` answers; fail with its log if not.

    ``env``: settings (``CORRAL_*``) for the server, on top of a clean environment.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = free_port()
        log_path = directory / f"serve-{port}.log"
        with open(log_path, "wb") as out:
            process = subprocess.Popen(
                corral_command("--database-url", database_url, "serve",
                               "--host", "127.0.0.1", "--port", str(port), *extra),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**clean_env(directory / "data"), **(env or {})}, start_new_session=True)
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        if answers(server.url + "/", server.alive):
            return server
        server.stop()
        text = server.log()
        if "address already in use" in text.lower() and attempt < 2:
            continue  # another process took the port between free_port() and bind
        pytest.fail(f"corral serve did not answer GET / within {START_TIMEOUT}s "
                    f"(exit code {process.returncode}); its output:\n{text}")
    raise AssertionError("unreachable")


ServeFactory = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """``serve(store, "--workers", "2", env={...})``: a running server, stopped at teardown."""
    servers: list[Server] = []

    def factory(store: Store, *extra: str, env: Mapping[str, str] | None = None) -> Server:
        server = start_server(store_url(store), tmp_path / f"server{len(servers)}", *extra,
                              env=env)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


# Last: tests/integration/pki.py imports the helpers above.
from .pki import pki  # noqa: E402, F401 (the session's throwaway CA, shared)
