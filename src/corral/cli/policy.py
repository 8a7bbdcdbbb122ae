"""``corral policy list``: every policy rule, its default and its effective check.

Reads the configuration and the policy file it names (``policy_file``), never the
database: an operator can check a ``policy.yaml`` before any server starts. A file
that cannot be used is the same error ``corral serve`` stops with (exit code 2).
"""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli import output
from corral.cli.context import fail, settings
from corral.services import policy as svc

policy_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Policy: the rules, their defaults and what is in effect.")

COLUMNS = ("name", "default", "effective", "overridden", "description")


@policy_app.command("list")
def list_rules(
    overridden: Annotated[bool, typer.Option(
        "--overridden", help="Only the rules the policy file changes.")] = False,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Every rule with its default check string and the one in effect (the policy
    file's, or the default). Reads no database."""
    out = output.Output(fmt, column, COLUMNS, narrow=("description", "overridden"))
    try:
        policy = svc.from_settings(settings())
    except svc.PolicyError as exc:
        fail(str(exc), code=2)
    out.list({"name": r.name, "default": r.default, "effective": r.effective,
              "overridden": r.overridden, "description": r.description}
             for r in policy.rules() if r.overridden or not overridden)
