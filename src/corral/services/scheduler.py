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
"""

from __future__ import annotations

import random
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from corral.config import Settings
from corral.domain import errors
from corral.domain import scheduling as s
from corral.domain.flavors import Flavor, ServerGroup, placement_request
from corral.engine.explain import Explainer
from corral.engine.filters import FilterContext, Funnel, HostQuery, arrangement, run_filters
from corral.engine.hosts import HostTable
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.weighers import Weights, weigh
from corral.services import decision_records as records
from corral.services.batching import Batcher
from corral.services.candidates import CandidateFinder
from corral.services.decision_records import TOP_WEIGHED
from corral.services.flavors import FlavorCache
from corral.services.host_table import HostTableCache
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.scheduler")

#: Hosts tried, best first, when the chosen one cannot be arranged for the request.
ARRANGE_TRIES = 10


class GroupPolicyConflict(errors.Conflict):
    """Another claim made the group's policy fail on the chosen host (retried)."""


@dataclass(frozen=True)
class Ask:
    """What one scheduling request asks for."""

    flavor: Flavor
    project_id: str
    user_id: str
    zone: str | None = None
    group: ServerGroup | None = None
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    exclude_hosts: frozenset[str] = frozenset()
    only_host: str | None = None
    count: int = 1
    moving: str | None = None
    """The instance being moved or rescheduled: not counted among its group's members."""


@dataclass
class Placement:
    consumer: str
    host: str
    host_id: int
    allocations: dict[str, dict[str, int]]
    alternates: list[str] = field(default_factory=list)
    zone: str | None = None


@dataclass
class Decision:
    """Where a request goes, as decided (not yet claimed): its placements and record."""

    decision_id: str
    ask: Ask
    kind: str
    instance: str | None
    """The instance moved or rescheduled (None: a boot)."""
    placements: list[Placement]
    record: dict[str, Any]
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
    explanation: dict[str, Any]


#: Engine rows changed by a decision in progress: {row: (used before, consumers before)}.
Saved = dict[int, tuple[np.ndarray, int]]


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


def host_query_of(ask: Ask) -> HostQuery:
    """What ``ask``'s flavor asks of the hosts (group members, hints and the rest unset)."""
    pr = placement_request(ask.flavor)
    groups = [RequestGroup("", tuple(sorted(pr.resources.items())),
                           tuple(frozenset([t]) for t in sorted(pr.required_traits)),
                           frozenset(pr.forbidden_traits))]
    totals = dict(pr.resources)
    required, forbidden = set(pr.required_traits), set(pr.forbidden_traits)
    for g in pr.groups:
        groups.append(RequestGroup(g.suffix, tuple(sorted(g.resources.items())),
                                   tuple(frozenset([t]) for t in sorted(g.required_traits)),
                                   frozenset(g.forbidden_traits)))
        for rc, n in g.resources.items():
            totals[rc] = totals.get(rc, 0) + n
        required |= g.required_traits
        forbidden |= g.forbidden_traits
    request = CandidateRequest(tuple(groups), group_policy=pr.group_policy or "none")
    return HostQuery(request=request, resources=totals, project_id=ask.project_id,
                     required_traits=frozenset(required), forbidden_traits=frozenset(forbidden),
                     zone=ask.zone, aggregate_specs=dict(pr.aggregate_specs))


