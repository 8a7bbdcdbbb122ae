"""The scheduler's decision over the in-memory engine, and the engine's side of a claim.

One Scheduler per process shares the candidates engine (and its lock) with the
Placement API, so both answer from the same fleet. A decision (:meth:`Scheduler.decide`):

1. refreshes the engine from the store (the providers named in the change feed since
   it last looked) and, when hosts or aggregates changed, rebuilds the HostTable
   (services/host_table.py);
2. runs the enabled filters in order (the funnel), weighs the hosts left, and picks at
   random among the best ``host_subset_size``; the next best become the alternates a
   failed build is retried on; ``count`` instances are picked one after another, each
   seeing the ones before it;
3. comes back as a :class:`Decision` (its placements and its record) or a
   :class:`Refused` (the explanation of why no host can take it), and the engine is
   left as it was.

The claim that follows is the use case's (services/claims.py): one transaction that
writes the allocations, the quota ledger, the instances and the decision record; a
committed claim is applied to the engine as made (:meth:`Scheduler.adopt`) rather than
reloaded. Boots that arrive together are decided by :meth:`Scheduler.decide_together`,
one after another, each seeing the ones before it.

The decision itself (filters, weighers, pick, explanation, record) is the pure
``corral.scheduler`` package; this module holds its I/O and the engine's lock.
"""

from __future__ import annotations

import random
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from corral.config import Settings
from corral.domain import errors
from corral.persistence.clock import utcnow
from corral.scheduler import records
from corral.scheduler import runner as decide
from corral.scheduler.explanation import Explanation
from corral.scheduler.hosts import HostTable
from corral.scheduler.index import IndexCache
from corral.scheduler.query import FilterContext, Funnel, HostQuery
from corral.scheduler.records import TOP_WEIGHED, DecisionRecord
from corral.scheduler.runner import ARRANGE_TRIES, Ask, Pick, Placement, Saved, host_query_of
from corral.services.batching import Batcher
from corral.services.candidates import CandidateFinder
from corral.services.flavors import FlavorCache
from corral.services.host_table import HostTableCache, configuration_of
from corral.services.stores import Repo, Store

#: A per-process helper kept by the scheduler (:meth:`Scheduler.part`).
P = TypeVar("P")

log = structlog.get_logger("corral.scheduler")


class GroupPolicyConflict(errors.Conflict):
    """Another claim made the group's policy fail on the chosen host (retried)."""


@dataclass
class Decision:
    """Where a request goes, as decided (not yet claimed): its placements and record."""

    decision_id: str
    ask: Ask
    kind: str
    instance: str | None
    """The instance moved or rescheduled (None: a boot)."""
    placements: list[Placement]
    record: DecisionRecord
    """Typed until stored or answered (its outcome and time are set when written)."""
    started: float
    """When the request reached the scheduler (time.perf_counter)."""
    ctx: FilterContext
    funnel: Funnel


