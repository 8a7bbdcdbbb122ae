"""Keystone tokens as request contexts (``auth_strategy = keystone``, docs/access.md).

One :class:`KeystoneAuth` per app serves both APIs (one cache, so a token validated by
a Placement call is warm for /v1). A request's ``X-Auth-Token`` is validated by
Keystone (services/keystone.py); an ``X-Service-Token`` sent beside it, as Nova sends
one, must be valid too and carry the ``service`` role, and adds that role. The token's
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
from corral.domain.keystone import IdentityUnavailable, corral_roles
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
        return self.keystone.knows(token) and (
            not service_token or self.keystone.knows(service_token))

    def context(self, token: str, service_token: str | None = None) -> RequestContext | None:
        """The caller ``token`` (and ``service_token``) make; None when Keystone refuses
        either.

        Raises:
            IdentityUnavailable: Keystone cannot be asked.
        """
        cold = not self.keystone.knows(token)
        user = self.keystone.validate(token)
        if user is None:
            return None
        service = False
        if service_token:
            holder = self.keystone.validate(service_token)
            if holder is None or "service" not in holder.roles:
                return None
            service = True
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
