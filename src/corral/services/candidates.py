"""Allocation candidates: the engine, kept fresh from the store, answering queries.

The store is the truth; the engine is this process's cache of it. Every write to a
provider (creating, changing, claiming against or deleting it) adds its id to a change
feed in the same transaction. Before every query the finder reads the feed's newest id
(one indexed row); when it moved, it reloads only the providers named since, whose
version (generation, updated_at, parent, root) differs from what it holds. So several
corral processes sharing one database each see the others' claims on their next query,
at a cost that follows the changes, not the fleet. On PostgreSQL, transactions may
commit out of id order: an id skipped below the newest one seen is looked for again on
the following refreshes.

Every RECONCILE_S the finder also compares every provider's version with the store's
(the *full check*, :meth:`CandidateFinder.check`), which catches anything else. It runs
in a thread of its own and reads the store outside the engine's lock: a cheap
fingerprint first (nothing to do when it has not moved), then every version as one
array, compared with the engine's columns, then the rows that differ. Only applying
those takes the lock, and a row some other refresh or claim wrote meanwhile is left as
that one wrote it (it is at least as new). Queries and boots never wait on the reads.
A candidate is advice: the claim that follows re-checks capacity under a lock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from corral.domain.model import ProviderSnapshot, micros
from corral.engine.records import ProviderRecord, Version
from corral.engine.request import CandidateRequest
from corral.engine.search import MAX_COMBINATIONS_PER_TREE, Search
from corral.engine.state import FleetState
from corral.services import catalog
from corral.services.candidate_render import (
    AllocationRequest,
    ProviderSummary,
    one_per_allocation,
    render,
    without_limit,
)
from corral.services.engine_check import differences
from corral.services.memory import release_free_memory
from corral.services.stores import CatalogStore, SnapshotStore, Store

log = structlog.get_logger("corral.candidates")

#: Seconds between full checks of every provider's version.
RECONCILE_S = 5.0
#: ... and at least this many times as long as the last check's reads took.
CHECK_SPACING = 20.0
#: A refresh that finds more feed entries than this reloads by the full check instead.
MAX_FEED_STEP = 10_000
#: Providers read and applied together when loading many (bounds the Python objects
#: alive at once: the engine itself keeps none).
LOAD_CHUNK = 5000


@dataclass(frozen=True)
class CandidateResult:
    allocation_requests: list[AllocationRequest]
    summaries: dict[str, ProviderSummary] = field(default_factory=dict)
    search_ms: float = 0.0


@dataclass(frozen=True)
class CheckReport:
    """What one full check did: providers reloaded and dropped, and where its time went
    (``locked_s`` is the only part queries could wait on)."""

    reloaded: int
    removed: int
    read_s: float
    locked_s: float


class CandidateFinder:
    """One per process (the app owns it). Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = FleetState()
        self.lock = threading.Lock()
        self.fingerprint: tuple[object, ...] | None = None
        self.reloads = 0
        self.change_seen: int | None = None
        #: Feed ids below the newest seen that were not there yet (their transaction had
        #: not committed): {id: when first missed}. Looked for again until RECONCILE_S.
        self.gaps: dict[int, float] = {}
        #: When the last full check was started (monotonic seconds).
        self.reconciled = 0.0
        self.last_check: CheckReport | None = None
        self._checking = threading.Lock()  # one full check at a time
        self._thread: threading.Thread | None = None

    @property
    def versions(self) -> dict[int, Version]:
        """{provider id: version} of every provider held (built on demand)."""
        st = self.state
        return {int(st.ids[row]): st.version_of(row) for row in st.row_of.values()}

    def refresh(self) -> int:
        """Bring the engine up to date with the store's change feed; returns how many
        providers reloaded."""
        with self.lock, self.store.read() as repo:
            return self.refresh_in(repo)

    def refresh_in(self, repo: SnapshotStore) -> int:
        """The refresh inside the caller's read transaction (caller holds ``lock``).

        Follows the change feed. The first refresh (and one finding the feed ran more
        than MAX_FEED_STEP ahead) loads by the full check, here; otherwise a full check
        due is started in the background and this returns without waiting for it."""
        head = repo.last_provider_change()
        now = time.monotonic()
        if self.change_seen is None or head - self.change_seen > MAX_FEED_STEP:
            loaded = self._check_in(repo, self.state.version, locked=True).reloaded
            self.change_seen, self.reconciled, self.gaps = head, now, {}
            return loaded
        last = self.last_check.read_s if self.last_check else 0.0
        if now - self.reconciled >= max(RECONCILE_S, CHECK_SPACING * last):
            self.reconciled = now
            self._start_check()
        if head == self.change_seen and not self.gaps:
            return 0
        rows = repo.provider_changes_after(self.change_seen, sorted(self.gaps))
        found = {change for change, _provider in rows}
        newest = max(found | {self.change_seen})
        # Ids skipped below the newest belong to transactions not yet committed (or
        # rolled back): look for them again next time, for a while.
        gaps = {g: t for g, t in self.gaps.items() if g not in found and now - t < RECONCILE_S}
        for missing in set(range(self.change_seen + 1, newest)) - found:
            gaps.setdefault(missing, now)
        self.gaps = gaps
        ids = {provider for _change, provider in rows}
        versions = repo.provider_versions_of(ids)
        st = self.state
        changed = [pid for pid, v in versions.items()
                   if pid not in st.row_of or st.version_of(st.row_of[pid]) != v]
        removed = [pid for pid in ids if pid not in versions and pid in st.row_of]
        st.apply((), removed)
        loaded = self._load(repo, changed)
        self.change_seen = newest
        return loaded

    # -- the full check ------------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Compare every provider's version with the store's now and reload what differs
        (a change the feed missed); in the calling thread, reading outside ``lock``.
        The background check runs this every RECONCILE_S (or CHECK_SPACING x its reads)."""
        with self._checking:
            since = self.state.version  # rows written after this are left alone
            with self.store.read() as repo:
                report = self._check_in(repo, since, locked=False)
            self.last_check = report
            return report

    def wait_for_check(self, timeout: float | None = None) -> None:
        """Wait for the background full check under way, if any (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _start_check(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._background_check, daemon=True,
                                        name="corral-engine-check")
        self._thread.start()

    def _background_check(self) -> None:
        try:
            report = self.check()
        except Exception:  # a failed check is retried at the next one: say so, go on
            log.exception("engine_check_failed")
            return
        if report.reloaded or report.removed:
            log.info("engine_check_reloaded", reloaded=report.reloaded, removed=report.removed,
                     read_s=round(report.read_s, 4), locked_s=round(report.locked_s, 4))

    def _check_in(self, repo: SnapshotStore, since: int, *, locked: bool) -> CheckReport:
        """The full check in ``repo``'s transaction. ``locked``: the caller holds
        ``lock`` (the first load); else only applying takes it, and rows written after
        ``since`` (by a refresh or a claim, from a later read) are not overwritten."""
        started = time.perf_counter()
        fingerprint = repo.provider_fingerprint()
        if fingerprint == self.fingerprint:
            return CheckReport(0, 0, time.perf_counter() - started, 0.0)
        # Versions are read before the rows, so a row is never older than the version
        # recorded for it: a later change is always noticed by the next check.
        changed, removed = differences(self.state, repo)
        if locked:
            read = time.perf_counter() - started
            reloaded, dropped = self._apply_check(repo, changed, removed, since, None)
            self._fingerprint(fingerprint, len(changed) + len(removed), reloaded + dropped)
        else:
            fresh = [r for start in range(0, len(changed), LOAD_CHUNK)
                     for r in repo.provider_rows(changed[start:start + LOAD_CHUNK])]
            read = time.perf_counter() - started
            with self.lock:
                reloaded, dropped = self._apply_check(repo, changed, removed, since, fresh)
                self._fingerprint(fingerprint, len(changed) + len(removed), reloaded + dropped)
        locked_s = time.perf_counter() - started - read
        if changed or removed:
            log.debug("engine_checked", changed=len(changed), removed=len(removed))
        return CheckReport(reloaded, dropped, read, locked_s)

    def _fingerprint(self, fingerprint: tuple[object, ...], differences: int, applied: int
                     ) -> None:
        """Keep the fingerprint the engine is now in step with, only when every
        difference was applied (caller holds ``lock``)."""
        self.fingerprint = fingerprint if applied == differences else None

    def _apply_check(self, repo: SnapshotStore, changed: list[int], removed: list[int],
                     since: int, fresh: list[ProviderSnapshot] | None) -> tuple[int, int]:
        """Apply a full check's differences (caller holds ``lock``): (reloaded, removed).
        ``fresh``: the changed rows already read (None: read them now)."""
        st = self.state

        def untouched(pid: int) -> bool:
            row = st.row_of.get(pid)
            return row is None or not st.written_since(since, row)

        gone = [pid for pid in removed if pid in st.row_of and untouched(pid)]
        st.apply((), gone)
        if fresh is None:
            return self._load(repo, changed), len(gone)
        keep = [r for r in fresh if untouched(r.id)]
        st.apply(_record(r) for r in keep)
        if keep:
            self.reloads += 1
        return len(keep), len(gone)

    # -- claims --------------------------------------------------------------------------------

    def versions_after(self, bumped: Mapping[int, tuple[int, datetime]]
                       ) -> dict[int, tuple[object, ...]]:
        """The versions a claim left its providers at, from what it wrote (new generation
        and updated_at; a claim moves neither parent nor root), without reading them
        back. Providers the engine does not hold are left out (they cannot be adopted).
        """
        st = self.state
        out: dict[int, tuple[object, ...]] = {}
        for pid, (generation, updated) in bumped.items():
            row = st.row_of.get(pid)
            if row is not None:
                out[pid] = (int(generation), micros(updated), int(st.parent_id[row]),
                            int(st.root_id[row]))
        return out

    def adopt(self, claimed: dict[str, dict[str, int]], consumers: dict[str, int],
              versions: Mapping[int, tuple[object, ...]], own: Sequence[int] = ()) -> int:
        """Apply this process's own committed claim to the engine instead of reloading.

        ``claimed``: {provider uuid: {class: units added}}, ``consumers``: {provider uuid:
        consumers added}, ``versions``: the providers' versions read in the claim's
        transaction. A provider is adopted only when its generation moved by exactly one
        from what the engine holds (the claim was its only change); any other is left
        for the next refresh to reload. Returns how many were adopted. Caller holds
        ``lock``.

        ``own``: the change feed ids the claim wrote. When every provider was adopted
        and they follow the newest change seen, the feed is read past them without a
        query: the next refresh costs one statement when nobody else wrote.
        """
        st = self.state
        adopted = 0
        for uuid, added in claimed.items():
            row = st.row_of_uuid.get(uuid)
            if row is None:
                continue
            new = versions.get(int(st.ids[row]))
            generation, updated = new[:2] if new is not None and len(new) == 4 else (None, None)
            if not isinstance(generation, int) or not isinstance(updated, int) \
                    or generation != int(st.generation[row]) + 1:
                continue
            st.claim(row, added, consumers.get(uuid, 0), generation, updated)
            adopted += 1
        if adopted == len(claimed) and not self.gaps and self.change_seen is not None:
            for change in sorted(own):
                if change != self.change_seen + 1:
                    break
                self.change_seen = change
        return adopted

    def _load(self, repo: SnapshotStore, changed: list[int]) -> int:
        """Reload ``changed`` (a chunk at a time); returns how many were loaded (a
        provider whose row vanished since its version was read is retried next time)."""
        loaded = 0
        st = self.state
        if len(changed) > LOAD_CHUNK:  # size the arrays once for a large load
            st.reserve(st.n + sum(1 for pid in changed if pid not in st.row_of))
        for start in range(0, len(changed), LOAD_CHUNK):
            rows = repo.provider_rows(changed[start:start + LOAD_CHUNK])
            self.state.apply(_record(r) for r in rows)
            loaded += len(rows)
        if changed:
            self.reloads += 1
            log.debug("engine_refreshed", changed=len(changed))
        if len(changed) > LOAD_CHUNK:
            release_free_memory()
        return loaded

    def find(self, req: CandidateRequest, *, requested_classes_only: bool = False,
             max_candidates: int | None = None, randomize: bool = False,
             distinct_allocations: bool = False,
             max_combinations: int | None = None) -> CandidateResult:
        """Answer a candidates query.

        Args:
            requested_classes_only: summaries list only the classes asked for (before 1.27).
            max_candidates: server-wide cap (``max_allocation_candidates``), None for none.
            randomize: sample the capped candidates at random instead of taking the first.
            distinct_allocations: keep one of the candidates that differ only in their
                mappings (before 1.34, where mappings are not shown, they would look the
                same twice).

            max_combinations: the most work one query may cause (engine/combinations.py,
                :func:`refuse_past`); None for no bound.

        Raises:
            UnknownResourceClass, UnknownTrait: a name in the request does not exist.
            BadQuery: the work would pass ``max_combinations``.
        """
        with self.lock:
            # One read transaction per query: the names it uses, then the engine's refresh.
            with self.store.read() as repo:
                self._check_names(repo, req)
                self.refresh_in(repo)
            started = time.perf_counter()
            limit = req.limit
            if max_candidates is not None:
                limit = max_candidates if limit is None else min(limit, max_candidates)
            # Only candidates of several groups can differ in their mappings alone.
            distinct = distinct_allocations and len(req.groups) > 1
            search_req = req if not (randomize or distinct) else without_limit(req)
            search = Search(self.state, search_req)
            found = search.candidates(search_req.limit, max_combinations)
            if search.truncated_trees:
                log.warning("candidate_trees_truncated", trees=search.truncated_trees,
                            combinations_examined_per_tree=MAX_COMBINATIONS_PER_TREE)
            if distinct:
                found = one_per_allocation(found)
            if limit is not None and len(found) > limit:
                found = random.sample(found, limit) if randomize else found[:limit]
            result = render(self.state, found, req, requested_classes_only)
            elapsed = (time.perf_counter() - started) * 1000
        return CandidateResult(result[0], result[1], elapsed)

    @staticmethod
    def _check_names(repo: CatalogStore, req: CandidateRequest) -> None:
        traits = set(req.root_required) | set(req.root_forbidden)
        for g in req.groups:
            traits |= set(g.forbidden).union(*g.required)
        catalog.check_names_exist(repo, (rc for g in req.groups for rc, _ in g.resources),
                                  traits, classes_where=" in resources parameter",
                                  traits_where=" in query parameters")

def _record(r: ProviderSnapshot) -> ProviderRecord:
    return ProviderRecord(
        id=r.id, uuid=r.uuid, generation=r.generation, parent_id=r.parent_id,
        root_id=r.root_id, inventories=r.inventories, used=r.used,
        traits=frozenset(r.traits), aggregates=frozenset(r.aggregates),
        version=r.version, consumers=r.consumers)
