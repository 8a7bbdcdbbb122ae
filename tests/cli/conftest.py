"""Fixtures for the ``corral`` CLI: a runner bound to a real server, and a clean environment.

The CLI is a client of the API (docs/cli.md): ``cli`` starts a real corral server
(uvicorn, on 127.0.0.1 and a free port, in a thread of this process) on an upgraded
SQLite file of the test's own, and runs commands in-process (typer's CliRunner) with
``CORRAL_URL`` and ``CORRAL_TOKEN`` pointing at it, as a user's shell would. The
local commands (``db``, ``demo``) get ``--database-url`` of the same database.
``any_cli`` does the same on the ``store`` fixture's database, so a test that takes
it runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import structlog
import uvicorn
from typer.testing import CliRunner, Result

from corral.api.app import create_app
from corral.cli.main import app
from corral.config import Settings
from corral.persistence import Store, make_store

START_TIMEOUT = 30.0

KEEP = {"CORRAL_TEST_POSTGRESQL_URL", "CORRAL_REQUIRE_SERVICES"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CORRAL_* setting of the developer's leaks in, nor a terminal width (pytest-xdist
    workers have COLUMNS=80; tests that want a width set it); a private data directory."""
    import os

    for name in list(os.environ):
        if (name.startswith(("CORRAL_", "OS_")) and name not in KEEP):
            monkeypatch.delenv(name)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "data"))
    yield
    structlog.reset_defaults()


@dataclass
class Cli:
    """``corral --database-url URL ...`` in-process, a client of the server at
    ``endpoint`` (``CORRAL_URL``) with ``token`` (``CORRAL_TOKEN``); returns click's Result."""

    url: str | None
    endpoint: str | None = None
    token: str | None = "admin"
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str) -> Result:
        argv = (["--database-url", self.url] if self.url else []) + list(args)
        env = {"CORRAL_URL": self.endpoint, "CORRAL_TOKEN": self.token, **self.env}
        try:
            return CliRunner().invoke(app, argv, env=env)
        finally:
            # Commands point structlog at the runner's stderr, closed once it returns.
            structlog.reset_defaults()

    def ok(self, *args: str) -> Result:
        """Run and insist on exit code 0."""
        result = self(*args)
        assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        return result


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """An upgraded SQLite database of this test only (SQLite only: fast)."""
    path = tmp_path / "cli.sqlite"
    shutil.copy(sqlite_template, path)
    store = make_store(f"sqlite:///{path}")
    yield store
    store.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer(uvicorn.Server):
    """uvicorn in a thread: no signal handlers (they belong to the main thread)."""

    def install_signal_handlers(self) -> None:
        pass


@contextmanager
def running_server(store: Store, settings: Settings) -> Iterator[str]:
    """A corral server on ``store``, its URL while the block runs; stopped after it."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="on")
    server = ThreadServer(config)
    thread = threading.Thread(target=server.run, name=f"corral-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the corral server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "server"))


@pytest.fixture
def cli(sqlite_store: Store, server_settings: Settings) -> Iterator[Cli]:
    with running_server(sqlite_store, server_settings) as url:
        yield Cli(url_of(sqlite_store), url)


@pytest.fixture
def any_cli(store: Store, server_settings: Settings) -> Iterator[Cli]:
    """The CLI on a server of the ``store`` fixture's database: SQLite and PostgreSQL."""
    with running_server(store, server_settings) as url:
        yield Cli(url_of(store), url)


def message(text: str) -> str:
    """An error message with rich's panel borders and line wrapping taken out."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def assert_fails(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code``, no traceback, and every fragment in the (unwrapped) stderr."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    text = message(result.stderr)
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """A refusal by the services: exit 1, exactly one line on stderr, ``error: ...``."""
    assert_fails(result, 1, *fragments)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert result.stdout == ""
