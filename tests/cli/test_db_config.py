"""corral db current/upgrade, config sample, --version, bad settings, failures of the store."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from corral import __version__
from corral.config import OPTIONS, Settings, file_key
from corral.persistence import make_store, migrations

from .conftest import Cli, assert_fails, assert_one_error_line, free_port, running_server


def test_db_current_before_and_after_upgrade(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/new.sqlite")
    head = migrations.head()
    before = cli("db", "current")
    assert before.exit_code == 1
    assert before.stdout.strip() == f"empty (behind (newest is {head}): run 'corral db upgrade')"
    upgraded = cli.ok("db", "upgrade")
    assert upgraded.stdout.strip() == f"database at revision {head} (was empty)"
    assert cli.ok("db", "current").stdout.strip() == f"{head} (up to date)"
    again = cli.ok("db", "upgrade")  # idempotent
    assert again.stdout.strip() == f"database at revision {head} (was {head})"
    # The upgrade also loaded the standard catalogues: a server on it serves them at once.
    assert cli.url is not None
    with served(cli.url, tmp_path) as client:
        client.ok("provider", "create", "h")
        client.ok("inventory", "set", "h", "--resource", "VCPU=1")


def test_db_current_on_both_backends(any_cli: Cli) -> None:
    assert any_cli.ok("db", "current").stdout.strip() == f"{migrations.head()} (up to date)"


def test_database_from_the_data_dir_when_no_url_is_given(tmp_path: Path) -> None:
    cli = Cli(None)  # CORRAL_DATA_DIR is tmp_path/data (conftest)
    cli.ok("db", "upgrade")
    assert (tmp_path / "data" / "corral.sqlite").exists()
    assert "up to date" in cli.ok("db", "current").stdout  # the same database, found again


@contextmanager
def served(url: str, tmp_path: Path) -> Iterator[Cli]:
    """A server on the database at ``url``, and the CLI as its client."""
    store = make_store(url)
    try:
        with running_server(store, Settings(data_dir=str(tmp_path / "server"))) as endpoint:
            yield Cli(url, endpoint)
    finally:
        store.dispose()


def test_config_sample_lists_every_option_and_parses() -> None:
    text = Cli(None).ok("config", "sample").stdout
    for opt in OPTIONS:  # in the file under its file name ([keystone_authtoken]'s are short)
        assert f"#{file_key(opt)} = " in text and f"# env: CORRAL_{opt.name.upper()}" in text
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("\n".join(line.removeprefix("#") if " = " in line else line
                                 for line in text.splitlines()))
    assert parser.get("api", "port") == "8778"
    assert parser.get("database", "auto_migrate") == "false"


def test_version() -> None:
    assert Cli(None).ok("--version").stdout.strip() == f"corral {__version__}"


def test_bad_settings_exit_2_naming_where_they_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_POOL_SIZE", "lots")
    assert_fails(Cli(None)("provider", "list"), 2, "invalid configuration", "CORRAL_POOL_SIZE")
    assert_fails(Cli("mysql://x/y")("provider", "list"), 2, "--database-url",
                 "must be an sqlite:/// or postgresql+psycopg:// URL")


def test_a_missing_schema_names_the_fix(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/new.sqlite")
    assert_one_error_line(cli("demo"), "run 'corral db upgrade'")  # it opens the database


def test_an_unreachable_database_is_one_line_not_a_traceback() -> None:
    cli = Cli("postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    assert_one_error_line(cli("demo"), "OperationalError", "--debug")
    crashed = cli("--debug", "demo")
    assert crashed.exit_code == 1 and not isinstance(crashed.exception, SystemExit)


def _run(*args: str, data_dir: Path, url: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "OS_"))}
    env["CORRAL_DATA_DIR"] = str(data_dir)
    if url is not None:
        env["CORRAL_URL"] = url
    return subprocess.run([sys.executable, "-m", "corral.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_make_run_sequence_in_a_real_process(tmp_path: Path) -> None:
    """What `make run` does before serving: upgrade, then demo --if-empty, twice."""
    for _ in range(2):
        assert _run("db", "upgrade", data_dir=tmp_path).returncode == 0
    first = _run("demo", "--if-empty", data_dir=tmp_path)
    assert first.returncode == 0 and "seeded the demo fleet" in first.stdout, first.stderr
    second = _run("demo", "--if-empty", data_dir=tmp_path)
    assert second.returncode == 0 and "left them alone" in second.stdout
    current = _run("db", "current", data_dir=tmp_path)
    assert current.returncode == 0 and "up to date" in current.stdout, current.stderr


def test_errors_in_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    """No server answers at CORRAL_URL's default: one line, exit 4 (docs/cli.md)."""
    _run("db", "upgrade", data_dir=tmp_path)
    shown = _run("provider", "show", "ghost", data_dir=tmp_path,
                 url=f"http://127.0.0.1:{free_port()}")
    assert shown.returncode == 4, shown.stderr
    assert shown.stderr.startswith("error: cannot reach corral at http://127.0.0.1:")
    assert len(shown.stderr.strip().splitlines()) == 1
    bad = _run("inventory", "set", "ghost", "--resource", "VCPU", data_dir=tmp_path)
    assert bad.returncode == 2 and "--resource" in bad.stderr and "Traceback" not in bad.stderr
