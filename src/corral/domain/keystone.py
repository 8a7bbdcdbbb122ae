"""What a Keystone token says about its holder, and the corral roles that grants.

A token validated by Keystone (``GET /v3/auth/tokens``) is reduced to an
:class:`Identity`: the user, the scope (a project, a domain, or the system), Keystone's
role names (implied roles included, as Keystone lists them), the expiry and the
application credential it was made from, if any. :func:`corral_roles` maps those roles
onto corral's (docs/access.md):

    admin    project or system scope: the cloud admin
             domain scope: the project admin of the domain (a root of the tree)
    manager  the project admin of its project (or domain) and every descendant
    member   member of its project: boots and deletes there
    reader   reads its project
    service  the Placement API (Nova, Neutron); never the administration of /v1

A domain-scoped token acts in the domain's project of the tree: Keystone's domains are
the roots of its project hierarchy, and corral's quota tree is that hierarchy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from corral.domain.errors import CorralError


class IdentityUnavailable(CorralError):
    """Keystone cannot be reached, or does not answer as it should: not the caller's
    fault, and never an accept (503 with Retry-After)."""

    code = "identity_unavailable"

    def __init__(self, reason: str, retry_after_s: int = 5) -> None:
        super().__init__("The identity service (Keystone) cannot validate tokens right now; "
                         "nothing was done. Retry later.")
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Identity:
    """A valid token's holder."""

    user_id: str
    user_name: str
    project_id: str | None
    domain_id: str | None  # the domain of a domain-scoped token
    system: bool
    roles: frozenset[str]
    expires_at: datetime
    application_credential_id: str | None = None

    @property
    def scope_project(self) -> str | None:
        """The project of corral's tree the token acts in (a domain is a root project)."""
        return self.project_id or self.domain_id


def _expiry(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("the token has no expires_at")
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def identity_from_token(token: Mapping[str, Any]) -> Identity:
    """The :class:`Identity` of the ``token`` object of a validation answer.

    Raises:
        ValueError: the object lacks what every v3 token carries (user, expiry).
    """
    user = token.get("user") or {}
    if not isinstance(user, Mapping) or not user.get("id"):
        raise ValueError("the token names no user")
    project = token.get("project") if isinstance(token.get("project"), Mapping) else None
    domain = token.get("domain") if isinstance(token.get("domain"), Mapping) else None
    system = token.get("system")
    credential = token.get("application_credential")
    return Identity(
        user_id=str(user["id"]), user_name=str(user.get("name") or user["id"]),
        project_id=str(project["id"]) if project else None,
        domain_id=str(domain["id"]) if domain and not project else None,
        system=isinstance(system, Mapping) and bool(system.get("all")),
        roles=frozenset(str(r.get("name")) for r in token.get("roles") or ()
                        if isinstance(r, Mapping) and r.get("name")),
        expires_at=_expiry(token.get("expires_at")),
        application_credential_id=(str(credential["id"]) if isinstance(credential, Mapping)
                                   and credential.get("id") else None))


def corral_roles(identity: Identity, *, service: bool = False) -> frozenset[str]:
    """corral's request roles for ``identity`` (none for a role corral does not know).

    ``service``: a valid service token carrying the ``service`` role came with it (as
    Nova sends one beside the user's token), which adds the ``service`` role.
    """
    roles = identity.roles
    granted: set[str] = set()
    if "admin" in roles:
        if identity.system or identity.project_id:
            granted.add("admin")
        else:  # a domain admin: the project admin of its domain
            granted.update(("project-admin", "member", "reader"))
    if "manager" in roles and identity.scope_project:
        granted.update(("project-admin", "member", "reader"))
    if "member" in roles:
        granted.update(("member", "reader"))
    if "reader" in roles:
        granted.add("reader")
    if "service" in roles or service:
        granted.add("service")
    return frozenset(granted)
