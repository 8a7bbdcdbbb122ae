"""Fixtures for the ``corral`` CLI: a runner bound to a database, and a clean environment.

``cli`` runs commands in-process (typer's CliRunner) against an upgraded SQLite file;
``any_cli`` does the same against the ``store`` fixture's database, so a test that
takes it runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from corral.cli.main import app
from corral.persistence import Store, make_store

KEEP = {"CORRAL_TEST_POSTGRESQL_URL", "CORRAL_REQUIRE_SERVICES"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CORRAL_* setting of the developer's leaks in, nor a terminal width (pytest-xdist
    workers have COLUMNS=80; tests that want a width set it); a private data directory."""
    import os

    for name in list(os.environ):
        if name.startswith("CORRAL_") and name not in KEEP:
            monkeypatch.delenv(name)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "data"))
    yield
    structlog.reset_defaults()


@dataclass
class Cli:
    """``corral --database-url URL ...`` in-process; returns click's Result."""

    url: str | None

    def __call__(self, *args: str) -> Result:
        argv = (["--database-url", self.url] if self.url else []) + list(args)
        try:
            return CliRunner().invoke(app, argv)
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


@pytest.fixture
def cli(sqlite_store: Store) -> Cli:
    return Cli(url_of(sqlite_store))


@pytest.fixture
def any_cli(store: Store) -> Cli:
    """The CLI on the ``store`` fixture's database: SQLite and PostgreSQL."""
    return Cli(url_of(store))


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
