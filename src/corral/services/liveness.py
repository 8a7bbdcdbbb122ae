"""Heartbeats: hosts say they are alive, many at a time, for almost nothing.

A heartbeat moves one float in the receiving process's host table at once
(:meth:`~corral.services.host_table.HostTableCache.beat`) and is written by group
commit: the heartbeats that arrive while one flush runs share the next transaction
(:class:`~corral.services.batching.Batcher`), and each request answers once its
flush has committed. The flush logs the ids of the hosts it recorded in one row
stamped with the next value of the ``beats`` change sequence (persistence/heartbeats.py,
persistence/revisions.py), so other processes read only the heartbeats recorded since
they last looked, a few rows, never every host. It writes no host row: every
:data:`FOLD_EVERY_S` a process folds the log older than :data:`FOLD_KEEP_S` into the
rows of the hosts no later flush names, in the background (:func:`fold`).

An agent aggregator (one per rack, say) sends the names of all the hosts it heard
from in one request (:func:`record`); a host alone uses :func:`record_one`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import structlog

from corral.domain import errors
from corral.domain import hosts as rules
from corral.persistence.clock import utcnow
from corral.persistence.heartbeats import latest
from corral.services.scheduler import Scheduler
from corral.services.stores import Store

log = structlog.get_logger("corral.hosts")

#: Host names one request may carry (an aggregator sends more requests beyond it).
MAX_HEARTBEAT_HOSTS = 1000
_BATCHER = "heartbeats"
#: A process folds the heartbeat log into the hosts' rows at most this often (seconds).
FOLD_EVERY_S = 20.0
#: A fold leaves the flushes of this many seconds in the log, and writes the row of a
#: host only if none of those names it: a host heartbeating more often than that (agents
#: do, every 10 s) is never written at all, where a flush writing rows wrote each host
#: every time, 20 flushes a second at 100,000 hosts. Readers of a host's time read the
#: log left: 20 to 40 s of flushes, at that rate 400 to 800 rows of 2 KB.
FOLD_KEEP_S = 20.0
#: Hosts written per transaction of a fold (each a short write between claims: about
#: 9 ms at 100,000 hosts on SQLite, where one row costs 8-9 us).
FOLD_CHUNK = 1000


@dataclass(frozen=True)
class Beats:
    """What a heartbeat request recorded."""

    when: datetime
    """The time recorded (naive UTC, as stored)."""
    recorded: int
    unknown: list[str]
    """Names given that are no host, sorted (nothing was recorded for them)."""


#: What no host name holds (domain/hosts.py): control characters and '/'.
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f/]")


def _check(names: Sequence[str]) -> list[str]:
    if len(names) > MAX_HEARTBEAT_HOSTS:
        raise errors.InvalidInput(
            f"at most {MAX_HEARTBEAT_HOSTS} hosts per request (got {len(names)}): send "
            "the rest in another request", field="hosts")
    # One scan of them all (a request of 1,000 names costs microseconds); the rules
    # name the first bad one.
    lengths = list(map(len, names))
    if names and (_NOT_IN_NAMES.search("".join(names)) or min(lengths) < 1
                  or max(lengths) > rules.MAX_HOST_NAME):
        for i, name in enumerate(names):
            try:
                rules.check_host_name(name)
            except errors.InvalidInput as exc:
                raise errors.InvalidInput(str(exc), field=f"hosts.{i}") from exc
    return list(names)


def _flush(scheduler: Scheduler, jobs: list[list[str]]) -> list[Beats | Exception]:
    """One transaction for every request waiting: each host's heartbeat, stamped."""
    now = utcnow()
    wanted = {name for job in jobs for name in job}
    deletes, known = scheduler.hosts.ids_of(wanted)
    with scheduler.store.write() as repo:
        found = repo.record_heartbeats(wanted, now, known, deletes)
    scheduler.hosts.beat(list(found.values()), now.replace(tzinfo=UTC).timestamp())
    scheduler.part("heartbeat-fold", _Folding).start_if_due(scheduler.store)
    log.debug("heartbeats_recorded", hosts=len(found), requests=len(jobs))
    return [Beats(now, sum(1 for n in set(job) if n in found),
                  sorted({n for n in job if n not in found})) for job in jobs]


def record(scheduler: Scheduler, names: Sequence[str]) -> Beats:
    """Record a heartbeat of each host of ``names`` (answers after it is committed).

    Raises:
        InvalidInput: too many names, or one that cannot be a host's (naming it).
    """
    return _submit(scheduler, _check(names))


def _submit(scheduler: Scheduler, names: list[str]) -> Beats:
    batcher = scheduler.batcher(_BATCHER, lambda jobs: _flush(scheduler, jobs))
    found: Beats = batcher.submit(names)
    return found


def record_one(scheduler: Scheduler, name: str) -> datetime:
    """Record that the host ``name`` is alive now; returns the time recorded.

    Raises:
        HostNotFound: there is no such host.
    """
    found = _submit(scheduler, [name])  # a name no host can have is no host's either
    if found.unknown:
        raise rules.HostNotFound(name)
    return found.when


def fold(store: Store, keep_s: float = FOLD_KEEP_S) -> int:
    """Fold the heartbeat log older than ``keep_s`` into ``hosts.last_heartbeat``, then
    delete it: each host's latest time there is written, :data:`FOLD_CHUNK` hosts per
    transaction, unless a flush left in the log holds a later one (so a host's last
    heartbeat is always the later of its row's and the log's). Any number of processes
    may fold at once: a row only ever takes a later time. Returns the hosts written."""
    with store.read() as repo:
        flushes = repo.unfolded()
    cutoff = time.time() - keep_s
    old = next((k for k, f in enumerate(flushes) if f[1] >= cutoff), len(flushes))
    if not old:
        return 0
    ids, flush = latest([f[:3] for f in flushes[:old]])
    at = np.array([f[1] for f in flushes], dtype=np.float64)
    kept_ids, kept = latest([f[:3] for f in flushes[old:]], ids)
    newer = np.full(ids.size, -np.inf)
    newer[np.searchsorted(ids, kept_ids)] = at[old:][kept]
    write = at[flush] >= newer  # equal: written (times compare to the second here)
    host_ids = ids[write].tolist()
    when = [flushes[f][3] for f in flush[write].tolist()]
    for start in range(0, len(host_ids), FOLD_CHUNK):
        with store.write() as repo:
            repo.fold_heartbeats(host_ids[start:start + FOLD_CHUNK],
                                 when[start:start + FOLD_CHUNK])
    with store.write() as repo:
        repo.drop_flushes(through=flushes[old - 1][0])
    log.debug("heartbeats_folded", hosts=len(host_ids), flushes=old)
    return len(host_ids)


class _Folding:
    """When this process last folded, and whether a fold runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._running = False

    def start_if_due(self, store: Store) -> None:
        with self._lock:
            if self._running or time.monotonic() - self._last < FOLD_EVERY_S:
                return
            self._running = True
        threading.Thread(target=self._run, args=(store,), name="heartbeat-fold",
                         daemon=True).start()

    def _run(self, store: Store) -> None:
        try:
            fold(store)
        except Exception:  # noqa: BLE001 - logged; the log stays and a later fold retries
            log.exception("heartbeat_fold_failed")
        finally:
            with self._lock:
                self._running, self._last = False, time.monotonic()

