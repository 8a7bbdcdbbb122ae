"""The claim: a decision's placements made real in one transaction.

:func:`claim` (resizes, migrations, reschedules) and :func:`claim_boot` (boots) decide
where the request goes (services/scheduler.py), then write, in ONE transaction, the
hard server-group policies re-checked under their locks, what the claim is (a typed
value of services/claim_writes.py: allocations, quota ledger, instance rows,
idempotency key) and the decision record. A claim that loses a race (capacity taken,
a group policy or a consumer changed since the decision) is decided again from fresh
state, up to CLAIM_ROUNDS times. A committed claim is applied to the engine as made.

Boots use group commit: boots arriving together queue in one Batcher
(services/batching.py) and are decided one after another in one round, each seeing the
ones before it, then claimed in one transaction. When that transaction fails (a lost
race, one boot over its quota or with a key stored meanwhile), each boot of the batch
is claimed again on its own, so one's refusal never refuses the others.

:func:`rehearse` is a dry run that answers exactly what the claim would: the whole
transaction, every check included (a QuotaExceeded comes out as it would), rolled back.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import structlog

from corral.domain import errors, quotas
from corral.domain import scheduling as s
from corral.domain.scheduling import Instance
from corral.scheduler.explain import explain
from corral.scheduler.records import DecisionRecord
from corral.scheduler.runner import Ask, Placement, group_conflict
from corral.services import claim_writes, decision_log
from corral.services.claim_writes import BootClaim, Claim
from corral.services.scheduler import Decision, GroupPolicyConflict, Refused, Scheduler
from corral.services.stores import Repo

log = structlog.get_logger("corral.scheduler")

#: Decide-and-claim rounds before a request that keeps losing claim races gives up.
CLAIM_ROUNDS = 4

#: A claim that lost a race to another: decided again.
_LOST = (errors.InsufficientCapacity, GroupPolicyConflict, errors.ConsumerGenerationConflict)


@dataclass
class Outcome:
    """A claimed (or rehearsed) decision."""

    decision_id: str
    placements: list[Placement]
    record: DecisionRecord
    instances: list[Instance] = field(default_factory=list)
    """What a boot's claim stored (none for a dry run or a move)."""


#: Why one boot of a batch was not claimed (handed to its caller, not to the others).
Refusal = s.NoValidHost | quotas.QuotaExceeded | errors.IdempotencyKeyTaken


@dataclass(frozen=True)
class BootJob:
    """One boot waiting for group commit: what it asks, its consumers, its claim."""

    ask: Ask
    consumers: Sequence[str]
    claim: BootClaim


class _Rehearsed(Exception):  # noqa: N818 - not an error: rolls a dry run's claim back
    """Raised at the end of a dry run's claim to roll its transaction back."""


def claim(scheduler: Scheduler, ask: Ask, consumers: Sequence[str], what: Claim, *,
          kind: str, instance: str | None = None) -> Outcome:
    """Decide where ``consumers`` go and claim ``what`` there, in one transaction.

    Raises:
        NoValidHost: no host can take them (recorded; carries the explanation).
        QuotaExceeded: the claim would take a project past a limit.
        InvalidState: the instance moved on since (a move or a reschedule).
    """
    return _rounds(scheduler, ask, consumers, what, kind=kind, instance=instance,
                   rehearsing=False)


def rehearse(scheduler: Scheduler, ask: Ask, consumers: Sequence[str], what: Claim, *,
             kind: str) -> Outcome:
    """A dry run: :func:`claim`'s transaction, every check included, rolled back; the
    decision is recorded as a dry run."""
    return _rounds(scheduler, ask, consumers, what, kind=kind, instance=None,
                   rehearsing=True)


def claim_boot(scheduler: Scheduler, ask: Ask, consumers: Sequence[str],
               what: BootClaim) -> Outcome:
    """:func:`claim` for a boot, through the process's group commit."""
    batcher = scheduler.batcher("boot", partial(claim_together, scheduler))
    outcome: Outcome = batcher.submit(BootJob(ask, consumers, what))
    return outcome


def _rounds(scheduler: Scheduler, ask: Ask, consumers: Sequence[str], what: Claim, *,
            kind: str, instance: str | None, rehearsing: bool) -> Outcome:
    started = time.perf_counter()
    decision_id = str(uuidlib.uuid4())
    conflicts: list[dict[str, Any]] = []
    with scheduler.finder.lock:
        for _round in range(CLAIM_ROUNDS):
            decided = scheduler.decide(ask, consumers, kind=kind, decision_id=decision_id,
                                       instance=instance, started=started,
                                       conflicts=conflicts)
            if isinstance(decided, Refused):
                decision_log.refuse(scheduler, decided)
            try:
                if rehearsing:
                    _rehearse(scheduler, what, decided)
                    decision_log.finish(scheduler, decided, outcome="dry_run")
                    return Outcome(decision_id, decided.placements, decided.record)
                made = _commit(scheduler, [(what, decided)])
            except _LOST as exc:
                conflicts.append({"hosts": [p.host for p in decided.placements],
                                  "reason": s.CLAIM_CONFLICT, "message": exc.detail})
                scheduler.metrics.retries.labels("claim_conflict").inc()
                log.info("claim_conflict", decision=decision_id, error=exc.detail)
                continue
            decision_log.finish(scheduler, decided, outcome="scheduled", recorded=True)
            return Outcome(decision_id, decided.placements, decided.record, made[0])
        # Every round lost its race: what is left to say is the last funnel, as a
        # transient claim conflict (retrying may help).
        explanation = replace(explain(decided.ctx, decided.funnel), code=s.CLAIM_CONFLICT,
                              structural=False)
        decision_log.refuse(scheduler, Refused(decision_id, ask, kind, instance, decided.ctx,
                                               decided.funnel, conflicts, started,
                                               explanation))


