"""What every command shares: global options, settings, the endpoint, and error reporting.

Commands talk to corral through :func:`connect` (cli/client.py), which turns every
failure into one ``error: ...`` line on stderr and the exit code docs/cli.md gives it.
The few commands that open the database themselves (``serve``, ``db``, ``demo``) do
it through cli/local.py. Bad command-line input exits 2 through :func:`bad_input`,
naming the option.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from corral.cli.client import Client, ClientError, resolve
from corral.config import ConfigError, Settings, load_settings
from corral.logging import configure_logging


class State:
    """Global options, set by the top-level callback on every invocation."""

    config_file: str | None = None
    database_url: str | None = None
    os_cloud: str | None = None
    os_cacert: str | None = None
    debug: bool = False
    #: Fleet options whose override this invocation already noted on stderr.
    noted: set[str]

    def __init__(self) -> None:
        self.noted = set()


state = State()

# soft_wrap: an error stays one line however narrow the terminal (or a test's pipe).
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr, as one line."""
    line = Text("error: ", style="bold red")
    line.append(message)
    err.print(line)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def bad_input(option: str, message: str) -> NoReturn:
    """Refuse a command-line value: click prints usage and the message, exit code 2."""
    raise typer.BadParameter(message, param_hint=f"'{option}'")


def settings(*, service: bool = False, **overrides: object) -> Settings:
    """Load settings or exit 2 with every problem listed.

    Args:
        service: the command is a long-running service (``serve``) and logs at the
            configured level; one-shot commands log warnings and errors only, so their
            own output is not buried in start-up events.
    """
    try:
        loaded = load_settings(state.config_file, database_url=state.database_url, **overrides)
    except ConfigError as exc:
        fail(str(exc), code=2)
    level = loaded.log_level if service or loaded.log_level in ("warning", "error") else "warning"
    configure_logging(loaded.log_format, level)
    return loaded


@contextmanager
def connect() -> Iterator[Client]:
    """A client of the configured corral endpoint for one command (cli/client.py); a
    failure is one ``error: ...`` line and the exit code docs/cli.md gives it."""
    settings()  # logging as every command sets it; a broken configuration exits 2
    client: Client | None = None
    try:
        client = Client(resolve(state.os_cloud, cacert=state.os_cacert))
        yield client
    except ClientError as exc:
        fail(exc.message, exc.exit_code)
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        if state.debug:
            raise
        # Not the server's refusal: a bug, or a library's failure. Say what, in one line.
        text = str(exc).strip().splitlines()
        fail(f"{type(exc).__name__}: {text[0] if text else ''} (run with --debug for details)")
    finally:
        if client is not None:
            client.close()
