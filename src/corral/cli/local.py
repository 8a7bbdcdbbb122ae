"""The commands that open the database themselves: ``db`` and ``demo`` (``serve`` and
``relay`` open theirs through the services, as the server does).

Every other command is a client of the API (cli/client.py); an import-linter contract
(pyproject.toml) keeps it so. :func:`open_services` opens the store named by the
configuration, refuses a schema that is behind, and turns every error into one line on
stderr: a :class:`~corral.domain.errors.CorralError` (the services' refusals) or any
other failure (database unreachable, disk full) exits 1. ``--debug`` lets unexpected
errors through with their traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from corral.cli.context import fail, settings, state
from corral.domain.errors import CorralError, StoreUnavailable
from corral.services import system
from corral.services.stores import Store


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


