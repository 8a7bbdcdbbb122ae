"""API tokens: create (the secret shown once), list, revoke, and authenticate.

Who may create or revoke which token is the edge's business (``api/v1/access.py``):
these functions take the subtree to act in (``within``, a project id) or None for the
whole cloud (admins, the CLI).

Authentication goes through an :class:`Authenticator`, which keeps what it found for
a few seconds (``ttl_s``, default 5) so a busy client costs no query per request. The
price: a token revoked through another process (or the CLI) still works for at most
``ttl_s`` seconds in a process that had it cached; a revoke through this process's
API is immediate here. Expiry is checked on every request, cached or not.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import structlog

from corral.domain import tokens as rules
from corral.domain.audit_log import Actor
from corral.domain.project_checks import ProjectNotFound
from corral.domain.tokens import ApiToken, TokenNotFound
from corral.persistence.clock import utcnow
from corral.services.audit_log import record
from corral.services.project_tree import load, project_named
from corral.services.stores import ProjectStore, Store, TokenStore

log = structlog.get_logger("corral.tokens")

#: How long an Authenticator trusts what it read (seconds): the revoke delay.
DEFAULT_TTL_S = 5.0


class _TokenRepo(TokenStore, ProjectStore, Protocol):
    """What finding a token within a project subtree reads."""


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token and its secret: the only time the secret exists outside the client."""

    token: ApiToken
    secret: str


def create_token(store: Store, *, actor: Actor, role: str, project_id: str | None,
                 user_id: str | None = None, name: str | None = None,
                 expires_in_days: int | None = None) -> CreatedToken:
    """Create a token; returns it with its secret (stored only as a sha256).

    Raises:
        InvalidInput: see :func:`corral.domain.tokens.check_token`.
        ProjectNotFound: ``project_id`` is neither the id nor the name of a project of
            the tree (field ``project_id``): a token for a project that does not exist
            could never do anything.
        AmbiguousName: several projects are named ``project_id``.
    """
    given_name = name
    name = name or rules.default_name(role, project_id)
    user_id = user_id or name
    rules.check_token(role=role, project_id=project_id, user_id=user_id, name=name,
                      expires_in_days=expires_in_days)
    if project_id is not None:
        found = _existing_project(store, project_id)
        if found != project_id:  # named by its name: the token keeps the id
            project_id = found
            name = given_name or rules.default_name(role, project_id)
    now = utcnow()
    token = ApiToken(
        uuid=str(uuidlib.uuid4()), name=name, project_id=project_id, user_id=user_id,
        role=role, created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None)
    secret = rules.SECRET_PREFIX + secrets.token_urlsafe(32)
    with store.write() as repo:
        repo.insert_token(token, rules.hash_secret(secret))
        record(repo, actor, "token.create", "token", token.uuid, after=_shown(token))
    log.info("token_created", token=token.uuid, role=role, project=project_id, user=user_id,
             actor=actor.user_id)
    return CreatedToken(token, secret)


def _existing_project(store: Store, ref: str) -> str:
    with store.read() as repo:
        loaded = load(repo)
        found = project_named(loaded, ref, field="project_id")
        if found not in loaded.tree:
            error = ProjectNotFound(ref)
            error.field = "project_id"
            raise error
    return found


def subtree_of(repo: ProjectStore, scope: str, target: str) -> bool:
    """Whether ``target`` is ``scope`` or one of its descendants."""
    return target == scope or any(p.external_id == scope for p in repo.project_chain(target))


def within_subtree(store: Store, scope: str, target: str) -> bool:
    """:func:`subtree_of` in a transaction of its own (no query when they are equal)."""
    if target == scope:
        return True
    with store.read() as repo:
        return subtree_of(repo, scope, target)


