"""What every command shares: global options, settings, the store, and error reporting.

Commands reach the database only through :func:`open_services`, which opens the
store named by the configuration, refuses a schema that is behind, and turns every
error into one line on stderr: a :class:`~corral.domain.errors.CorralError` (the
services' refusals) or any other failure (database unreachable, disk full) exits 1.
Bad command-line input exits 2 through :func:`bad_input`, naming the option.
``--debug`` lets unexpected errors through with their traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from corral.cli.client import Client, ClientError, resolve
from corral.config import ConfigError, Settings, load_settings, setting_origins
from corral.domain.errors import CorralError, StoreUnavailable
from corral.logging import configure_logging
from corral.services import system
from corral.services.stores import Store


class State:
    """Global options, set by the top-level callback on every invocation."""

    config_file: str | None = None
    database_url: str | None = None
    os_cloud: str | None = None
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


def fleet_settings(store: Store) -> Settings:
    """The settings a command reads the fleet and decides with: the fleet policy that
    ``corral serve`` published into the database (services/system.py), over this
    command's own configuration. An option configured here that differs is said once,
    on stderr, with the value used and why."""
    own = settings()
    view = system.fleet_view(store, own, setting_origins(state.config_file,
                                                         database_url=state.database_url))
    for override in view.overrides:
        if override.name not in state.noted:
            state.noted.add(override.name)
            line = Text("note: ", style="bold yellow")
            line.append(override.sentence())
            err.print(line)
    return view.settings


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def open_services(*, check_schema: bool = True) -> Iterator[Store]:
    """Open the configured store for one command and report what goes wrong.

    Args:
        check_schema: refuse (exit 1) when the schema is not at the newest revision,
            with the command that fixes it; ``db`` commands pass False.
    """
    conf = settings()
    store: Store | None = None
    try:
        store = system.open_store(conf)
        if check_schema:
            schema = system.schema_state(store)
            if not schema.up_to_date:
                where = store.location
                fail(f"database schema is at {schema.current or 'nothing (empty database)'}, "
                     f"this corral needs {schema.head}: run 'corral db upgrade' "
                     f"(database {where})")
        yield store
    except StoreUnavailable as exc:
        if state.debug:
            raise
        fail(f"the database is unavailable: {exc.reason} (run with --debug for details)")
    except CorralError as exc:
        fail(exc.detail)
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        if state.debug:
            raise
        # Not a refusal by the rules: the database or the machine failed. Say what, in
        # one line; --debug shows the traceback.
        fail(f"{type(exc).__name__}: {_first_line(exc)} (run with --debug for details)")
    finally:
        if store is not None:
            store.dispose()


@contextmanager
def connect() -> Iterator[Client]:
    """A client of the configured corral endpoint for one command (cli/client.py); a
    failure is one ``error: ...`` line and the exit code docs/cli.md gives it."""
    settings()  # logging as every command sets it; a broken configuration exits 2
    client: Client | None = None
    try:
        client = Client(resolve(state.os_cloud))
        yield client
    except ClientError as exc:
        fail(exc.message, exc.exit_code)
    finally:
        if client is not None:
            client.close()
