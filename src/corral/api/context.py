"""Who is asking, and may they: request contexts from tokens, and Placement's policy.

With ``auth_strategy=keystone`` any other token is Keystone's (api/identity.py).
Otherwise authentication follows Placement's no-auth mode (``auth_strategy=noauth2``): a token
``user:project`` takes its roles from ``x-roles`` (and its project from ``x-project-id``
when sent), and without that header the user ``admin`` is the cloud admin;
``openstack-system-scope`` makes the token system-scoped. Static tokens from
configuration (``api_tokens``) work in both strategies and carry only their configured
roles. Tokens created with ``corral token create`` (stored hashed, docs/access.md) also
work in both: their project and role are what was stored, and ``x-roles`` and
``openstack-system-scope`` cannot change them. A secret of that shape that is unknown,
revoked or expired is refused (401) in both.

Authorization follows Placement's default rules. New defaults: every ``placement:*``
rule is ``role:admin or role:service`` on a project-scoped token, usages also allow a
reader of the project asked about, and the reshaper is service-only. Legacy defaults
(``enforce_new_defaults = false``) also let ``role:admin`` through everywhere. A
system-scoped token is refused by every rule (Placement's rules are project-scoped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from corral.config import Settings
from corral.domain.tokens import ApiToken, context_roles, looks_like_secret

#: Secret -> usable stored token, or None (``services.tokens.Authenticator.authenticate``).
TokenLookup = Callable[[str], ApiToken | None]

#: (X-Auth-Token, X-Service-Token) -> the caller Keystone vouches for, or None
#: (``api.identity.KeystoneAuth.context``; raises IdentityUnavailable).
KeystoneLookup = Callable[[str, str | None], "RequestContext | None"]

Rule = Literal["admin_or_service", "project_reader_or_admin", "service"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    user_id: str
    project_id: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    system_scope: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def authenticate(settings: Settings, token: str | None, roles_header: str | None,
                 system_scope: str | None, *, lookup: TokenLookup | None = None,
                 project_header: str | None = None, keystone: KeystoneLookup | None = None,
                 service_token: str | None = None) -> RequestContext | None:
    """Turn request headers into a context, or None when the token is not accepted.

    ``lookup`` finds stored tokens; without it only static and noauth2 tokens work.
    ``project_header`` (``x-project-id``) names a noauth2 token's project, as it does
    behind Placement's no-auth middleware; static and stored tokens ignore it.
    ``keystone`` validates any other token when ``auth_strategy = keystone``, with the
    ``service_token`` (``x-service-token``) sent beside it; it may raise
    IdentityUnavailable.
    """
    if not token:
        return None
    static = settings.tokens.get(token)
    if static is not None:
        # A static token's roles are configuration: a client header must not add any.
        user, project, roles = static
        return RequestContext(user, project, frozenset(roles), system_scope or None)
    if lookup is not None and looks_like_secret(token):
        stored = lookup(token)
        if stored is None:
            return None
        return RequestContext(stored.user_id, stored.project_id, context_roles(stored.role))
    if settings.auth_strategy == "keystone":
        return keystone(token, service_token) if keystone is not None else None
    if settings.auth_strategy != "noauth2":
        return None
    user, _sep, project = token.partition(":")
    granted: frozenset[str]
    # As Placement's noauth2: x-roles, when sent, is the whole list; otherwise the
    # user "admin" is an admin and anybody else has no role.
    if roles_header is not None:
        granted = frozenset(r.strip() for r in roles_header.split(",") if r.strip())
    else:
        granted = frozenset({"admin"}) if user == "admin" else frozenset()
    project = project_header or project or user
    return RequestContext(user, None if system_scope else project, granted, system_scope or None)


def allowed(ctx: RequestContext, rule: Rule, *, enforce_new_defaults: bool,
            target_project: str | None = None) -> bool:
    """Placement's default policy for ``rule`` applied to ``ctx``."""
    if ctx.system_scope:
        return False
    roles = ctx.roles
    if rule == "service":
        new = "service" in roles
    elif rule == "project_reader_or_admin":
        new = bool(roles & {"admin", "service"}) or (
            target_project is not None and target_project == ctx.project_id
            and bool(roles & {"reader", "member", "admin"}))
    else:
        new = bool(roles & {"admin", "service"})
    return new or (not enforce_new_defaults and "admin" in roles)
