"""corral relay and corral consume: the processes that work on the database and the
broker refuse to start without a broker, and on a database whose schema is behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, assert_fails


@pytest.mark.parametrize("command", ["relay", "consume"])
def test_no_broker_is_refused_naming_the_option(command: str, tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'c.sqlite'}")
    assert_fails(cli(command), 1, "no broker is configured", "broker_urls")


@pytest.mark.parametrize("command", ["relay", "consume"])
def test_a_schema_behind_is_refused_with_the_command_that_fixes_it(command: str,
                                                                    tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'empty.sqlite'}",
              env={"CORRAL_BROKER_URLS": "amqp://guest:guest@127.0.0.1:1/"})
    assert_fails(cli(command), 1, "corral db upgrade")
