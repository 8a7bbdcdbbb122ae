"""``corral config``: a sample file, and the settings in use with their origins.

``config show`` asks the server (``GET /v1/config``, cloud admin): every option the
server runs with, where each came from, secrets hidden. ``config show --local`` shows
this machine's configuration instead (the file and ``CORRAL_*`` variables this command
reads), without a server or a database: to check a file before ``corral serve`` starts.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.context import bad_input, connect, settings, state
from corral.config import OPTIONS, sample_config, setting_origins
from corral.config_view import describe

config_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Configuration: a sample file; the settings in use.")

COLUMNS = ("option", "value", "origin")


@config_app.command("sample")
def config_sample() -> None:
    """Print every option with its help text, as an INI file."""
    sys.stdout.write(sample_config() + "\n")


@config_app.command("show")
def config_show(
    options: Annotated[list[str] | None, typer.Argument(
        help="Only these options (default: every one).", show_default=False)] = None,
    fleet_policy: Annotated[bool, typer.Option(
        "--fleet-policy", help="Only the fleet policy (scheduler, overcommit defaults, "
        "liveness, quota model).")] = False,
    local: Annotated[bool, typer.Option(
        "--local", help="This machine's configuration (file and CORRAL_* variables), not "
        "the server's; needs no server.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """The settings the server runs with: each option, its value (secrets hidden) and
    where it came from (a file and section, CORRAL_X, a flag of 'corral serve', a default
    of the fleet, or the built-in default)."""
    out = output.Output(fmt, column, COLUMNS, narrow=())
    if local:
        known = {opt.name for opt in OPTIONS}
        for name in options or ():
            if name not in known:
                bad_input("OPTIONS", f"unknown option {name!r} (corral config sample lists "
                          "every option)")
        rows = describe(settings(), setting_origins(state.config_file,
                                                    database_url=state.database_url))
        rows = [r for r in rows if (not options or r["option"] in options)
                and (r["fleet_policy"] or not fleet_policy)]
    else:
        with connect() as client:
            rows = client.get("/v1/config", option=options or None,
                              fleet_policy="true" if fleet_policy else None)["options"]
    out.list(rows)
