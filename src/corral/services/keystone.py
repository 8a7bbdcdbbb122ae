"""Keystone tokens: validated with corral's service user, cached per process.

``auth_strategy = keystone`` (docs/access.md). Every token is validated once with
``GET /v3/auth/tokens?nocatalog`` (the token in ``X-Subject-Token``) through a keystoneauth1
session of corral's own service user, then trusted from this process's cache until the
earlier of its expiry and ``[keystone_authtoken] token_cache_time``: a token revoked in
Keystone keeps working at most that long. A token Keystone refuses (404, or an answer
that is not a token) is remembered as refused for as long, so a flood of bad tokens
costs Keystone one call each per cache time. The cache holds at most
``token_cache_size`` answers, dropping the least recently used; only the tokens' sha256
are kept.

Keystone unreachable, slow past ``http_connect_timeout``, refusing corral's own
credentials or answering 5xx raises :class:`IdentityUnavailable` (503): never an accept,
never a 500. Validation blocks on the network, so the API calls :meth:`validate` only in
a worker thread; :meth:`knows` says, without I/O, whether the cache alone can answer.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from corral.config import Settings
from corral.domain.keystone import Identity, IdentityUnavailable, identity_from_token

log = structlog.get_logger("corral.keystone")

#: A refused token is remembered at most this long (a token never becomes valid later,
#: but a Keystone behind a lagging replica might refuse a fresh one for a moment).
REFUSED_TTL_S = 30.0


def identity_url(settings: Settings) -> str:
    """The v3 identity API root from ``auth_url`` (with or without its ``/v3``)."""
    url = settings.keystone_auth_url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def service_session(settings: Settings) -> ks_session.Session:
    """A keystoneauth1 session authenticated as corral's service user."""
    auth: Any
    if settings.keystone_application_credential_id:
        auth = v3.ApplicationCredential(
            auth_url=identity_url(settings),
            application_credential_id=settings.keystone_application_credential_id,
            application_credential_secret=settings.keystone_application_credential_secret)
    else:
        scope: dict[str, Any] = (
            {"system_scope": settings.keystone_system_scope} if settings.keystone_system_scope
            else {"project_name": settings.keystone_project_name,
                  "project_domain_name": settings.keystone_project_domain_name})
        auth = v3.Password(
            auth_url=identity_url(settings), username=settings.keystone_username,
            password=settings.keystone_password,
            user_domain_name=settings.keystone_user_domain_name, **scope)
    return ks_session.Session(auth=auth, timeout=settings.keystone_http_connect_timeout)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Keystone:
    """The service user's view of Keystone: token validation (cached) and projects."""

    def __init__(self, settings: Settings, session: ks_session.Session | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = identity_url(settings)
        self.session = session or service_session(settings)
        self.cache_time = float(settings.keystone_token_cache_time)
        self.cache_size = settings.keystone_token_cache_size
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()
        self._lock = threading.Lock()

    # -- the cache ------------------------------------------------------------------------

    def _cached(self, digest: str) -> tuple[bool, Identity | None]:
        with self._lock:
            hit = self._cache.get(digest)
            if hit is None:
                return False, None
            if hit[0] <= self.clock():
                del self._cache[digest]
                return False, None
            self._cache.move_to_end(digest)
            return True, hit[1]

    def _remember(self, digest: str, found: Identity | None) -> None:
        now = self.clock()
        ttl = self.cache_time if found is not None else min(self.cache_time, REFUSED_TTL_S)
        until = now + ttl
        if found is not None:
            until = min(until, found.expires_at.timestamp())
        if until <= now:
            return
        with self._lock:
            self._cache[digest] = (until, found)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def knows(self, token: str) -> bool:
        """Whether :meth:`validate` answers ``token`` from the cache (no I/O)."""
        return self._cached(_digest(token))[0]

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- Keystone -------------------------------------------------------------------------

    def validate(self, token: str) -> Identity | None:
        """The holder of ``token``; None when Keystone refuses it (invalid, expired,
        revoked).

        Raises:
            IdentityUnavailable: Keystone did not answer, or not as it should.
        """
        digest = _digest(token)
        hit, found = self._cached(digest)
        if hit:
            return found
        started = time.perf_counter()
        # Without the catalog: corral reads none of it, and Keystone builds it per call.
        body = self.get("/auth/tokens?nocatalog", headers={"X-Subject-Token": token})
        found = None
        if body is not None:
            try:
                found = identity_from_token(body.get("token") or {})
            except ValueError as exc:
                log.warning("keystone_token_unusable", reason=str(exc))
        self._remember(digest, found)
        log.debug("keystone_token_validated", valid=found is not None,
                  ms=round((time.perf_counter() - started) * 1000, 1))
        return found

    def get(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any] | None:
        """``GET`` a path of the identity API as the service user: the JSON answer, or
        None for a 404.

        Raises:
            IdentityUnavailable: no answer in time, or one neither 2xx nor 404 (corral's
                own credentials refused included: that is the operator's to fix).
        """
        try:
            response = self.session.get(self.url + path, headers=headers or {},
                                        raise_exc=False)
        except ks_exc.ClientException as exc:  # connect failures, timeouts, auth refused
            log.warning("keystone_unavailable", reason=f"{type(exc).__name__}: {exc}")
            raise IdentityUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("keystone_unavailable", status=response.status_code, path=path)
            raise IdentityUnavailable(f"Keystone answered {response.status_code} to GET {path}")
        try:
            data = response.json()
        except ValueError as exc:
            raise IdentityUnavailable(f"Keystone's answer to GET {path} is not JSON") from exc
        if not isinstance(data, dict):
            raise IdentityUnavailable(f"Keystone's answer to GET {path} is not an object")
        return data
