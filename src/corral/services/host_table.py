"""The scheduler's HostTable, kept fresh from the store without reading it whole.

Each :meth:`HostTableCache.get` (one per decision round) reads four counters in one
statement (persistence/revisions.py) and only what moved since the last look:

- ``beats``: the heartbeat flushes logged since (heartbeat_flushes: a few rows, each
  the ids of the hosts it recorded), at most every second (or every tenth of
  ``host_down_after_s`` when shorter); the process that received a heartbeat has
  moved its own table already (:meth:`HostTableCache.beat`);
- ``host_rows``: the host rows changed since (hosts.row_seq: a report, enable or
  disable, forced down, own values, failed builds, a membership), applied in place and
  new hosts inserted at their place;
- ``hosts``: an aggregate created, deleted or changed: the aggregates (a small table)
  are read again and resolved per distinct aggregate set;
- ``host_deletes``: a host deleted: the table is built again, in a background thread
  and swapped in when ready when it holds more than :data:`SYNC_REBUILD_HOSTS` hosts
  (decisions meanwhile use the previous one, where the deleted host's provider is gone
  from the engine already, so nothing is placed there).

Whether a host is down is computed at each decision from its last heartbeat
(filters/compute.py), vectorised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import structlog

from corral.config import Settings
from corral.config_fleet import defaults_of, policy_of
from corral.domain.hosts import effective_of
from corral.domain.overcommit import Effective
from corral.persistence.heartbeats import latest
from corral.persistence.revisions import BEATS, HOST_DELETES, HOST_ROWS, HOSTS
from corral.scheduler.hosts import AggregateInfo, HostChange, HostTable, Policy
from corral.scheduler.records import Configuration
from corral.services.stores import AggregateStore, HostStore, RevisionStore, Store

log = structlog.get_logger("corral.scheduler")

#: Heartbeats are re-read every second, or every this share of host_down_after_s if shorter.
HEARTBEAT_REFRESH_SHARE = 0.1
#: Up to this many hosts, a table is rebuilt at once (a few milliseconds); above, in the
#: background while decisions use the previous one.
SYNC_REBUILD_HOSTS = 5000
_COUNTERS = [HOSTS, HOST_DELETES, HOST_ROWS, BEATS]


class HostTableRepo(HostStore, AggregateStore, RevisionStore, Protocol):
    """What the host table is read from."""


def configuration_of(settings: Settings, policy: Policy) -> Configuration:
    """What every decision record says of the configuration."""
    st = settings
    return Configuration(
        strategy=st.strategy, filters=st.filters, host_subset_size=st.host_subset_size,
        max_attempts=st.max_attempts, max_instances_per_host=st.max_instances_per_host,
        multipliers=policy.multipliers,
        defaults={"cpu_allocation_ratio": st.cpu_allocation_ratio,
                  "ram_allocation_ratio": st.ram_allocation_ratio,
                  "disk_allocation_ratio": st.disk_allocation_ratio,
                  "reserved_host_memory_mb": st.reserved_host_memory_mb},
        host_down_after_s=st.host_down_after_s)


@dataclass
class _Built:
    """A table and the counters it reflects."""

    table: HostTable
    metadata: dict[str, dict[str, str]]
    """{aggregate: its metadata} as last read."""
    aggregates: int
    deletes: int
    rows_seen: int
    beats_seen: int


class _Effectives:
    """Effective values per distinct (own values, aggregate set): most hosts share one."""

    def __init__(self, settings: Settings, metadata: dict[str, dict[str, str]]) -> None:
        self.defaults = defaults_of(settings)
        self.metadata = metadata
        self.found: dict[tuple[Any, ...], Effective] = {}

    def of(self, own: tuple[Any, ...], aggregates: tuple[str, ...]) -> Effective:
        key = (own, aggregates)
        found = self.found.get(key)
        if found is None:
            overrides = dict(zip(("cpu_allocation_ratio", "ram_allocation_ratio",
                                  "disk_allocation_ratio", "reserved_host_memory_mb"),
                                 own, strict=True))
            aggs = {a: self.metadata.get(a, {}) for a in aggregates}
            found = self.found[key] = effective_of(overrides, aggs, self.defaults)
        return found


def _aggregates(repo: HostTableRepo) -> tuple[list[AggregateInfo], dict[str, dict[str, str]]]:
    rows = repo.aggregate_rows()
    metadata = repo.aggregate_metadata(a.id for a in rows)
    by_name = {a.name: metadata[a.id] for a in rows}
    return [AggregateInfo(name, md) for name, md in by_name.items()], by_name


def _sets_of(pairs: Sequence[tuple[int, str]]) -> dict[int, tuple[str, ...]]:
    grouped: dict[int, list[str]] = {}
    for host_id, name in pairs:
        grouped.setdefault(host_id, []).append(name)
    return {h: tuple(sorted(names)) for h, names in grouped.items()}


def load(repo: HostTableRepo, settings: Settings, policy: Policy) -> _Built:
    """The whole table from the store, with the counters it reflects."""
    counters = repo.revisions(_COUNTERS)
    aggregates, metadata = _aggregates(repo)
    rows = repo.host_table_rows()
    sets = _sets_of(repo.aggregate_names_of())
    effectives = _Effectives(settings, metadata)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 12
    agg_sets = [sets.get(i, ()) for i in cols[0]]
    table = HostTable.from_columns(
        names=list(cols[1]), ids=np.array(cols[0], dtype=np.int64),
        provider_uuids=list(cols[2]), enabled=np.array(cols[3], dtype=bool),
        forced_down=np.array(cols[4], dtype=bool),
        heartbeat=np.array(cols[5], dtype=np.float64),
        failed_builds=np.array(cols[6], dtype=np.int64), aggregate_sets=agg_sets,
        effectives=[effectives.of(own, s) for own, s in
                    zip(zip(cols[7], cols[8], cols[9], cols[10], strict=True), agg_sets,
                        strict=True)],
        aggregates=aggregates, policy=policy)
    _beat(table, *_latest_times(repo.beats_since(0)))  # the log not folded yet
    log.info("host_table_loaded", hosts=table.n, aggregates=len(aggregates))
    return _Built(table, metadata, counters[HOSTS], counters[HOST_DELETES],
                  max(cols[11], default=0), counters[BEATS])


def _latest_times(flushes: Sequence[tuple[int, float, bytes]]) -> tuple[Any, Any]:
    """The hosts the logged flushes name, and each one's latest time."""
    ids, flush = latest(flushes)
    return ids, np.array([f[1] for f in flushes], dtype=np.float64)[flush]


