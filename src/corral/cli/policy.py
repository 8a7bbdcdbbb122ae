"""``corral policy list``: every policy rule, its default and its effective check.

By default it asks the server (``GET /v1/policy``, cloud admin): the rules it enforces.
``--local`` reads this machine's configuration and the policy file it names
(``policy_file``) instead, never a server or a database: an operator checks a
``policy.yaml`` before any server starts, and a file that cannot be used is the same
error ``corral serve`` stops with (exit code 2).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.context import connect, fail, settings
from corral.services import policy as svc

policy_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Policy: the rules, their defaults and what is in effect.")

COLUMNS = ("name", "default", "effective", "overridden", "description")


@policy_app.command("list")
def list_rules(
    overridden: Annotated[bool, typer.Option(
        "--overridden", help="Only the rules the policy file changes.")] = False,
    local: Annotated[bool, typer.Option(
        "--local", help="The policy file this machine's configuration names, not the "
        "server's rules; needs no server.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Every rule with its default check string and the one in effect (the policy
    file's, or the default), as the server enforces them (``--local``: as a policy file
    here would make them). Reads no database."""
    out = output.Output(fmt, column, COLUMNS, narrow=("description", "overridden"))
    if local:
        out.list(_local_rules(overridden))
        return
    with connect() as client:
        out.list(client.get("/v1/policy", overridden="true" if overridden else None)["rules"])


def _local_rules(overridden: bool) -> list[dict[str, Any]]:
    try:
        policy = svc.from_settings(settings())
    except svc.PolicyError as exc:
        fail(str(exc), code=2)
    return [r.record() for r in policy.rules() if r.overridden or not overridden]
