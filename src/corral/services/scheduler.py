"""The scheduler: filters, weighers and the claim, over the in-memory engine.

One Scheduler per process shares the candidates engine (and its lock) with the
Placement API, so both answer from the same fleet. A decision:

1. refreshes the engine from the store (the providers named in the change feed since
   it last looked) and, when hosts or aggregates changed, rebuilds the HostTable
   (services/host_table.py);
2. runs the enabled filters in order (the funnel), weighs the hosts left, and picks at
   random among the best ``host_subset_size``; the next best become the alternates a
   failed build is retried on; ``count`` instances are picked one after another, each
   seeing the ones before it;
3. claims every instance in one transaction: the allocations (locked and re-checked
   against capacity, see services/allocations.py) and, for a hard server-group policy,
   the group re-checked under its lock, so parallel schedulers never break it. A claim
   that loses a race re-runs the decision, up to CLAIM_ROUNDS times. A committed claim
   is applied to the engine as made (adopted) rather than reloaded.

Boots that arrive together go through :meth:`Scheduler.schedule_many` (group commit,
services/batching.py): decided one after another in one round, claimed in one
transaction.

Every decision is recorded (``decisions`` table) with the request, the configuration
used, the funnel, the best weighed hosts and the outcome; a request no host can take
raises NoValidHost carrying the explanation (scheduler/explain.py). The decision itself
(filters, weighers, pick, explanation, record) is the pure ``corral.scheduler`` package.
"""

from __future__ import annotations

import random
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NoReturn

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from corral.config import Settings
from corral.domain import errors, quotas
from corral.domain import scheduling as s
from corral.domain.flavors import ServerGroup
from corral.persistence import Repository, Store
from corral.persistence.clock import utcnow
from corral.scheduler import records
from corral.scheduler import runner as decide
from corral.scheduler.explain import explain
from corral.scheduler.hosts import HostTable
from corral.scheduler.query import FilterContext, Funnel, HostQuery
from corral.scheduler.records import TOP_WEIGHED
from corral.scheduler.runner import ARRANGE_TRIES, Ask, Placement, Saved, Weights, host_query_of
from corral.services.batching import Batcher, BatchWrite
from corral.services.candidates import CandidateFinder
from corral.services.flavors import FlavorCache
from corral.services.host_table import HostTableCache, configuration_of

log = structlog.get_logger("corral.scheduler")

#: Decide-and-claim rounds before a request that keeps losing claim races gives up.
CLAIM_ROUNDS = 4
#: Decisions older than the retention are pruned on about one decision write in this many.
PRUNE_EVERY = 1000


class _Rehearsed(Exception):  # noqa: N818 - not an error: rolls a dry run's claim back
    """Raised at the end of a dry run's claim to roll its transaction back."""


class GroupPolicyConflict(errors.Conflict):
    """Another claim made the group's policy fail on the chosen host (retried)."""


@dataclass
class Outcome:
    decision_id: str
    placements: list[Placement]
    record: dict[str, Any]


#: Why one job of a batch was not placed (handed to its caller, not to the others).
Refusal = s.NoValidHost | quotas.QuotaExceeded | errors.IdempotencyKeyTaken

