"""``corral token ...``: API tokens scoped to a project with a role (docs/access.md).

A client of ``/v1/tokens``: what the caller may do is what its token may (the cloud
admin creates tokens of any role for any project, lists every token and revokes any).
``create`` prints the secret once; the server keeps only its sha256, so a lost secret
means a new token.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.client import quote
from corral.cli.context import bad_input, connect
from corral.domain import errors
from corral.domain import tokens as rules

token_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                        help="API tokens: create (the secret is shown once), list, revoke.")

LIST_COLUMNS = ("id", "name", "project_id", "user_id", "role", "state", "expires_at")
SHOW_COLUMNS = (*LIST_COLUMNS, "created_at", "revoked_at")


class Role(StrEnum):
    admin = "admin"
    project_admin = "project-admin"
    member = "member"
    reader = "reader"


def token_row(tok: dict[str, Any]) -> dict[str, Any]:
    """A token of the API, in the CLI's columns."""
    return {name: tok.get(name) for name in SHOW_COLUMNS}


@token_app.command("create")
def create_token(
    role: Annotated[Role, typer.Option("--role", help="What the token may do.")],
    project: Annotated[str | None, typer.Option(
        "--project", help="Project the token acts in (required but for --role admin).")
    ] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help="User the token acts as (default: the name).")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="A label for listings (default: PROJECT-ROLE).")] = None,
    expires_in_days: Annotated[int | None, typer.Option(
        "--expires-in-days", metavar="D", help="Expire after D days (default: never).")
    ] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Create a token and print its secret, once: it cannot be shown again."""
    columns = (*SHOW_COLUMNS, "secret")
    out = output.Output(fmt, column, columns)
    try:
        rules.check_token(role=role.value, project_id=project, user_id=user,
                          name=name, expires_in_days=expires_in_days)
    except errors.InvalidInput as exc:
        option = {"project_id": "--project", "user_id": "--user", "name": "--name",
                  "expires_in_days": "--expires-in-days"}.get(exc.field or "", "--role")
        bad_input(option, exc.detail)
    with connect() as api:
        tok = api.post("/v1/tokens", {"role": role.value, "project_id": project,
                                      "user_id": user, "name": name,
                                      "expires_in_days": expires_in_days})
    out.done(f"token {tok['name']} created ({tok['id']}, role {tok['role']}"
             + (f", project {tok['project_id']})" if tok["project_id"] else ")"))
    out.show({**token_row(tok), "secret": tok["secret"]})
    if fmt == output.Format.table:
        output.said("Keep the secret now: it is stored hashed and will not be shown again. "
                    "Send it as the x-auth-token header.", sys.stderr)


@token_app.command("list")
def list_tokens(
    project: Annotated[str | None, typer.Option(
        "--project", help="Only this project's tokens (default: every token).")] = None,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """List tokens, oldest first (never their secrets)."""
    out = output.Output(fmt, column, LIST_COLUMNS)
    with connect() as api:
        found = api.get("/v1/tokens", project_id=project)["tokens"]
    out.list(token_row(t) for t in found)


@token_app.command("show")
def show_token(
    token: Annotated[str, typer.Argument(help="UUID of the token.")],
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a token (not its secret)."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with connect() as api:
        found = api.get(f"/v1/tokens/{quote(token)}")
    out.show(token_row(found))


@token_app.command("revoke")
def revoke_token(
    token: Annotated[str, typer.Argument(help="UUID of the token.")],
) -> None:
    """Revoke a token. Running servers refuse it within seconds (their cache's TTL)."""
    with connect() as api:
        revoked = api.get(f"/v1/tokens/{quote(token)}")
        api.delete(f"/v1/tokens/{quote(token)}")
    output.said(f"token {revoked['name']} revoked ({revoked['id']})")