class Scheduler:
    """One per process; thread-safe (decisions take the engine's lock)."""

    def __init__(self, store: Store, settings: Settings, finder: CandidateFinder,
                 registry: CollectorRegistry | None = None) -> None:
        self.store = store
        self.settings = settings
        self.finder = finder
        self.metrics = SchedulerMetrics(registry)
        self.hosts = HostTableCache(settings)
        #: What every decision record says of the configuration (settings are fixed).
        self.configuration = records.configuration(settings, self.hosts.policy)
        self.random = random.Random()
        self.flavors = FlavorCache()
        self._batchers: dict[str, Batcher[Any, Any]] = {}
        self._batchers_lock = threading.Lock()

    def batcher(self, name: str, run: Callable[[list[Any]], list[Any]]) -> Batcher[Any, Any]:
        """The process's group-commit queue ``name`` (created to ``run`` on first use)."""
        with self._batchers_lock:
            found = self._batchers.get(name)
            if found is None:
                found = self._batchers[name] = Batcher(run)
            return found

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
            picked, ctx, funnel, weights, explanation = self._pick(table, query, consumers,
                                                                   saved)
        finally:
            self._restore(saved)
        if picked is None:
            return Refused(decision_id, ask, kind, instance, ctx, funnel, conflicts, started,
                           explanation)
        record = self._record(ask, kind, ctx, funnel, weights, picked, conflicts)
        return Decision(decision_id, ask, kind, instance, picked, record, started, ctx, funnel)

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
                picked, ctx, funnel, weights, explanation = self._pick(table, query,
                                                                       consumers, saved)
                if picked is None:
                    out.append(Refused(str(uuidlib.uuid4()), ask, "boot", None, ctx, funnel, [],
                                       started,
                                       explanation))
                    continue
                if ask.group is not None:
                    into = taken.setdefault(ask.group.id, {})
                    for p in picked:
                        into[p.host] = into.get(p.host, 0) + 1
                record = self._record(ask, "boot", ctx, funnel, weights, picked, [])
                out.append(Decision(str(uuidlib.uuid4()), ask, "boot", None, picked, record,
                                    started, ctx, funnel))
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
        for row, (used, count) in saved.items():
            state.used[row] = used
            state.consumers[row] = count

    def _pick(self, table: HostTable, query: HostQuery, consumers: Sequence[str],
              saved: Saved) -> tuple[list[Placement] | None, FilterContext, Funnel,
                                     Weights | None, dict[str, Any]]:
        """Choose a host per consumer, each choice seeing the ones before it: they are
        applied to the engine (the rows' previous values kept in ``saved``, for the
        caller to restore: the claim's adoption or refresh brings them back). When one
        does not fit, the explanation (computed while the earlier choices are still
        applied) comes back instead of placements."""
        state = self.finder.state
        filters = self.settings.filters
        picked: list[Placement] = []
        first_weights: Weights | None = None
        members = dict(query.group_members)
        for consumer in consumers:
            ctx = FilterContext(state, table, replace(query, group_members=members))
            funnel = run_filters(ctx, filters)
            passed = np.flatnonzero(funnel.passed)
            if passed.size == 0:
                return None, ctx, funnel, first_weights, self._explain(ctx, funnel, picked)
            weights = weigh(ctx, passed, top=self._top())
            first_weights = first_weights or weights
            best = weights.hosts[:self.settings.host_subset_size]
            first = self.random.randrange(best.size) if best.size > 1 else 0
            # The chosen host first, then the rest best first: a host whose tree
            # cannot actually be arranged for the request (rare: traits per group,
            # nested layouts) gives way to the next.
            order = [int(best[first])] + [int(h) for h in weights.hosts[:ARRANGE_TRIES]
                                          if int(h) != int(best[first])]
            chosen, allocation = -1, None
            for chosen in order:
                allocation = arrangement(ctx, chosen)
                if allocation is not None:
                    break
            if allocation is None:
                return None, ctx, funnel, first_weights, self._explain(ctx, funnel, picked)
            others = [int(h) for h in weights.hosts[:self.settings.max_attempts]
                      if int(h) != chosen][:self.settings.max_attempts - 1]
            picked.append(Placement(consumer, table.names[chosen], int(table.ids[chosen]),
                                    allocation, [table.names[h] for h in others],
                                    table.zone[chosen]))
            for uuid, resources in allocation.items():
                row = state.row_of_uuid[uuid]
                if row not in saved:
                    saved[row] = (state.used[row].copy(), int(state.consumers[row]))
                for rc, amount in resources.items():
                    state.used[row, state.classes.index[rc]] += amount
                state.consumers[row] += 1
            members[table.names[chosen]] = members.get(table.names[chosen], 0) + 1
        return picked, ctx, funnel, first_weights, {}

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

    @staticmethod
    def _explain(ctx: FilterContext, funnel: Funnel, picked: list[Placement]) -> dict[str, Any]:
        explanation = Explainer(ctx, funnel).explain()
        if picked:
            explanation["placed_before_refusal"] = len(picked)
        return explanation

    @staticmethod
    def _check_placements(group: ServerGroup, members: dict[str, int],
                          picked: list[Placement]) -> None:
        limit = group.max_server_per_host or 1
        for p in picked:
            if group.policy == s.ANTI_AFFINITY and members.get(p.host, 0) >= limit:
                raise GroupPolicyConflict(
                    f"host {p.host} already holds {members[p.host]} members of anti-affinity "
                    f"group {group.id}")
            if group.policy == s.AFFINITY and members and p.host not in members:
                raise GroupPolicyConflict(
                    f"the members of affinity group {group.id} are on {sorted(members)[0]}, "
                    f"not {p.host}")
            members[p.host] = members.get(p.host, 0) + 1

    # -- records -----------------------------------------------------------------------------

    def _record(self, ask: Ask, kind: str, ctx: FilterContext, funnel: Funnel,
                weights: Weights | None, picked: list[Placement] | None,
                conflicts: list[dict[str, Any]]) -> dict[str, Any]:
        return records.build(self.configuration, ask, kind, ctx, funnel, weights, picked,
                             conflicts)
