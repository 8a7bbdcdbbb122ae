"""Keystone tokens: validated with corral's service user, cached per process.

``auth_strategy = keystone`` (docs/access.md). Every token is validated once with
``GET /v3/auth/tokens?nocatalog`` (the token in ``X-Subject-Token``) through a keystoneauth1
session of corral's own service user, then trusted from this process's cache until the
earlier of its expiry and ``[keystone_authtoken] token_cache_time``: a token revoked in
Keystone keeps working at most that long. A token Keystone refuses (404, or an answer
that is not a token) is remembered as refused for as long, so a flood of bad tokens
costs Keystone one call each per cache time. The cache holds at most
``token_cache_size`` answers, dropping the least recently used; only the tokens' sha256
are kept. Concurrent validations of one token this process does not hold are made one
call to Keystone (single flight): the first caller asks, the others wait for its answer.

``allow_expired``: a user's token that came with a valid service token (Nova finishing a
long operation started with it) is validated with ``allow_expired=1``, so Keystone
accepts it past its expiry (within its ``[token] allow_expired_window``). Such an answer
is cached apart from the ordinary ones, for the cache time: it never lets the token
through without a service token.

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
#: The cache key of an answer given with ``allow_expired`` starts with this.
EXPIRED_KEY = "allow_expired:"


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


class _Flight:
    """One validation under way: the callers that come meanwhile wait for its answer."""

    __slots__ = ("done", "found", "failure")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.found: Identity | None = None
        self.failure: IdentityUnavailable | None = None


class Keystone:
    """The service user's view of Keystone: token validation (cached) and projects."""

    def __init__(self, settings: Settings, session: ks_session.Session | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = identity_url(settings)
        self.session = session or service_session(settings)
        self.cache_time = float(settings.keystone_token_cache_time)
        self.cache_size = settings.keystone_token_cache_size
        self.clock = clock
        #: How long a caller waits for another's validation of the same token (the
        #: session may retry a connection once; past this the answer is a 503).
        self.wait_s = 2 * float(settings.keystone_http_connect_timeout) + 1.0
        self._cache: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
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
        if found is not None and not digest.startswith(EXPIRED_KEY):
            until = min(until, found.expires_at.timestamp())
        if until <= now:
            return
        with self._lock:
            self._cache[digest] = (until, found)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _lookup(self, token: str, allow_expired: bool) -> tuple[str, bool, Identity | None]:
        """(cache key to ask under, whether the cache answers, its answer)."""
        digest = _digest(token)
        hit, found = self._cached(digest)
        if hit and (found is not None or not allow_expired):
            return digest, True, found
        if not allow_expired:
            return digest, False, None
        # Refused (or unknown) as a live token: perhaps accepted as an expired one.
        key = EXPIRED_KEY + digest
        hit, found = self._cached(key)
        return key, hit, found

    def knows(self, token: str, allow_expired: bool = False) -> bool:
        """Whether :meth:`validate` answers ``token`` from the cache (no I/O)."""
        return self._lookup(token, allow_expired)[1]

    def cached(self, token: str) -> tuple[bool, Identity | None]:
        """(whether the cache holds ``token``, what it holds), without I/O."""
        return self._lookup(token, False)[1:]

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- Keystone -------------------------------------------------------------------------

    def validate(self, token: str, allow_expired: bool = False) -> Identity | None:
        """The holder of ``token``; None when Keystone refuses it (invalid, revoked,
        expired unless ``allow_expired``).

        Raises:
            IdentityUnavailable: Keystone did not answer, or not as it should.
        """
        key, hit, found = self._lookup(token, allow_expired)
        if hit:
            return found
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leading:
            return self._follow(flight)
        try:
            flight.found = self._ask(token, key, allow_expired)
        except IdentityUnavailable as exc:
            flight.failure = exc
            raise
        except BaseException as exc:  # a bug: the waiting callers must not take it as a no
            flight.failure = IdentityUnavailable(f"validation failed: {type(exc).__name__}")
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.found

    def _follow(self, flight: _Flight) -> Identity | None:
        """The answer of the validation another caller is making of the same token."""
        if not flight.done.wait(self.wait_s):
            raise IdentityUnavailable(f"no answer from Keystone within {self.wait_s:.0f} s")
        if flight.failure is not None:
            raise IdentityUnavailable(flight.failure.reason)
        return flight.found

    def _ask(self, token: str, key: str, allow_expired: bool) -> Identity | None:
        """Ask Keystone about ``token`` and remember its answer under ``key``."""
        started = time.perf_counter()
        # Without the catalog: corral reads none of it, and Keystone builds it per call.
        path = "/auth/tokens?nocatalog" + ("&allow_expired=1" if allow_expired else "")
        body = self.get(path, headers={"X-Subject-Token": token})
        found = None
        if body is not None:
            try:
                found = identity_from_token(body.get("token") or {})
            except ValueError as exc:
                log.warning("keystone_token_unusable", reason=str(exc))
        self._remember(key, found)
        log.debug("keystone_token_validated", valid=found is not None,
                  allow_expired=allow_expired,
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