#: Records what was placed, inside the claim's transaction (gets the decision id).
Write = Callable[[Repository, list[Placement], str], None]
#: Records several placed requests at once: [(job index, placements, decision id)].
WriteAll = Callable[[Repository, list[tuple[int, list[Placement], str]]], None]


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
        self.hosts = HostTableCache(settings)
        #: What every decision record says of the configuration (settings are fixed).
        self.configuration = configuration_of(settings, self.hosts.policy)
        self.random = random.Random()
        self.flavors = FlavorCache()
        self._batchers: dict[str, Batcher] = {}
        self._batchers_lock = threading.Lock()

    def batcher(self, name: str, write: BatchWrite) -> Batcher:
        """The process's group-commit queue ``name`` (created with ``write`` on first use)."""
        with self._batchers_lock:
            found = self._batchers.get(name)
            if found is None:
                found = self._batchers[name] = Batcher(self, write)
            return found

    # -- deciding ----------------------------------------------------------------------------

    def schedule(self, ask: Ask, consumers: Sequence[str], *, kind: str, write: Write | None,
                 instance: str | None = None, rehearse: bool = False) -> Outcome:
        """Place ``consumers`` (one per instance asked); ``write`` None is a dry run.

        ``write`` runs inside the claim's transaction after the allocations are written
        (it records the instances). Raises NoValidHost (recorded) when nothing fits.
        With ``rehearse`` it is a dry run too, that answers exactly what the claim would:
        ``write`` runs, with every check of the claim (capacity, group policies, quotas:
        a QuotaExceeded comes out as it would), then the transaction is rolled back.
        """
        started = time.perf_counter()
        decision_id = str(uuidlib.uuid4())
        conflicts: list[dict[str, Any]] = []
        with self.finder.lock:
            for _round in range(CLAIM_ROUNDS):
                with self.store.read() as repo:
                    self.finder.refresh_in(repo)
                    table = self.hosts.get(repo)
                    query = self._query(repo, table, ask)
                saved: Saved = {}
                try:
                    picked, ctx, funnel, weights, explanation = self._pick(table, query,
                                                                           consumers, saved)
                finally:
                    self._restore(saved)
                if picked is None:
                    return self._refuse(decision_id, ask, kind, instance, ctx, funnel,
                                        conflicts, started, explanation)
                record = self._record(ask, kind, ctx, funnel, weights, picked, conflicts)
                if write is None:
                    record["outcome"] = "dry_run"
                    return self._finish(decision_id, ask, kind, instance, record, picked,
                                        started, outcome="dry_run")
                try:
                    if rehearse:
                        self._rehearse(ask, picked, decision_id, write)
                        record["outcome"] = "dry_run"
                        return self._finish(decision_id, ask, kind, instance, record, picked,
                                            started, outcome="dry_run")
                    with self.store.write() as repo:
                        self._check_groups(repo, [(ask, picked)])
                        write(repo, picked, decision_id)
                        self._insert(repo, decision_id, ask, kind, instance, record, picked,
                                     started, "scheduled")
                        versions = self.finder.versions_after(repo.bumped)
                        own = list(repo.logged_changes)
                    self._adopt(picked, versions, own)
                except (errors.InsufficientCapacity, GroupPolicyConflict,
                        errors.ConsumerGenerationConflict) as exc:
                    conflicts.append({"hosts": [p.host for p in picked], "reason": s.CLAIM_CONFLICT,
                                      "message": exc.detail})
                    self.metrics.retries.labels("claim_conflict").inc()
                    log.info("claim_conflict", decision=decision_id, error=exc.detail)
                    continue
                return self._finish(decision_id, ask, kind, instance, record, picked, started,
                                    outcome="scheduled", recorded=True)
            explanation = explain(ctx, funnel).as_dict()
            explanation.update(code=s.CLAIM_CONFLICT, kind="transient", retry_can_help=True)
            return self._refuse(decision_id, ask, kind, instance, ctx, funnel, conflicts,
                                started, explanation)

    def schedule_many(self, jobs: Sequence[tuple[Ask, Sequence[str]]], write_all: WriteAll
                      ) -> list[Outcome | Refusal]:
        """Boot several independent requests in one decision round and one transaction
        (group commit: concurrent boots share the engine refresh and the claim's
        transaction). Each is decided as if alone, seeing the ones before it; each gets
        its own decision record. ``write_all`` records every placed request at once.

        When the shared claim loses a race, each request is decided again on its own
        (:meth:`schedule`). Returns, per job, its Outcome or the NoValidHost refusing it.
        """
        if len(jobs) == 1:
            return [self._alone(jobs, 0, write_all)]
        started = time.perf_counter()
        results: list[Outcome | Refusal | None] = [None] * len(jobs)
        refused: list[tuple[int, FilterContext, Funnel, dict[str, Any]]] = []
        placed: list[tuple[int, list[Placement], dict[str, Any], str]] = []
        with self.finder.lock:
            with self.store.read() as repo:
                self.finder.refresh_in(repo)
                table = self.hosts.get(repo)
                queries = [self._query(repo, table, ask) for ask, _consumers in jobs]
            saved: Saved = {}
            taken: dict[str, dict[str, int]] = {}  # group -> host -> members placed here
            try:
                for i, ((ask, consumers), query) in enumerate(zip(jobs, queries, strict=True)):
                    if ask.group is not None and ask.group.id in taken:
                        members = dict(query.group_members)
                        for host, n in taken[ask.group.id].items():
                            members[host] = members.get(host, 0) + n
                        query = replace(query, group_members=members)
                    picked, ctx, funnel, weights, explanation = self._pick(table, query,
                                                                           consumers, saved)
                    if picked is None:
                        refused.append((i, ctx, funnel, explanation))
                        continue
                    if ask.group is not None:
                        into = taken.setdefault(ask.group.id, {})
                        for p in picked:
                            into[p.host] = into.get(p.host, 0) + 1
                    record = self._record(ask, "boot", ctx, funnel, weights, picked, [])
                    placed.append((i, picked, record, str(uuidlib.uuid4())))
            finally:
                self._restore(saved)
            lost = False
            if placed:
                try:
                    with self.store.write() as repo:
                        self._check_groups(repo, [(jobs[i][0], picked)
                                                  for i, picked, _r, _d in placed])
                        write_all(repo, [(i, picked, d) for i, picked, _r, d in placed])
                        for i, picked, record, decision_id in placed:
                            self._insert(repo, decision_id, jobs[i][0], "boot", None, record,
                                         picked, started, "scheduled")
                        versions = self.finder.versions_after(repo.bumped)
                        own = list(repo.logged_changes)
                    self._adopt([p for _i, picked, _r, _d in placed for p in picked], versions,
                                own)
                except (errors.InsufficientCapacity, GroupPolicyConflict,
                        errors.ConsumerGenerationConflict) as exc:
                    self.metrics.retries.labels("claim_conflict").inc()
                    log.info("batch_claim_conflict", boots=len(placed), error=exc.detail)
                    lost = True
                except (quotas.QuotaExceeded, errors.IdempotencyKeyTaken) as exc:
                    # one boot's project is over its quota, or one boot's key was stored
                    # by another call: the others must not be refused with it
                    log.info("batch_refused_one", boots=len(placed), error=exc.detail)
                    lost = True
        if lost:  # each on its own now, decided again from fresh state (the refused too:
            # they were refused beside placements that are now rolled back)
            return [self._alone(jobs, i, write_all) for i in range(len(jobs))]
        for i, picked, record, decision_id in placed:
            results[i] = self._finish(decision_id, jobs[i][0], "boot", None, record, picked,
                                      started, outcome="scheduled", recorded=True)
        for i, ctx, funnel, explanation in refused:
            try:
                self._refuse(str(uuidlib.uuid4()), jobs[i][0], "boot", None, ctx, funnel, [],
                             started, explanation)
            except s.NoValidHost as exc:
                results[i] = exc
        return [r for r in results if r is not None]

    def _rehearse(self, ask: Ask, picked: list[Placement], decision_id: str,
                  write: Write) -> None:
        """The claim's transaction, every check included, rolled back at its end."""
        try:
            with self.store.write() as repo:
                self._check_groups(repo, [(ask, picked)])
                write(repo, picked, decision_id)
                raise _Rehearsed
        except _Rehearsed:
            pass

    def _alone(self, jobs: Sequence[tuple[Ask, Sequence[str]]], i: int, write_all: WriteAll
               ) -> Outcome | Refusal:
        """Job ``i`` of a batch, scheduled on its own."""
        def write(repo: Repository, picked: list[Placement], decision_id: str) -> None:
            write_all(repo, [(i, picked, decision_id)])

        ask, consumers = jobs[i]
        try:
            return self.schedule(ask, consumers, kind="boot", write=write)
        except (s.NoValidHost, quotas.QuotaExceeded, errors.IdempotencyKeyTaken) as exc:
            return exc

    def _query(self, repo: Repository, table: HostTable, ask: Ask) -> HostQuery:
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
        decide.restore(self.finder.state, saved)

    def _pick(self, table: HostTable, query: HostQuery, consumers: Sequence[str],
              saved: Saved) -> tuple[list[Placement] | None, FilterContext, Funnel,
                                     Weights | None, dict[str, Any]]:
        """Choose a host per consumer (:func:`corral.scheduler.runner.pick`): applied to
        the engine, the rows' previous values kept in ``saved`` for the caller to
        restore; a refusal's explanation instead of placements."""
        st = self.settings
        choice = decide.Choice(st.filters, st.host_subset_size, st.max_attempts, self._top())
        found = decide.pick(self.finder.state, table, query, consumers, saved, choice,
                            self.random)
        explanation = found.explanation.as_dict() if found.explanation is not None else {}
        return found.placements, found.ctx, found.funnel, found.weights, explanation

    def _adopt(self, picked: list[Placement], versions: dict[int, tuple[object, ...]],
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
        return explain(ctx, funnel, len(picked)).as_dict()

    @staticmethod
    def _check_groups(repo: Repository, asks: Sequence[tuple[Ask, list[Placement]]]) -> None:
        """Re-check hard group policies under the groups' locks (in id order), counting
        the members already there and those placed before in ``asks``."""
        hard = [(ask, picked) for ask, picked in asks
                if ask.group is not None and ask.group.policy in (s.AFFINITY, s.ANTI_AFFINITY)]
        for group_id in sorted({ask.group.id for ask, _p in hard if ask.group}):
            repo.lock_server_group(group_id)
        counted: dict[str, dict[str, int]] = {}
        for ask, picked in hard:
            assert ask.group is not None
            if ask.group.id not in counted:
                counted[ask.group.id] = repo.group_members_by_host(ask.group.id,
                                                                   besides=ask.moving)
            Scheduler._check_placements(ask.group, counted[ask.group.id], picked)

    @staticmethod
    def _check_placements(group: ServerGroup, members: dict[str, int],
                          picked: list[Placement]) -> None:
        conflict = decide.group_conflict(group, members, picked)
        if conflict is not None:
            raise GroupPolicyConflict(conflict)

    # -- records -----------------------------------------------------------------------------

    def _record(self, ask: Ask, kind: str, ctx: FilterContext, funnel: Funnel,
                weights: Weights | None, picked: list[Placement] | None,
                conflicts: list[dict[str, Any]]) -> dict[str, Any]:
        return records.build(self.configuration, ask, kind, ctx, funnel, weights, picked,
                             conflicts, utcnow()).as_dict()

    def _insert(self, repo: Repository, decision_id: str, ask: Ask, kind: str,
                instance: str | None, record: dict[str, Any], picked: list[Placement] | None,
                started: float, outcome: str, reason: str | None = None) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        record.update(outcome=outcome, reason=reason, elapsed_ms=round(elapsed, 3))
        self._prune(repo)
        repo.insert_decision({
            "uuid": decision_id, "kind": kind, "project_id": ask.project_id,
            "instance_uuid": instance or (picked[0].consumer
                                          if picked and outcome != "dry_run" else None),
            "outcome": outcome, "reason": reason,
            "host": picked[0].host if picked else None, "elapsed_ms": elapsed,
            # orjson: with json, encoding the record was 5% of a boot over HTTP (measured)
            "record": orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS).decode(),
            "created_at": utcnow()})

    def _prune(self, repo: Repository) -> None:
        """Now and then (about one write in PRUNE_EVERY), drop decisions older than the
        retention, in the writing transaction: the table stays bounded with no job to
        run."""
        hours = self.settings.decision_retention_hours
        if hours and self.random.random() < 1 / PRUNE_EVERY:
            pruned = repo.prune_decisions(utcnow() - timedelta(hours=hours))
            if pruned:
                log.info("decisions_pruned", decisions=pruned, older_than_hours=hours)

    def _finish(self, decision_id: str, ask: Ask, kind: str, instance: str | None,
                record: dict[str, Any], picked: list[Placement], started: float, *,
                outcome: str, recorded: bool = False) -> Outcome:
        if not recorded:
            with self.store.write() as repo:
                self._insert(repo, decision_id, ask, kind, instance, record, picked, started,
                             outcome)
        elapsed = time.perf_counter() - started
        self.metrics.decision_seconds.labels(kind, outcome).observe(elapsed)
        if outcome == "scheduled" and kind == "boot":
            self.metrics.boots.labels("scheduled").inc(len(picked))
        log.info("scheduling_decision", decision=decision_id, kind=kind, outcome=outcome,
                 hosts=[p.host for p in picked], considered=record["funnel"][0]["hosts"],
                 passed=record["funnel"][-1]["hosts"], elapsed_ms=round(elapsed * 1000, 3))
        return Outcome(decision_id, picked, record)

    def _refuse(self, decision_id: str, ask: Ask, kind: str, instance: str | None,
                ctx: FilterContext, funnel: Funnel, conflicts: list[dict[str, Any]],
                started: float, explanation: dict[str, Any]) -> NoReturn:
        record = self._record(ask, kind, ctx, funnel, None, None, conflicts)
        record["explanation"] = explanation
        code = explanation["code"]
        with self.store.write() as repo:
            self._insert(repo, decision_id, ask, kind, instance, record, None, started,
                         "no_valid_host", code)
        elapsed = time.perf_counter() - started
        self.metrics.decision_seconds.labels(kind, "no_valid_host").observe(elapsed)
        if kind == "boot":
            self.metrics.boots.labels("no_valid_host").inc(ask.count)
        self.metrics.no_valid_host.labels(explanation.get("filter") or code).inc()
        log.info("scheduling_decision", decision=decision_id, kind=kind,
                 outcome="no_valid_host", reason=code, filter=explanation.get("filter"),
                 resource_class=explanation.get("resource_class"),
                 considered=record["funnel"][0]["hosts"], elapsed_ms=round(elapsed * 1000, 3))
        raise s.NoValidHost(records.describe(explanation), {"decision_id": decision_id, **explanation})