def _commit(scheduler: Scheduler, claimed: Sequence[tuple[Claim, Decision]]
            ) -> list[list[Instance]]:
    """The claim's transaction; then the engine adopts it. Returns, per claim, the
    instances it booted."""
    with scheduler.store.write() as repo:
        _check_groups(repo, [(d.ask, d.placements) for _c, d in claimed])
        made = claim_writes.write(repo, claimed)
        decision_log.insert_all(scheduler, repo, [d for _c, d in claimed], outcome="scheduled")
        versions = scheduler.finder.versions_after(repo.bumped)
        own = list(repo.logged_changes)
    scheduler.adopt([p for _c, d in claimed for p in d.placements], versions, own)
    return made


def _rehearse(scheduler: Scheduler, what: Claim, decision: Decision) -> None:
    """The claim's transaction, every check included, rolled back at its end."""
    try:
        with scheduler.store.write() as repo:
            _check_groups(repo, [(decision.ask, decision.placements)])
            claim_writes.write(repo, [(what, decision)])
            raise _Rehearsed
    except _Rehearsed:
        pass


def _check_groups(repo: Repo, asks: Sequence[tuple[Ask, list[Placement]]]) -> None:
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
        conflict = group_conflict(ask.group, counted[ask.group.id], picked)
        if conflict is not None:
            raise GroupPolicyConflict(conflict)


# -- group commit ------------------------------------------------------------------------------

def claim_together(scheduler: Scheduler, jobs: Sequence[BootJob]) -> list[Outcome | Refusal]:
    """Boot several independent requests in one decision round and one transaction
    (what a batch of :func:`claim_boot` runs). Each is decided as if alone, seeing the
    ones before it, and gets its own decision record. When the shared claim fails,
    each is claimed again on its own. Returns, per job, its Outcome or its Refusal."""
    if len(jobs) == 1:
        return [_alone(scheduler, jobs[0])]
    started = time.perf_counter()
    with scheduler.finder.lock:
        decided = scheduler.decide_together([(j.ask, j.consumers) for j in jobs], started)
        placed = [(j.claim, d) for j, d in zip(jobs, decided, strict=True)
                  if isinstance(d, Decision)]
        made = _commit_together(scheduler, placed) if placed else []
    if made is None:  # each on its own now, decided again from fresh state (the refused
        # too: they were refused beside placements that are now rolled back)
        return [_alone(scheduler, job) for job in jobs]
    booted = iter(made)
    results: list[Outcome | Refusal | None] = [
        _claimed(scheduler, d, next(booted)) if isinstance(d, Decision) else None
        for d in decided]
    for i, d in enumerate(decided):
        if isinstance(d, Refused):
            try:
                decision_log.refuse(scheduler, d)
            except s.NoValidHost as exc:
                results[i] = exc
    return [r for r in results if r is not None]


def _commit_together(scheduler: Scheduler, placed: Sequence[tuple[Claim, Decision]]
                     ) -> list[list[Instance]] | None:
    """The batch's one transaction; None when it failed and each must go alone."""
    try:
        return _commit(scheduler, placed)
    except _LOST as exc:
        scheduler.metrics.retries.labels("claim_conflict").inc()
        log.info("batch_claim_conflict", boots=len(placed), error=exc.detail)
    except (quotas.QuotaExceeded, errors.IdempotencyKeyTaken) as exc:
        # one boot's project is over its quota, or one boot's key was stored by another
        # call: the others must not be refused with it
        log.info("batch_refused_one", boots=len(placed), error=exc.detail)
    return None


def _claimed(scheduler: Scheduler, decision: Decision, instances: list[Instance]) -> Outcome:
    decision_log.finish(scheduler, decision, outcome="scheduled", recorded=True)
    return Outcome(decision.decision_id, decision.placements, decision.record, instances)


def _alone(scheduler: Scheduler, job: BootJob) -> Outcome | Refusal:
    """One boot of a batch, claimed on its own."""
    try:
        return claim(scheduler, job.ask, job.consumers, job.claim, kind="boot")
    except (s.NoValidHost, quotas.QuotaExceeded, errors.IdempotencyKeyTaken) as exc:
        return exc
