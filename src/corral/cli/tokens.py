"""``corral token ...``: API tokens scoped to a project with a role (docs/access.md).

The CLI is the operator (the cloud admin): it creates tokens of any role for any
project, lists every token and revokes any. ``create`` prints the secret once; the
database keeps only its sha256, so a lost secret means a new token.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from corral.cli import output
from corral.cli.context import bad_input, open_services
from corral.domain import errors
from corral.domain import tokens as rules
from corral.domain.tokens import ApiToken
from corral.services import tokens as svc
from corral.services.audit_log import local_actor

token_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                        help="API tokens: create (the secret is shown once), list, revoke.")

LIST_COLUMNS = ("id", "name", "project_id", "user_id", "role", "state", "expires_at")
SHOW_COLUMNS = (*LIST_COLUMNS, "created_at", "revoked_at")


class Role(StrEnum):
    admin = "admin"
    project_admin = "project-admin"
    member = "member"
    reader = "reader"


def _ts(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def token_row(tok: ApiToken) -> dict[str, Any]:
    return {"id": tok.uuid, "name": tok.name, "project_id": tok.project_id,
            "user_id": tok.user_id, "role": tok.role, "state": svc.state_of(tok),
            "expires_at": _ts(tok.expires_at), "created_at": _ts(tok.created_at),
            "revoked_at": _ts(tok.revoked_at)}


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
    with open_services() as store:
        created = svc.create_token(store, actor=local_actor("corral token create"),
                                   role=role.value, project_id=project, user_id=user,
                                   name=name, expires_in_days=expires_in_days)
    tok = created.token
    out.done(f"token {tok.name} created ({tok.uuid}, role {tok.role}"
             + (f", project {tok.project_id})" if tok.project_id else ")"))
    out.show({**token_row(created.token), "secret": created.secret})
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
    with open_services() as store:
        found = svc.list_tokens(store, project_id=project)
    out.list(token_row(t) for t in found)


@token_app.command("show")
def show_token(
    token: Annotated[str, typer.Argument(help="UUID of the token.")],
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Show a token (not its secret)."""
    out = output.Output(fmt, column, SHOW_COLUMNS)
    with open_services() as store:
        found = svc.get_token(store, token)
    out.show(token_row(found))


@token_app.command("revoke")
def revoke_token(
    token: Annotated[str, typer.Argument(help="UUID of the token.")],
) -> None:
    """Revoke a token. Running servers refuse it within seconds (their cache's TTL)."""
    with open_services() as store:
        revoked = svc.revoke_token(store, token, actor=local_actor("corral token revoke"))
    output.said(f"token {revoked.name} revoked ({revoked.uuid})")
