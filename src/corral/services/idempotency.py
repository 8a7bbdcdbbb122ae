"""Idempotency keys of boots: a keyed boot's answer is stored in its claim's transaction
(both commit or neither), and a retry with the same key and request replays it.

The key's scope is the caller's project (or none): two projects may use one key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from corral.domain import errors
from corral.domain.scheduling import Instance
from corral.persistence.clock import utcnow
from corral.services.stores import IdempotencyStore, Store

log = structlog.get_logger("corral.instances")

#: The longest idempotency key accepted (characters of printable ASCII).
MAX_IDEMPOTENCY_KEY = 255
#: Expired idempotency keys are pruned on about one keyed boot in this many.
PRUNE_KEYS_EVERY = 100
_random = random.Random()


@dataclass(frozen=True)
class Key:
    """A boot's idempotency key, and what identifies the request it came with."""

    scope: str
    """The caller's project ("" for a caller with none)."""
    key: str
    fingerprint: str
    retention: timedelta


def _result_json(instances: Sequence[Instance], decision_id: str) -> str:
    """A boot's answer as stored for a replay (instances as they were booted)."""
    def plain(i: Instance) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else
                list(v) if isinstance(v, tuple) else v for k, v in asdict(i).items()}

    return json.dumps({"instances": [plain(i) for i in instances], "decision_id": decision_id})


def _result_of(text: str) -> tuple[list[Instance], str]:
    data = json.loads(text)
    instances = []
    for d in data["instances"]:
        for k in ("created_at", "updated_at", "deleted_at"):
            if d.get(k) is not None:
                d[k] = datetime.fromisoformat(d[k])
        d["alternates"] = tuple(d["alternates"])
        instances.append(Instance(**d))
    return instances, data["decision_id"]


def remember(repo: IdempotencyStore, key: Key, instances: Sequence[Instance],
             decision_id: str) -> None:
    """Store a keyed boot's answer in the boot's transaction.

    Raises:
        IdempotencyKeyTaken: another call stored the key first (then nothing of this
            boot may be committed).
    """
    now = utcnow()
    repo.insert_idempotent_response(
        key.scope, key.key, fingerprint=key.fingerprint, status=201,
        response=_result_json(instances, decision_id), now=now,
        expired_before=now - key.retention)
    if _random.random() < 1 / PRUNE_KEYS_EVERY:
        pruned = repo.prune_idempotency_keys(now - key.retention)
        if pruned:
            log.info("idempotency_keys_pruned", keys=pruned)


def replay(store: Store, key: Key) -> tuple[list[Instance], str] | None:
    """The instances and decision id an earlier boot with ``key`` answered, if any.

    Raises:
        IdempotencyKeyReused: the key was used with another request.
    """
    with store.read() as repo:
        found = repo.idempotent_response(key.scope, key.key, since=utcnow() - key.retention)
    if found is None:
        return None
    if found.fingerprint != key.fingerprint:
        raise errors.IdempotencyKeyReused(key.key)
    return _result_of(found.response)