def list_tokens(store: Store, *, within: str | None = None,
                project_id: str | None = None) -> list[ApiToken]:
    """Tokens, oldest first: all of them, or those scoped to ``within``'s subtree; with
    ``project_id``, only that project's."""
    with store.read() as repo:
        if within is None:
            found = repo.list_tokens(project_ids=None if project_id is None else [project_id])
        else:
            wanted = ({project_id} if project_id is not None else repo.token_project_ids())
            found = repo.list_tokens(project_ids=[p for p in wanted
                                                  if subtree_of(repo, within, p)])
    return found


def get_token(store: Store, uuid: str, *, within: str | None = None) -> ApiToken:
    """The token ``uuid``; with ``within``, only if scoped to that subtree.

    Raises:
        TokenNotFound: no such token (or one outside ``within``).
    """
    with store.read() as repo:
        return _token_in(repo, uuid, within)


def _token_in(repo: _TokenRepo, uuid: str, within: str | None) -> ApiToken:
    found = repo.token_by_uuid(uuid)
    if found is None or (within is not None and (
            found.project_id is None or not subtree_of(repo, within, found.project_id))):
        raise TokenNotFound(uuid)
    return found


def revoke_token(store: Store, uuid: str, *, actor: Actor, within: str | None = None
                 ) -> ApiToken:
    """Revoke a token (a second revoke changes nothing); returns it as it now is.

    Raises:
        TokenNotFound: no such token (or one outside ``within``).
    """
    with store.write() as repo:
        found = _token_in(repo, uuid, within)
        changed = repo.revoke_token(uuid, utcnow())
        revoked = repo.token_by_uuid(uuid)
        assert revoked is not None
        if changed:
            record(repo, actor, "token.revoke", "token", uuid, before=_shown(found),
                   after=_shown(revoked))
    if changed:
        log.info("token_revoked", token=uuid, project=found.project_id, actor=actor.user_id)
    return revoked


def _shown(token: ApiToken) -> dict[str, object]:
    """A token as its audit entries show it (never its secret)."""
    return {"id": token.uuid, "name": token.name, "project_id": token.project_id,
            "user_id": token.user_id, "role": token.role,
            "expires_at": token.expires_at, "revoked_at": token.revoked_at}


def state_of(token: ApiToken) -> rules.TokenState:
    """active, revoked or expired, now."""
    return token.state(utcnow())


def find_by_secret(store: Store, secret: str) -> ApiToken | None:
    """The token whose secret is ``secret``, revoked or expired ones included."""
    with store.read() as repo:
        return repo.token_by_hash(rules.hash_secret(secret))


class Authenticator:
    """Secrets to tokens, with a short per-process cache (see the module docstring)."""

    def __init__(self, store: Store, *, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, ApiToken]] = {}
        self._lock = threading.Lock()

    def knows(self, secret: str) -> bool:
        """Whether :meth:`authenticate` can answer for ``secret`` from the cache, without
        reading the store (the API then authenticates on its event loop)."""
        digest = rules.hash_secret(secret)
        with self._lock:
            hit = self._cache.get(digest)
        return hit is not None and self.clock() - hit[0] < self.ttl_s

    def authenticate(self, secret: str) -> ApiToken | None:
        """The usable token ``secret`` is the secret of; None if unknown, revoked or
        expired."""
        if not rules.looks_like_secret(secret):
            return None
        digest = rules.hash_secret(secret)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            found: ApiToken | None = hit[1]
        else:
            with self.store.read() as repo:
                found = repo.token_by_hash(digest)
            with self._lock:
                if found is None:
                    # Unknown secrets are not remembered: a token created a moment ago
                    # in another process must work at once.
                    self._cache.pop(digest, None)
                else:
                    if len(self._cache) > 10_000:
                        self._cache.clear()
                    self._cache[digest] = (now, found)
        if found is None or not found.usable(utcnow()):
            return None
        return found

    def forget(self, uuid: str) -> None:
        """Drop a token from the cache (after a revoke through this process)."""
        with self._lock:
            for digest in [d for d, (_at, tok) in self._cache.items() if tok.uuid == uuid]:
                del self._cache[digest]

