"""services/claims.py: a decision's placements become allocations, quota usage,
instance rows, an idempotency key and a decision record in one transaction, or
nothing at all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from corral.config import Settings
from corral.domain import errors, quotas
from corral.domain import scheduling as s
from corral.domain.flavors import snapshot
from corral.domain.hosts import HostReport
from corral.domain.project_checks import ProjectNotFound
from corral.persistence import Store
from corral.persistence.clock import utcnow
from corral.scheduler.runner import Ask
from corral.services import allocations, claims, idempotency, projects
from corral.services import flavors as flavor_svc
from corral.services import hosts as host_svc
from corral.services import limits as limits_svc
from corral.services.audit_log import local_actor
from corral.services.candidates import CandidateFinder
from corral.services.claim_writes import BootClaim, MoveClaim
from corral.services.claims import BootJob, Outcome
from corral.services.scheduler import Decision, Refused, Scheduler

LOCAL = local_actor("tests")

FIRST = "00000000-0000-4000-8000-000000000001"
SECOND = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def scheduler(store: Store, tmp_path: Path) -> Scheduler:
    settings = Settings(data_dir=str(tmp_path))
    for name in ("cn1", "cn2"):
        # room for 3 of the flavor below by RAM: (8192 - 512) // 2048
        host_svc.report_host(store, settings, name,
                             HostReport(vcpus=16, memory_mb=8192, disk_gb=100))
    flavor_svc.create_flavor(store, actor=LOCAL, name="m1", vcpus=1, ram_mb=2048, disk_gb=1)
    return Scheduler(store, settings, CandidateFinder(store))


def _boot(store: Store, project: str = "p", key: idempotency.Key | None = None
          ) -> tuple[Ask, BootClaim]:
    flavor = flavor_svc.get_flavor(store, "m1")
    ask = Ask(flavor=flavor, project_id=project, user_id="u")
    return ask, BootClaim(name="vm", project_id=project, user_id="u", availability_zone=None,
                          flavor=flavor, flavor_snapshot=json.dumps(snapshot(flavor)),
                          group=None, key=key)


def _limit(store: Store, scheduler: Scheduler, project: str, instances: int) -> None:
    model = scheduler.settings.quota_model
    projects.create_project(store, project, model=model, actor=LOCAL)
    limits_svc.set_limits(store, project, {quotas.INSTANCES: instances}, model=model, actor=LOCAL)


def _instances_used(store: Store, project: str) -> int:
    try:
        _project, found = limits_svc.quota_of(store, project)
    except ProjectNotFound:  # nothing ever claimed for it
        return 0
    return next(q.own for q in found if q.resource == quotas.INSTANCES)


def test_a_boot_claim_writes_everything_in_one_transaction(store: Store,
                                                           scheduler: Scheduler) -> None:
    ask, what = _boot(store)
    outcome = claims.claim(scheduler, ask, [FIRST], what, kind="boot")
    placed = outcome.placements[0]
    assert [i.id for i in outcome.instances] == [FIRST]
    assert outcome.instances[0].host == placed.host and outcome.instances[0].state == s.BUILDING
    with store.read() as repo:
        row = repo.get_instance_row(FIRST)
        decision = repo.get_decision_row(outcome.decision_id)
    assert row is not None and row.decision_uuid == outcome.decision_id
    assert row.alternates == tuple(placed.alternates) and row.attempts == 1
    assert decision is not None and decision.outcome == "scheduled"
    assert decision.instance_uuid == FIRST and decision.host == placed.host
    held = allocations.get_consumer_allocations(store, FIRST)
    assert held.allocations == placed.allocations and held.consumer_type == "INSTANCE"
    assert _instances_used(store, "p") == 1


def test_a_refused_claim_leaves_nothing_behind(store: Store, scheduler: Scheduler) -> None:
    _limit(store, scheduler, "q", 0)
    ask, what = _boot(store, "q")
    with pytest.raises(quotas.QuotaExceeded):
        claims.claim(scheduler, ask, [FIRST], what, kind="boot")
    with store.read() as repo:
        assert repo.get_instance_row(FIRST) is None
        assert repo.decision_rows() == []
    assert allocations.get_consumer_allocations(store, FIRST).allocations == {}
    assert _instances_used(store, "q") == 0


def test_a_rehearsal_checks_the_quota_and_writes_only_its_record(
        store: Store, scheduler: Scheduler) -> None:
    _limit(store, scheduler, "q", 0)
    ask, what = _boot(store, "q")
    with pytest.raises(quotas.QuotaExceeded):
        claims.rehearse(scheduler, ask, [FIRST], what, kind="boot")
    ask, what = _boot(store)
    outcome = claims.rehearse(scheduler, ask, [FIRST], what, kind="boot")
    assert outcome.instances == [] and outcome.record.outcome == "dry_run"
    with store.read() as repo:
        assert repo.get_instance_row(FIRST) is None
        assert [(d.uuid, d.outcome, d.instance_uuid) for d in repo.decision_rows()] == [
            (outcome.decision_id, "dry_run", None)]
    assert allocations.get_consumer_allocations(store, FIRST).allocations == {}
    assert _instances_used(store, "p") == 0


def test_a_claim_that_loses_a_race_is_decided_again(store: Store, scheduler: Scheduler,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    decide = scheduler.decide
    taken: list[str] = []

    def racing(*args: Any, **kwargs: Any) -> Decision | Refused:
        decided = decide(*args, **kwargs)
        if not taken and isinstance(decided, Decision):  # another writer fills the host
            provider = next(iter(decided.placements[0].allocations))
            taken.append(decided.placements[0].host)
            allocations.write_allocations(store, [allocations.ConsumerWrite(
                SECOND, {provider: {"MEMORY_MB": 3 * 2048}}, "other", "u", generation=None)])
        return decided

    monkeypatch.setattr(scheduler, "decide", racing)
    ask, what = _boot(store)
    outcome = claims.claim(scheduler, ask, [FIRST], what, kind="boot")
    assert outcome.placements[0].host != taken[0]
    assert [c["hosts"] for c in outcome.record.conflicts] == [taken]
    assert [i.host for i in outcome.instances] == [outcome.placements[0].host]


def test_a_move_claim_keeps_the_source_under_a_migration(store: Store,
                                                         scheduler: Scheduler) -> None:
    ask, what = _boot(store)
    booted = claims.claim(scheduler, ask, [FIRST], what, kind="boot")
    with store.write() as repo:
        repo.update_instance(FIRST, {"state": s.ACTIVE})
    source = booted.placements[0]
    move = Ask(flavor=ask.flavor, project_id="p", user_id="u", moving=FIRST,
               exclude_hosts=frozenset([source.host]))
    moved = claims.claim(scheduler, move, [FIRST], MoveClaim(FIRST, "migrate", None),
                         kind="migrate", instance=FIRST)
    with store.read() as repo:
        row = repo.get_instance_row(FIRST)
    assert row is not None and row.state == s.VERIFY_RESIZE
    assert row.decision_uuid == moved.decision_id and row.migration_uuid is not None
    assert allocations.get_consumer_allocations(store, FIRST).allocations == \
        moved.placements[0].allocations
    assert allocations.get_consumer_allocations(store, row.migration_uuid).allocations == \
        source.allocations
    assert _instances_used(store, "p") == 1  # a move is not a new instance


def test_one_boot_whose_key_is_taken_does_not_refuse_the_batch(
        store: Store, scheduler: Scheduler) -> None:
    key = idempotency.Key(scope="", key="k1", fingerprint="f", retention=_day())
    with store.write() as repo:  # another call stored the key first
        repo.insert_idempotent_response("", "k1", fingerprint="f", status=201,
                                        response="{}", now=utcnow(),
                                        expired_before=utcnow() - _day())
    first, second = _boot(store), _boot(store, key=key)
    results = claims.claim_together(scheduler, [BootJob(first[0], [FIRST], first[1]),
                                                BootJob(second[0], [SECOND], second[1])])
    assert isinstance(results[0], Outcome) and [i.id for i in results[0].instances] == [FIRST]
    assert isinstance(results[1], errors.IdempotencyKeyTaken)
    with store.read() as repo:
        assert repo.get_instance_row(SECOND) is None
    assert _instances_used(store, "p") == 1


def test_a_batch_is_claimed_in_one_transaction(store: Store, scheduler: Scheduler,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    write = store.write

    def counted() -> Any:
        writes.append(1)
        return write()

    monkeypatch.setattr(store, "write", counted)
    jobs = [BootJob(*_pair(store, consumer)) for consumer in (FIRST, SECOND)]
    results = claims.claim_together(scheduler, jobs)
    assert all(isinstance(r, Outcome) for r in results)
    assert len(writes) == 1  # both boots, their records included
    assert len({r.decision_id for r in results if isinstance(r, Outcome)}) == 2


def _pair(store: Store, consumer: str) -> tuple[Ask, Sequence[str], BootClaim]:
    ask, what = _boot(store)
    return ask, [consumer], what


def _day() -> timedelta:
    return timedelta(days=1)
