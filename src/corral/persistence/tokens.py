"""SQL for API tokens (mixed into the Repository).

A row of ``api_tokens`` keeps the sha256 of the secret (unique: the lookup key of
every authenticated request), never the secret. Revoking stamps ``revoked_at`` once;
rows are kept so a listing shows what was revoked and when.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, RowMapping, bindparam, insert, select, update

from corral.domain.tokens import ApiToken
from corral.persistence import tables as t

_tok = t.api_tokens
_COLUMNS = (_tok.c.uuid, _tok.c.name, _tok.c.project_id, _tok.c.user_id, _tok.c.role,
            _tok.c.created_at, _tok.c.expires_at, _tok.c.revoked_at)
# The statement of every authenticated request that misses the cache: built once.
_BY_HASH = select(*_COLUMNS).where(_tok.c.secret_hash == bindparam("secret_hash"))


def _token(row: RowMapping) -> ApiToken:
    return ApiToken(uuid=row["uuid"], name=row["name"], project_id=row["project_id"],
                    user_id=row["user_id"], role=row["role"], created_at=row["created_at"],
                    expires_at=row["expires_at"], revoked_at=row["revoked_at"])


class TokenQueries:
    conn: Connection

    def insert_token(self, token: ApiToken, secret_hash: str) -> None:
        self.conn.execute(insert(_tok).values(
            uuid=token.uuid, secret_hash=secret_hash, name=token.name,
            project_id=token.project_id, user_id=token.user_id, role=token.role,
            created_at=token.created_at, expires_at=token.expires_at, revoked_at=None))

    def token_by_hash(self, secret_hash: str) -> ApiToken | None:
        row = self.conn.execute(_BY_HASH, {"secret_hash": secret_hash}).mappings().first()
        return _token(row) if row is not None else None

    def token_by_uuid(self, uuid: str) -> ApiToken | None:
        row = self.conn.execute(select(*_COLUMNS).where(_tok.c.uuid == uuid)).mappings().first()
        return _token(row) if row is not None else None

    def list_tokens(self, *, project_ids: Collection[str] | None = None) -> list[ApiToken]:
        """Every token (or those of ``project_ids``), oldest first."""
        query = select(*_COLUMNS).order_by(_tok.c.id)
        if project_ids is not None:
            query = query.where(_tok.c.project_id.in_(sorted(project_ids)))
        return [_token(row) for row in self.conn.execute(query).mappings()]

    def token_project_ids(self) -> set[str]:
        """The distinct projects tokens are scoped to."""
        return {p for p in self.conn.scalars(select(_tok.c.project_id).distinct())
                if p is not None}

    def revoke_token(self, uuid: str, at: datetime) -> bool:
        """Stamp ``revoked_at`` unless already revoked; True when this call did."""
        result = self.conn.execute(update(_tok).where(_tok.c.uuid == uuid,
                                                      _tok.c.revoked_at.is_(None))
                                   .values(revoked_at=at))
        return result.rowcount == 1
