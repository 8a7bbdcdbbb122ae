"""Host up and host down, told once each (events ``host.up`` and ``host.down``).

Whether a host is down is not stored: it is computed from its last heartbeat (down once
silent for ``host_down_after_s``) or its ``forced_down`` flag. What is stored is the
state each host was last *told* as (persistence/liveness.py; never told: up). A sweep
(:func:`sweep`, every ``host_liveness_check_s`` in each ``corral serve``) reads, in
one snapshot, every host's computed and told states; for the few that differ it opens
a write transaction, locks those hosts' rows, reads them again, and for each that still
differs stores the new state and writes its event in that same transaction. Two
processes sweeping at once serialise on the row locks (on SQLite, on the one writer);
the second reads the state the first stored and writes nothing: each change is told
exactly once, by whichever process saw it first.

A host is told down at most one sweep interval after it went silent for
``host_down_after_s``, and up at most one interval after its first heartbeat since. A
host that flaps faster than the sweep is told only the states the sweeps saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import structlog

from corral.config import Settings
from corral.domain import events as ev
from corral.domain import hosts as rules
from corral.domain.events import NewEvent
from corral.persistence.clock import utcnow
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.hosts")

Row = tuple[int, str, str, bool, datetime | None, str]


def _changed(repo: Repo, settings: Settings, rows: Sequence[Row], now: datetime
             ) -> list[tuple[Row, str, datetime | None]]:
    """The hosts whose computed state is not the one they were told as: (row, state now,
    last heartbeat)."""
    if not rows:
        return []
    logged = repo.logged_heartbeats([r[0] for r in rows])
    out = []
    for row in rows:
        beat = rules.later(row[4], logged.get(row[0]))
        state = rules.host_state(row[3], beat, now, settings.host_down_after_s)
        if state != row[5]:
            out.append((row, state, beat))
    return out


def sweep(store: Store, settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Tell every change of a host's liveness since the last sweep (of any process);
    returns the names of the hosts told."""
    now = now or utcnow()
    with store.snapshot() as repo:
        seen = _changed(repo, settings, repo.liveness_rows(), now)
    if not seen:
        return []
    ids = [row[0] for row, _state, _beat in seen]
    with store.write() as repo:
        repo.lock_hosts(ids)
        found = _changed(repo, settings, repo.liveness_rows(ids), now)
        for (host_id, name, _uuid, _forced, _row_beat, _told), state, _beat in found:
            repo.set_liveness(host_id, name, state, now)
        repo.add_events([_event(row, state, beat, now) for row, state, beat in found])
    for (_id, name, _uuid, forced, _b, _t), state, beat in found:
        log.warning("host_" + state, host=name, forced_down=forced, last_heartbeat=beat)
    return [row[1] for row, _state, _beat in found]


def _event(row: Row, state: str, beat: datetime | None, now: datetime) -> NewEvent:
    _id, name, provider_uuid, forced, _row_beat, _told = row
    return NewEvent(
        str(uuid.uuid4()), ev.HOST_DOWN if state == rules.DOWN else ev.HOST_UP, "host", name,
        {"host": name, "provider_uuid": provider_uuid, "state": state,
         "reason": "forced_down" if forced else "heartbeat",
         "last_heartbeat": beat.isoformat() + "Z" if beat else None,
         "changed_at": now.isoformat() + "Z"}, now,
        priority="WARN" if state == rules.DOWN else "INFO")
