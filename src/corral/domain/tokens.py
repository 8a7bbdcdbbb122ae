"""API tokens: roles, what each role grants, and the rules a new token must follow.

A token is scoped to a project of the tree and carries one role (docs/access.md):

    admin          the cloud (its project, if any, is informational)
    project-admin  its project and every descendant; manages descendants' limits
    member         boots and deletes in its own project
    reader         reads its own project

The secret is shown once, at creation; the store keeps only its sha256. Secrets
start with :data:`SECRET_PREFIX`, so authentication looks up only strings that can be
one (a Placement ``noauth2`` token such as ``admin`` or ``user:project`` costs no
query), and so secret scanners can recognise a leaked one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from corral.domain import errors

Role = Literal["admin", "project-admin", "member", "reader"]
ROLES: Final[tuple[Role, ...]] = ("admin", "project-admin", "member", "reader")

#: Roles a project admin may hand out (never the cloud's ``admin``).
DELEGABLE: Final[frozenset[str]] = frozenset({"project-admin", "member", "reader"})

#: The roles a request made with a token of each role carries (RequestContext.roles).
#: A project admin is also a member and a reader of the projects it reaches.
CONTEXT_ROLES: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset({"admin"}),
    "project-admin": frozenset({"project-admin", "member", "reader"}),
    "member": frozenset({"member", "reader"}),
    "reader": frozenset({"reader"}),
}

#: Roles from the highest: a token never mints one above its own (docs/access.md).
RANK: Final[dict[str, int]] = {role: rank for rank, role in enumerate(ROLES)}

SECRET_PREFIX: Final = "corral_"
MAX_LENGTH: Final = 255
MAX_EXPIRES_IN_DAYS: Final = 3650

TokenState = Literal["active", "revoked", "expired"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as listed and shown: everything but the secret (never kept)."""

    uuid: str
    name: str
    project_id: str | None
    user_id: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def usable(self, now: datetime) -> bool:
        return self.state(now) == "active"


class TokenNotFound(errors.NotFound):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"No API token {uuid} found.")
        self.uuid = uuid


def hash_secret(secret: str) -> str:
    """The sha256 of a secret, hex: what the store keeps and looks up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_secret(token: str) -> bool:
    """Whether ``token`` could be a stored token's secret (worth a lookup)."""
    return token.startswith(SECRET_PREFIX) and len(token) > len(SECRET_PREFIX)


def context_roles(role: str) -> frozenset[str]:
    """The request roles a token of ``role`` grants (none for an unknown role)."""
    return CONTEXT_ROLES.get(role, frozenset())


def highest_role(roles: frozenset[str]) -> str | None:
    """The highest of the four token roles among ``roles`` (None: none of them)."""
    return min((r for r in roles if r in RANK), key=RANK.__getitem__, default=None)


def roles_up_to(role: str | None) -> frozenset[str]:
    """The roles at or below ``role``: what a holder of ``role`` may mint and manage."""
    if role is None:
        return frozenset()
    return frozenset(r for r in ROLES if RANK[r] >= RANK[role])


def default_name(role: str, project_id: str | None) -> str:
    return f"{project_id or 'cloud'}-{role}"


def check_token(*, role: str, project_id: str | None, user_id: str | None, name: str | None,
                expires_in_days: int | None) -> None:
    """Refuse a token the rules do not allow.

    Raises:
        InvalidInput: an unknown role; no project for a role other than admin; an
            empty or over-long name, user or project; an expiry outside 1..3650 days.
    """
    if role not in ROLES:
        raise errors.InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}",
                                  field="role")
    if project_id is None and role != "admin":
        raise errors.InvalidInput(f"a {role} token needs a project", field="project_id")
    for value, field in ((project_id, "project_id"), (user_id, "user_id"), (name, "name")):
        if value is not None and not 1 <= len(value) <= MAX_LENGTH:
            raise errors.InvalidInput(f"{field} must be 1 to {MAX_LENGTH} characters",
                                      field=field)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise errors.InvalidInput(
            f"expires_in_days must be 1 to {MAX_EXPIRES_IN_DAYS}", field="expires_in_days")


def parse_api_tokens(value: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Parse 'TOKEN=USER:PROJECT:ROLE+ROLE, ...' into {token: (user, project, roles)}."""
    tokens: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        token, sep, rest = item.partition("=")
        fields = rest.split(":")
        if not sep or not token or len(fields) != 3 or not all(fields[:2]):
            raise ValueError(f"entry {len(tokens) + 1} is not TOKEN=USER:PROJECT:ROLE[+ROLE...]")
        roles = tuple(r for r in fields[2].split("+") if r)
        tokens[token] = (fields[0], fields[1], roles)
    return tokens
