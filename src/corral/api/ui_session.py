"""The dashboard's sign-in session: a signed cookie that never holds the token's secret.

A sign-in (``POST /ui/login``) checks the token once, then answers a cookie holding what
names the caller again without the secret: a stored or static token's sha256, or for a
``noauth2`` token (no secret to keep: anybody may send one) the identity it gave. A
Keystone token cannot be looked up by a digest, and must be validated again so that
its revocation ends the session: the cookie holds it sealed (AES-256-GCM under a key
derived from the signing key), which the browser can neither read nor use anywhere but
here, and which every request opens and validates (the token cache applies). The
cookie is signed (HMAC-SHA256 with ``ui_session_key``, or a key made once in
``data_dir/ui_session.key``) and carries its expiry (``ui_session_hours``); it is
HttpOnly, SameSite=Strict, scoped to ``/ui``, and Secure when served over HTTPS. Every
request checks the signature and the expiry, then looks the token up again, so a
revoked or expired token ends its sessions at once (within the token cache's seconds
in another process).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corral.api.context import RequestContext
from corral.config import Settings
from corral.domain.tokens import context_roles, hash_secret, looks_like_secret
from corral.services.tokens import Authenticator

log = structlog.get_logger("corral.ui")

KEY_FILE = "ui_session.key"

#: Validates a Keystone token (api.identity.KeystoneAuth.context): the caller, or None.
KeystoneCheck = Callable[[str], RequestContext | None]


def session_key(settings: Settings) -> bytes:
    """The signing key: configured, else kept in the data directory (made once, 0600, so
    every worker on the machine signs alike), else (no writable directory) this
    process's own, said in the log."""
    if settings.ui_session_key:
        return settings.ui_session_key.encode()
    path = Path(settings.data_dir) / KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        return path.read_bytes().strip()
    except OSError as exc:
        log.warning("ui_session_key_ephemeral", path=str(path), reason=str(exc))
        return secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and reads the dashboard's signed session cookies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key: bytes | None = None  # read or made at the first sign-in
        self.ttl_s = settings.ui_session_hours * 3600

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = session_key(self.settings)
        return self._key

    def _aead(self) -> AESGCM:
        """The cipher that seals Keystone tokens: its key is derived from the signing key
        (a key is never used for two purposes)."""
        return AESGCM(hmac.new(self.key, b"corral ui token sealing", hashlib.sha256).digest())

    def _seal(self, token: str) -> str:
        nonce = secrets.token_bytes(12)
        return _b64(nonce + self._aead().encrypt(nonce, token.encode(), b"keystone"))

    def _open(self, sealed: str) -> str | None:
        try:
            raw = _unb64(sealed)
            return self._aead().decrypt(raw[:12], raw[12:], b"keystone").decode()
        except (ValueError, InvalidTag):
            return None

    def issue(self, token: str, ctx: RequestContext) -> str:
        """The cookie value for a caller signed in with ``token`` (already checked)."""
        if token in self.settings.tokens:
            who: dict[str, Any] = {"kind": "static", "ref": hash_secret(token)}
        elif looks_like_secret(token):
            who = {"kind": "stored", "ref": hash_secret(token)}
        elif self.settings.auth_strategy == "keystone":
            who = {"kind": "keystone", "sealed": self._seal(token)}
        else:
            who = {"kind": "noauth2", "user": ctx.user_id, "project": ctx.project_id,
                   "roles": sorted(ctx.roles)}
        body = _b64(json.dumps({**who, "exp": int(time.time()) + self.ttl_s}).encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())

    def caller(self, cookie: str, tokens: Authenticator | None,
               keystone: KeystoneCheck | None = None) -> RequestContext | None:
        """The caller a cookie names, or None: forged, expired, or its token no longer
        accepted.

        Raises:
            IdentityUnavailable: Keystone cannot say whether the session's token holds.
        """
        body, _dot, signature = cookie.partition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or not int(data.get("exp", 0)) > time.time():
            return None
        return self._resolve(data, tokens, keystone)

    def _resolve(self, data: dict[str, Any], tokens: Authenticator | None,
                 keystone: KeystoneCheck | None) -> RequestContext | None:
        kind = data.get("kind")
        if kind == "keystone" and keystone is not None:
            token = self._open(str(data.get("sealed")))
            return None if token is None else keystone(token)
        if kind == "stored" and tokens is not None:
            found = tokens.by_digest(str(data.get("ref")))
            return None if found is None else RequestContext(
                found.user_id, found.project_id, context_roles(found.role))
        if kind == "static":
            for token, (user, project, roles) in self.settings.tokens.items():
                if hmac.compare_digest(hash_secret(token), str(data.get("ref"))):
                    return RequestContext(user, project, frozenset(roles))
            return None
        if kind == "noauth2" and self.settings.auth_strategy == "noauth2":
            return RequestContext(str(data["user"]), data.get("project"),
                                  frozenset(data.get("roles") or ()))
        return None
