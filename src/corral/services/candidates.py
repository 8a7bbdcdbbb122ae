"""Allocation candidates: the engine, kept fresh from the store, answering queries.

The store is the truth; the engine is this process's cache of it. Every write to a
provider (creating, changing, claiming against or deleting it) adds its id to a change
feed in the same transaction. Before every query the finder reads the feed's newest id
(one indexed row); when it moved, it reloads only the providers named since, whose
(generation, parent, root, updated_at) differ from what it holds. So several corral
processes sharing one database each see the others' claims on their next query, at a
cost that follows the changes, not the fleet. On PostgreSQL, transactions may commit
out of id order: an id skipped below the newest one seen is looked for again on the
following refreshes; and every RECONCILE_S the finder also compares every provider's
version (the full check), which catches anything else. A candidate is advice: the
claim that follows re-checks capacity under a lock.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import structlog

from corral.engine.request import Candidate, CandidateRequest
from corral.engine.search import MAX_COMBINATIONS_PER_TREE, Search
from corral.engine.state import FleetState, ProviderRecord
from corral.services import catalog
from corral.services.stores import CatalogStore, SnapshotStore, Store

log = structlog.get_logger("corral.candidates")

#: A refresh that loads at least this many providers moves them out of the cyclic GC's way.
FREEZE_AFTER = 1000
#: Seconds between full checks of every provider's version.
RECONCILE_S = 5.0
#: A refresh that finds more feed entries than this reloads by the full check instead.
MAX_FEED_STEP = 10_000


@dataclass(frozen=True)
class ProviderSummary:
    uuid: str
    parent_uuid: str | None
    root_uuid: str
    resources: dict[str, tuple[int, int]]  # class -> (capacity, used)
    traits: list[str]


@dataclass(frozen=True)
class AllocationRequest:
    allocations: dict[str, dict[str, int]]
    mappings: dict[str, list[str]]


@dataclass(frozen=True)
class CandidateResult:
    allocation_requests: list[AllocationRequest]
    summaries: dict[str, ProviderSummary] = field(default_factory=dict)
    search_ms: float = 0.0


class CandidateFinder:
    """One per process (the app owns it). Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = FleetState()
        self.lock = threading.Lock()
        self.fingerprint: tuple[object, ...] | None = None
        self.versions: dict[int, tuple[object, ...]] = {}
        self.reloads = 0
        self.change_seen: int | None = None
        #: Feed ids below the newest seen that were not there yet (their transaction had
        #: not committed): {id: when first missed}. Looked for again until RECONCILE_S.
        self.gaps: dict[int, float] = {}
        self.reconciled = 0.0

    def refresh(self) -> int:
        """Bring the engine up to date with the store; returns how many providers reloaded."""
        with self.store.read() as repo:
            return self.refresh_in(repo)

    def refresh_in(self, repo: SnapshotStore) -> int:
        """The refresh inside the caller's read transaction (caller holds ``lock``)."""
        head = repo.last_provider_change()
        now = time.monotonic()
        if (self.change_seen is None or now - self.reconciled >= RECONCILE_S
                or head - self.change_seen > MAX_FEED_STEP):
            loaded = self._full_refresh(repo)
            self.change_seen, self.reconciled, self.gaps = head, now, {}
            return loaded
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
        changed = [pid for pid, v in versions.items() if self.versions.get(pid) != v]
        removed = [pid for pid in ids if pid not in versions and pid in self.versions]
        self._load(repo, changed, removed, versions)
        self.change_seen = newest
        return len(changed)

    def versions_after(self, bumped: Mapping[int, tuple[int, datetime]]
                       ) -> dict[int, tuple[object, ...]]:
        """The versions a claim left its providers at, from what it wrote (new generation
        and updated_at; a claim moves neither parent nor root), without reading them
        back. Providers the engine does not hold are left out (they cannot be adopted).
        """
        out: dict[int, tuple[object, ...]] = {}
        for pid, (generation, updated) in bumped.items():
            held = self.versions.get(pid)
            if held is not None:
                out[pid] = (generation, updated, *held[2:])
        return out

    def adopt(self, claimed: dict[str, dict[str, int]], consumers: dict[str, int],
              versions: dict[int, tuple[object, ...]], own: Sequence[int] = ()) -> int:
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
            rec = st.records[row] if row is not None else None
            if rec is None or row is None:
                continue
            new = versions.get(rec.id)
            held = self.versions.get(rec.id)
            if new is None or held is None or new[0] != int(held[0]) + 1:  # type: ignore[call-overload]
                continue
            used = dict(rec.used)
            for rc, amount in added.items():
                used[rc] = used.get(rc, 0) + amount
            count = rec.consumers + consumers.get(uuid, 0)
            st.apply([replace(rec, generation=int(new[0]), used=used,  # type: ignore[call-overload]
                              version=new, consumers=count)])
            self.versions[rec.id] = new
            adopted += 1
        if adopted == len(claimed) and not self.gaps and self.change_seen is not None:
            for change in sorted(own):
                if change != self.change_seen + 1:
                    break
                self.change_seen = change
        return adopted

    def _full_refresh(self, repo: SnapshotStore) -> int:
        fingerprint = repo.provider_fingerprint()
        if fingerprint == self.fingerprint:
            return 0
        # Versions are read before the rows, so a row is never older than the version
        # recorded for it: a later change is always noticed on the next refresh.
        versions = repo.provider_versions()
        changed = [pid for pid, v in versions.items() if self.versions.get(pid) != v]
        removed = [pid for pid in self.versions if pid not in versions]
        loaded = self._load(repo, changed, removed, versions, everything=True)
        self.fingerprint = fingerprint if loaded == len(changed) else None
        return len(changed)

    def _load(self, repo: SnapshotStore, changed: list[int], removed: list[int],
              versions: dict[int, tuple[object, ...]], everything: bool = False) -> int:
        """Reload ``changed``, drop ``removed``; ``versions`` are the ones just read (of
        every provider when ``everything``). Returns how many were loaded."""
        rows = repo.provider_rows(changed)
        records = [ProviderRecord(
            id=r.id, uuid=r.uuid, generation=r.generation, parent_id=r.parent_id,
            root_id=r.root_id, inventories=r.inventories, used=r.used,
            traits=frozenset(r.traits), aggregates=frozenset(r.aggregates),
            version=r.version, consumers=r.consumers) for r in rows]
        self.state.apply(records, removed)
        if len(records) >= FREEZE_AFTER:
            # The engine's records are long-lived and many; without this, every cyclic
            # garbage collection triggered while rendering a large answer rescans them
            # all (measured: 60% of a 10,000-candidate response). Frozen objects are
            # still freed by reference counting when a later refresh replaces them.
            gc.freeze()
        # Only what was loaded counts as known: a provider whose row vanished between the
        # two reads is retried next time.
        loaded = {r.id for r in records}
        if everything:
            self.versions = {pid: v for pid, v in versions.items()
                             if pid in loaded or (pid not in changed and pid in self.versions)}
        else:
            for pid in removed:
                self.versions.pop(pid, None)
            self.versions.update({pid: versions[pid] for pid in loaded})
        self.reloads += 1
        log.debug("engine_refreshed", changed=len(changed), removed=len(removed))
        return len(loaded)

    def find(self, req: CandidateRequest, *, requested_classes_only: bool = False,
             max_candidates: int | None = None, randomize: bool = False,
             distinct_allocations: bool = False) -> CandidateResult:
        """Answer a candidates query.

        Args:
            requested_classes_only: summaries list only the classes asked for (before 1.27).
            max_candidates: server-wide cap (``max_allocation_candidates``), None for none.
            randomize: sample the capped candidates at random instead of taking the first.
            distinct_allocations: keep one of the candidates that differ only in their
                mappings (before 1.34, where mappings are not shown, they would look the
                same twice).

        Raises:
            UnknownResourceClass, UnknownTrait: a name in the request does not exist.
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
            search_req = req if not (randomize or distinct) else _without_limit(req)
            search = Search(self.state, search_req)
            found = search.candidates(search_req.limit)
            if search.truncated_trees:
                log.warning("candidate_trees_truncated", trees=search.truncated_trees,
                            combinations_examined_per_tree=MAX_COMBINATIONS_PER_TREE)
            if distinct:
                found = _distinct_allocations(found)
            if limit is not None and len(found) > limit:
                found = random.sample(found, limit) if randomize else found[:limit]
            result = self._render(found, req, requested_classes_only)
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

    def _render(self, found: list[Candidate], req: CandidateRequest, requested_only: bool
                ) -> tuple[list[AllocationRequest], dict[str, ProviderSummary]]:
        st = self.state
        uuid_of = st.uuid_of
        requests = [AllocationRequest(
            {uuid_of[row]: res for row, res in c.allocations.items()},
            {sfx: [uuid_of[row] for row in rows] for sfx, rows in c.mappings.items()})
            for c in found]
        rows = {row for c in found for row in c.allocations}
        rows |= {row for c in found for rs in c.mappings.values() for row in rs}
        if req.nested and rows:
            n = st.n
            roots = np.zeros(n, dtype=bool)
            roots[st.root[np.fromiter(rows, dtype=np.int64)]] = True
            rows |= set(np.flatnonzero(st.alive[:n] & roots[st.root[:n]]).tolist())
        wanted = {rc for g in req.groups for rc, _ in g.resources}
        summaries: dict[str, ProviderSummary] = {}
        for row in sorted(rows):
            rec = st.records[row]
            if rec is None:
                continue
            resources = {rc: (inv.capacity, rec.used.get(rc, 0))
                         for rc, inv in sorted(rec.inventories.items())
                         if not requested_only or rc in wanted}
            parent = st.records[st.parent[row]] if st.parent[row] >= 0 else None
            root = st.records[st.root[row]]
            summaries[rec.uuid] = ProviderSummary(
                rec.uuid, parent.uuid if parent else None, root.uuid if root else rec.uuid,
                resources, sorted(rec.traits, key=_trait_order))
        return requests, summaries


def _trait_order(name: str) -> tuple[bool, str]:
    """Standard traits before custom ones, as Placement lists them (in the order its
    database holds them: the standard catalogue is written first); by name within each."""
    return name.startswith("CUSTOM_"), name


def _without_limit(req: CandidateRequest) -> CandidateRequest:
    return replace(req, limit=None)


def _distinct_allocations(found: list[Candidate]) -> list[Candidate]:
    seen: set[frozenset[tuple[int, str, int]]] = set()
    out = []
    for c in found:
        key = frozenset((row, rc, n) for row, res in c.allocations.items() for rc, n in res.items())
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