def _beat(table: HostTable, ids: Any, when: Any) -> None:
    """Move ``table``'s heartbeats of hosts ``ids`` to ``when`` (those it holds)."""
    idx = table.indexes_of(ids)
    known = idx >= 0
    table.beat(idx[known], when[known])


class HostTableCache:
    """One per Scheduler; :meth:`get` is called under the engine's lock, :meth:`beat`
    from any thread."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy_of(settings)
        self.table: HostTable | None = None
        self._at: _Built | None = None
        self._beats_read = 0.0
        self.refresh_s = min(1.0, settings.host_down_after_s * HEARTBEAT_REFRESH_SHARE)
        self._mutex = threading.Lock()
        self._building = False
        self._ready: _Built | None = None
        #: Tables built whole (the first, after a host was deleted), and of those in
        #: the background.
        self.builds = 0
        self.background_builds = 0

    def get(self, repo: HostTableRepo) -> HostTable:
        """The table with what moved in the store applied (in ``repo``'s transaction)."""
        with self._mutex:
            ready, self._ready = self._ready, None
        if ready is not None:
            self._install(ready)
        counters = repo.revisions(_COUNTERS)
        at = self._at
        if at is None or counters[HOST_DELETES] != at.deletes:
            if at is None or at.table.n <= SYNC_REBUILD_HOSTS or self.store is None:
                self._install(load(repo, self.settings, self.policy))
                return self._fresh(repo, counters)
            self._build_in_background()
        return self._fresh(repo, counters)

    def beat(self, ids: Sequence[int], when: float) -> None:
        """Heartbeats this process recorded (host ids): its table moves at once (one
        float each)."""
        table = self.table
        if table is None:
            return
        idx = table.indexes_of(np.asarray(ids, dtype=np.int64))
        table.beat(idx[idx >= 0], when)

    def ids_of(self, names: Iterable[str]) -> tuple[int, dict[str, int]]:
        """The ``host_deletes`` counter the table reflects, and the ids it holds of
        ``names`` (those it does not hold are left out)."""
        at = self._at
        if at is None:
            return -1, {}
        index = at.table.index
        held = [n for n in names if n in index]
        ids = at.table.ids[[index[n] for n in held]].tolist()
        return at.deletes, dict(zip(held, ids, strict=True))

    def _install(self, built: _Built) -> None:
        self._at = built
        self.table = built.table
        self.builds += 1
        self._beats_read = time.monotonic()

    def _fresh(self, repo: HostTableRepo, counters: dict[str, int]) -> HostTable:
        at = self._at
        assert at is not None
        table = at.table
        if counters[HOSTS] != at.aggregates:
            aggregates, at.metadata = _aggregates(repo)
            table = at.table = table.with_aggregates(aggregates)
            at.aggregates = counters[HOSTS]
        if counters[HOST_ROWS] > at.rows_seen:
            table = at.table = self._apply_rows(repo, at)
        self.table = table
        now = time.monotonic()
        if counters[BEATS] > at.beats_seen and now - self._beats_read >= self.refresh_s:
            self._apply_beats(repo, at)
            self._beats_read = now
        return table

    def _apply_rows(self, repo: HostTableRepo, at: _Built) -> HostTable:
        rows = repo.host_table_rows(since=at.rows_seen)
        if not rows:
            return at.table
        sets = _sets_of(repo.aggregate_names_of(r[0] for r in rows))
        effectives = _Effectives(self.settings, at.metadata)
        changes = []
        for r in rows:
            agg_set = sets.get(r[0], ())
            changes.append(HostChange(
                id=r[0], name=r[1], provider_uuid=r[2], enabled=bool(r[3]),
                forced_down=bool(r[4]), heartbeat=np.nan if r[5] is None else float(r[5]),
                failed_builds=r[6], effective=effectives.of(tuple(r[7:11]), agg_set),
                aggregates=agg_set))
            at.rows_seen = max(at.rows_seen, r[11])
        table, new = at.table.changed(changes)
        if new:
            table = table.inserted(new)
        log.debug("host_rows_applied", hosts=len(changes), new=len(new))
        return table

    def _apply_beats(self, repo: HostTableRepo, at: _Built) -> None:
        flushes = repo.beats_since(at.beats_seen)
        if not flushes:
            return
        if flushes[0][0] != at.beats_seen + 1:  # folded before we read them: read all
            every = np.array(repo.all_heartbeats(), dtype=np.float64).reshape(-1, 2)
            ids, when = every[:, 0].astype(np.int64), every[:, 1]
        else:
            ids, when = _latest_times(flushes)
        _beat(at.table, ids, when)
        at.beats_seen = flushes[-1][0]

    def _build_in_background(self) -> None:
        with self._mutex:
            if self._building:
                return
            self._building = True
        self.background_builds += 1
        threading.Thread(target=self._build, name="host-table-build", daemon=True).start()

    def _build(self) -> None:
        assert self.store is not None
        try:
            with self.store.read() as repo:
                built = load(repo, self.settings, self.policy)
            with self._mutex:
                self._ready = built
        except Exception:  # noqa: BLE001 - logged; the next get() starts another build
            log.exception("host_table_build_failed")
        finally:
            with self._mutex:
                self._building = False