@dataclass
class Refused:
    """A request no host can take, and why (its record is written when it is refused)."""

    decision_id: str
    ask: Ask
    kind: str
    instance: str | None
    ctx: FilterContext
    funnel: Funnel
    conflicts: list[dict[str, Any]]
    started: float
    explanation: Explanation


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.decision_seconds = Histogram(
            "corral_scheduler_decision_seconds", "Time to decide and claim",
            ["kind", "outcome"], registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.boots = Counter("corral_scheduler_boots", "Instances placed or refused",
                             ["outcome"], registry=registry)
        self.retries = Counter("corral_scheduler_retries",
                               "Claims retried (lost races) and builds rescheduled",
                               ["why"], registry=registry)
        self.no_valid_host = Counter("corral_scheduler_no_valid_host",
                                     "Requests no host could take, by the filter that "
                                     "removed the last hosts", ["filter"], registry=registry)


class Scheduler:
    """One per process; thread-safe (decisions take the engine's lock)."""

    def __init__(self, store: Store, settings: Settings, finder: CandidateFinder,
                 registry: CollectorRegistry | None = None) -> None:
        self.store = store
        self.settings = settings
        self.finder = finder
        self.metrics = SchedulerMetrics(registry)
        self.hosts = HostTableCache(settings, store)
        #: The host-ordered arrays decisions read (kept in step with the engine).
        self.index = IndexCache()
        #: What every decision record says of the configuration (settings are fixed).
        self.configuration = configuration_of(settings, self.hosts.policy)
        self.random = random.Random()
        self.flavors = FlavorCache()
        self._parts: dict[str, Any] = {}
        self._parts_lock = threading.Lock()

    def part(self, name: str, make: Callable[[], P]) -> P:
        """The process's helper ``name`` (a group-commit queue, a background job's
        state), made on first use; one per scheduler, so per process."""
        with self._parts_lock:
            found: P | None = self._parts.get(name)
            if found is None:
                found = self._parts[name] = make()
            return found

    def batcher(self, name: str, run: Callable[[list[Any]], list[Any]]) -> Batcher[Any, Any]:
        """The process's group-commit queue ``name`` (created to ``run`` on first use)."""
        return self.part(f"batcher:{name}", lambda: Batcher(run))

    # -- deciding ----------------------------------------------------------------------------

    def decide(self, ask: Ask, consumers: Sequence[str], *, kind: str, decision_id: str,
               instance: str | None, started: float,
               conflicts: list[dict[str, Any]]) -> Decision | Refused:
        """Choose a host for each of ``consumers`` from fresh state (caller holds
        ``finder.lock``); ``conflicts`` are the claim races lost so far (recorded)."""
        with self.store.read() as repo:
            self.finder.refresh_in(repo)
            table = self.hosts.get(repo)
            query = self._query(repo, table, ask)
        saved: Saved = {}
        try:
            found = self._pick(table, query, consumers, saved)
        finally:
            self._restore(saved)
        if found.placements is None:
            assert found.explanation is not None
            return Refused(decision_id, ask, kind, instance, found.ctx, found.funnel,
                           conflicts, started, found.explanation)
        record = self.record(ask, kind, found, conflicts)
        return Decision(decision_id, ask, kind, instance, found.placements, record, started,
                        found.ctx, found.funnel)

    def decide_together(self, jobs: Sequence[tuple[Ask, Sequence[str]]], started: float
                        ) -> list[Decision | Refused]:
        """Decide several independent boots in one round (caller holds ``finder.lock``):
        one refresh, each decided as if alone but seeing the ones before it (their
        capacity, and their group's members)."""
        with self.store.read() as repo:
            self.finder.refresh_in(repo)
            table = self.hosts.get(repo)
            queries = [self._query(repo, table, ask) for ask, _consumers in jobs]
        out: list[Decision | Refused] = []
        saved: Saved = {}
        taken: dict[str, dict[str, int]] = {}  # group -> host -> members placed here
        try:
            for (ask, consumers), query in zip(jobs, queries, strict=True):
                if ask.group is not None and ask.group.id in taken:
                    members = dict(query.group_members)
                    for host, n in taken[ask.group.id].items():
                        members[host] = members.get(host, 0) + n
                    query = replace(query, group_members=members)
                found = self._pick(table, query, consumers, saved)
                if found.placements is None:
                    assert found.explanation is not None
                    out.append(Refused(str(uuidlib.uuid4()), ask, "boot", None, found.ctx,
                                       found.funnel, [], started, found.explanation))
                    continue
                if ask.group is not None:
                    into = taken.setdefault(ask.group.id, {})
                    for p in found.placements:
                        into[p.host] = into.get(p.host, 0) + 1
                record = self.record(ask, "boot", found, [])
                out.append(Decision(str(uuidlib.uuid4()), ask, "boot", None, found.placements,
                                    record, started, found.ctx, found.funnel))
        finally:
            self._restore(saved)
        return out

    def _query(self, repo: Repo, table: HostTable, ask: Ask) -> HostQuery:
        """What ``ask`` asks of the hosts, with its group's members and hinted hosts."""
        base = host_query_of(ask)
        members = (repo.group_members_by_host(ask.group.id, besides=ask.moving)
                   if ask.group else {})
        same = (frozenset(repo.hosts_of_instances(ask.same_host).values())
                if ask.same_host else None)
        different = (frozenset(repo.hosts_of_instances(ask.different_host).values())
                     if ask.different_host else frozenset())
        exclude = set(ask.exclude_hosts)
        if ask.only_host is not None:
            exclude |= set(table.names) - {ask.only_host}
        return replace(
            base, same_host=same, different_host=different,
            group_policy=ask.group.policy if ask.group else None, group_members=members,
            max_server_per_host=(ask.group.max_server_per_host or 1) if ask.group else 1,
            exclude=frozenset(exclude), now=time.time(),
            down_after_s=float(self.settings.host_down_after_s))

    def _restore(self, saved: Saved) -> None:
        """Undo what :meth:`_pick` applied to the engine."""
        state = self.finder.state
        decide.restore(state, saved, self.index.current(state))

    def _pick(self, table: HostTable, query: HostQuery, consumers: Sequence[str],
              saved: Saved) -> Pick:
        """Choose a host per consumer (:func:`corral.scheduler.runner.pick`): applied to
        the engine, the rows' previous values kept in ``saved`` for the caller to
        restore; a refusal's explanation instead of placements."""
        st = self.settings
        choice = decide.Choice(st.filters, st.host_subset_size, st.max_attempts, self._top(),
                               st.score_sample_percent, st.score_sample_minimum)
        state = self.finder.state
        return decide.pick(state, table, query, consumers, saved, choice, self.random,
                           self.index.get(state, table))

    def adopt(self, picked: list[Placement], versions: dict[int, tuple[object, ...]],
              own: list[int]) -> None:
        """Our own claim goes into the engine as it was made (see CandidateFinder.adopt)."""
        claimed: dict[str, dict[str, int]] = {}
        consumers: dict[str, int] = {}
        for p in picked:
            for uuid, resources in p.allocations.items():
                into = claimed.setdefault(uuid, {})
                for rc, amount in resources.items():
                    into[rc] = into.get(rc, 0) + amount
                consumers[uuid] = consumers.get(uuid, 0) + 1
        self.finder.adopt(claimed, consumers, versions, own)

    def _top(self) -> int:
        """How many of the best weighed hosts a decision uses: the subset it picks from,
        the alternates, the hosts tried when one cannot be arranged, and the record."""
        st = self.settings
        return max(st.host_subset_size, st.max_attempts, ARRANGE_TRIES, TOP_WEIGHED)

    # -- records -----------------------------------------------------------------------------

    def record(self, ask: Ask, kind: str, found: Pick,
               conflicts: list[dict[str, Any]]) -> DecisionRecord:
        """What the decision writes down (claimed now, if it places anything)."""
        return records.build(self.configuration, ask, kind, found.ctx, found.funnel,
                             found.weights, found.placements, conflicts, utcnow())
