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

Authorization is the policy (services/policy.py): named rules with oslo.policy check
strings, Placement's under Placement's names, overridable in a ``policy.yaml``. The
defaults are Placement's: every ``placement:*`` rule is ``role:admin or role:service``
on a project-scoped token, usages also allow a reader of the project asked about, and
the reshaper is service-only (legacy defaults, ``enforce_new_defaults = false``, also
let ``role:admin`` reshape). A system-scoped token is refused by every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.config import Settings
from corral.domain.tokens import ApiToken, context_roles, looks_like_secret
from corral.services.policy import Policy

#: Secret -> usable stored token, or None (``services.tokens.Authenticator.authenticate``).
TokenLookup = Callable[[str], ApiToken | None]

#: (X-Auth-Token, X-Service-Token) -> the caller Keystone vouches for, or None
#: (``api.identity.KeystoneAuth.context``; raises IdentityUnavailable).
KeystoneLookup = Callable[[str, str | None], "RequestContext | None"]


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


def creds_of(ctx: RequestContext | None) -> dict[str, Any]:
    """The caller as the policy's credentials (no caller: none, so only ``@`` passes)."""
    if ctx is None:
        return {}
    creds: dict[str, Any] = {"user_id": ctx.user_id, "roles": sorted(ctx.roles)}
    if ctx.project_id is not None:  # absent, never "None": a check must not match it
        creds["project_id"] = ctx.project_id
    if ctx.system_scope:
        creds["system_scope"] = ctx.system_scope
    return creds


def allowed(policy: Policy, ctx: RequestContext | None, rule: str,
            target_project: str | None = None) -> bool:
    """Whether the policy's ``rule`` lets ``ctx`` act on ``target_project``'s objects
    (the target's ``project_id``; absent when there is none)."""
    target = {} if target_project is None else {"project_id": target_project}
    return policy.allows(rule, creds_of(ctx), target)
