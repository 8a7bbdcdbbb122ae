"""Keystone tokens as request contexts (``auth_strategy = keystone``, docs/access.md).

One :class:`KeystoneAuth` per app serves both APIs (one cache, so a token validated by
a Placement call is warm for /v1). A request's ``X-Auth-Token`` is validated by
Keystone (services/keystone.py); an ``X-Service-Token`` sent beside it, as Nova sends
one, must be valid too and carry the ``service`` role, and adds that role. With such a
service token the user's token is accepted past its expiry (``allow_expired``, as
keystonemiddleware does: Nova finishes with the token a long operation started with);
without one, an expired token is a 401. The token's
Keystone roles become corral's (domain/keystone.py); its project is placed under its
Keystone parents the first time this process validates it.

Validation may wait on the network: the API calls :meth:`KeystoneAuth.context` in a
worker thread unless :meth:`KeystoneAuth.knows` says the cache alone answers, so the
event loop never waits on Keystone, and a warm request costs a dictionary lookup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from corral.api.context import RequestContext
from corral.api.workers import every
from corral.config import Settings
from corral.domain.keystone import Identity, IdentityUnavailable, corral_roles
from corral.domain.tokens import looks_like_secret
from corral.services.keystone import Keystone
from corral.services.keystone_projects import ProjectPlacer
from corral.services.stores import Store

log = structlog.get_logger("corral.keystone")


class KeystoneAuth:
    """Keystone validation and project placement, shared by /v1 and Placement."""

    def __init__(self, settings: Settings, keystone: Keystone,
                 placer: ProjectPlacer | None = None) -> None:
        self.settings = settings
        self.keystone = keystone
        self.placer = placer

    def www_authenticate(self) -> dict[str, str]:
        """The header of every 401: where to get a token."""
        return {"www-authenticate": f'Keystone uri="{self.settings.keystone_public_uri}"'}

    def knows(self, token: str, service_token: str | None = None) -> bool:
        """Whether :meth:`context` answers from the cache alone (no I/O)."""
        if not service_token:
            return self.keystone.knows(token)
        hit, holder = self.keystone.cached(service_token)
        return hit and self.keystone.knows(token, allow_expired=_serves(holder))

    def context(self, token: str, service_token: str | None = None) -> RequestContext | None:
        """The caller ``token`` (and ``service_token``) make; None when Keystone refuses
        either.

        Raises:
            IdentityUnavailable: Keystone cannot be asked.
        """
        service = False
        if service_token:  # first: a valid one lets the user's token be an expired one
            if not _serves(self.keystone.validate(service_token)):
                return None
            service = True
        cold = not self.keystone.knows(token, allow_expired=service)
        user = self.keystone.validate(token, allow_expired=service)
        if user is None:
            return None
        project = user.scope_project
        if cold and project is not None:
            self.place(project)
        return RequestContext(user.user_id, project, corral_roles(user, service=service))

    def place(self, project: str) -> None:
        """Place a project first seen (no I/O when this process placed it already); a
        failure is logged and the request goes on (the periodic sync places it later)."""
        if self.placer is None or self.placer.seen(project):
            return
        try:
            self.placer.place(project)
        except IdentityUnavailable as exc:
            log.warning("keystone_project_not_placed", project=project, reason=exc.reason)


def _serves(holder: Identity | None) -> bool:
    """Whether a service token's holder is a service (valid, with the ``service`` role)."""
    return holder is not None and "service" in holder.roles


def needs_keystone(settings: Settings, auth: KeystoneAuth | None, token: str | None,
                   service_token: str | None) -> bool:
    """Whether authenticating this token may ask Keystone (then not on the event loop):
    a Keystone token, neither static nor stored, that the cache does not hold."""
    if auth is None or not token or looks_like_secret(token) or token in settings.tokens:
        return False
    return not auth.knows(token, service_token)


def keystone_auth(settings: Settings, store: Store) -> KeystoneAuth | None:
    """The app's Keystone validation and project placer (no I/O until the first token);
    None unless ``auth_strategy = keystone``."""
    if settings.auth_strategy != "keystone":
        return None
    keystone = Keystone(settings)
    placer = ProjectPlacer(store, keystone, lambda: settings.quota_model,
                           cache_time=max(float(settings.keystone_token_cache_time), 1.0))
    return KeystoneAuth(settings, keystone, placer)


@asynccontextmanager
async def syncing(auth: KeystoneAuth | None, seconds: int) -> AsyncIterator[None]:
    """Run the periodic sync while the app serves (nothing without Keystone or at 0 s)."""
    task = (asyncio.create_task(every(seconds, auth.placer.sync, "keystone_sync_failed"))
            if auth is not None and auth.placer is not None and seconds else None)
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
