"""Group commit: boots arriving together share one decision round and one transaction,
and behave exactly as if each had been scheduled alone."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from corral.config import Settings
from corral.domain import errors, quotas
from corral.domain import scheduling as s
from corral.domain.flavors import snapshot
from corral.domain.hosts import HostReport
from corral.domain.scheduling import Instance
from corral.persistence import Store
from corral.persistence.clock import utcnow
from corral.scheduler.runner import Ask
from corral.services import allocations, claims, decision_log, instance_reads, projects
from corral.services import flavors as flavor_svc
from corral.services import hosts as host_svc
from corral.services import instances as svc
from corral.services import limits as limits_svc
from corral.services import server_groups as group_svc
from corral.services.audit_log import local_actor
from corral.services.candidates import CandidateFinder
from corral.services.claim_writes import BootClaim
from corral.services.claims import BootJob, Outcome
from corral.services.scheduler import Decision, Refused, Scheduler

LOCAL = local_actor("tests")


@pytest.fixture
def scheduler(store: Store, tmp_path: Path) -> Scheduler:
    settings = Settings(data_dir=str(tmp_path))
    for name in ("cn1", "cn2", "cn3"):
        # room for 3 of the flavor below by RAM: (8192 - 512) // 2048
        host_svc.report_host(store, settings, name,
                             HostReport(vcpus=16, memory_mb=8192, disk_gb=100))
    flavor_svc.create_flavor(store, actor=LOCAL, name="m1", vcpus=1, ram_mb=2048, disk_gb=1)
    return Scheduler(store, settings, CandidateFinder(store))


def _ask(store: Store, group: str | None = None) -> Ask:
    flavor = flavor_svc.get_flavor(store, "m1")
    found = group_svc.get_server_group(store, group) if group else None
    return Ask(flavor=flavor, project_id="p", user_id="u", group=found)


def _job(store: Store, consumer: str, group: str | None = None, project: str = "p"
         ) -> BootJob:
    ask = replace(_ask(store, group), project_id=project)
    what = BootClaim(name="vm", project_id=project, user_id="u", availability_zone=None,
                     flavor=ask.flavor, flavor_snapshot=json.dumps(snapshot(ask.flavor)),
                     group=ask.group, key=None)
    return BootJob(ask, [consumer], what)


def _hosts(results: Sequence[object]) -> list[str]:
    """The hosts of every instance the results booted (as stored)."""
    return [i.host or "" for r in results if isinstance(r, Outcome) for i in r.instances]


def test_a_batch_places_each_job_seeing_the_ones_before(store: Store,
                                                        scheduler: Scheduler) -> None:
    group = group_svc.create_server_group(store, name="g", policy="anti-affinity",
                                          project_id="p", user_id="u")
    jobs = [_job(store, f"00000000-0000-4000-8000-00000000000{i}", group.id)
            for i in range(4)]
    results = claims.claim_together(scheduler, jobs)
    placed = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if isinstance(r, s.NoValidHost)]
    # three hosts, one member each: the fourth is refused, in the same batch
    assert len(placed) == 3 and len(refused) == 1
    assert sorted(_hosts(results)) == ["cn1", "cn2", "cn3"]
    assert refused[0].explanation["constraint"] == "group_policy"
    assert len({r.decision_id for r in placed}) == 3  # one decision each


def test_a_batch_never_exceeds_capacity(store: Store, scheduler: Scheduler) -> None:
    jobs = [_job(store, f"00000000-0000-4000-8000-0000000000{i:02d}") for i in range(11)]
    results = claims.claim_together(scheduler, jobs)
    assert sum(isinstance(r, Outcome) for r in results) == 9
    assert Counter(_hosts(results)) == {"cn1": 3, "cn2": 3, "cn3": 3}
    assert all(isinstance(r, s.NoValidHost) for r in results[9:])


def _fill(store: Store, provider: str) -> None:
    """Another writer takes every MEMORY_MB left on ``provider``."""
    for k in range(10):
        try:
            allocations.write_allocations(store, [allocations.ConsumerWrite(
                f"00000000-0000-4000-8000-0000000009{k:02d}", {provider: {"MEMORY_MB": 2048}},
                "other", "u", generation=None)])
        except errors.InsufficientCapacity:
            return


def test_a_batch_that_loses_a_race_is_scheduled_again_one_by_one(
        store: Store, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    together, alone = scheduler.decide_together, scheduler.decide
    batches: list[int] = []
    decided: list[int] = []

    def racing(jobs: Sequence[tuple[Ask, Sequence[str]]], started: float
               ) -> list[Decision | Refused]:
        out = together(jobs, started)
        batches.append(len(jobs))
        if len(batches) == 1:  # between the batch's decision and its claim
            first = out[0]
            assert isinstance(first, Decision)
            _fill(store, next(iter(first.placements[0].allocations)))
        return out

    def counted(*args: Any, **kwargs: Any) -> Decision | Refused:
        decided.append(len(args[1]))
        return alone(*args, **kwargs)

    monkeypatch.setattr(scheduler, "decide_together", racing)
    monkeypatch.setattr(scheduler, "decide", counted)
    jobs = [_job(store, f"00000000-0000-4000-8000-00000000010{i}") for i in range(3)]
    results = claims.claim_together(scheduler, jobs)
    assert all(isinstance(r, Outcome) for r in results)
    assert batches == [3] and decided == [1, 1, 1]  # the batch, then each alone
    assert len(_hosts(results)) == 3
    assert scheduler.metrics.retries.labels("claim_conflict")._value.get() == 1


def test_one_boot_over_its_quota_does_not_refuse_the_others(
        store: Store, scheduler: Scheduler) -> None:
    model = scheduler.settings.quota_model
    projects.create_project(store, "q", model=model, actor=LOCAL)
    limits_svc.set_limits(store, "q", {quotas.INSTANCES: 0}, model=model, actor=LOCAL)
    jobs = [_job(store, "00000000-0000-4000-8000-000000000200"),
            _job(store, "00000000-0000-4000-8000-000000000201", project="q"),
            _job(store, "00000000-0000-4000-8000-000000000202")]
    results = claims.claim_together(scheduler, jobs)
    assert isinstance(results[0], Outcome) and isinstance(results[2], Outcome)
    assert isinstance(results[1], quotas.QuotaExceeded)
    assert sorted(i.id for i in instance_reads.list_instances(store)) == sorted(
        i.id for r in (results[0], results[2]) if isinstance(r, Outcome) for i in r.instances)


def test_concurrent_boots_are_batched_and_all_land(store: Store, scheduler: Scheduler) -> None:
    errors_seen: list[BaseException] = []
    booted: list[Instance] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(2):
            try:
                result = svc.boot(store, scheduler, svc.BootRequest(
                    name="vm", flavor="m1", project_id="p", user_id="u"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                with lock:
                    errors_seen.append(exc)
            else:
                with lock:
                    booted.extend(result.instances)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(booted) == 9  # every slot, and no more
    assert Counter(i.host for i in booted) == {"cn1": 3, "cn2": 3, "cn3": 3}
    assert len(errors_seen) == 3 and all(isinstance(e, s.NoValidHost) for e in errors_seen)
    listed = instance_reads.list_instances(store)
    assert sorted(i.id for i in listed) == sorted(i.id for i in booted)


def test_old_decisions_are_pruned_as_new_ones_are_written(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=str(tmp_path), decision_retention_hours=1)
    host_svc.report_host(store, settings, "cn1", HostReport(vcpus=4, memory_mb=8192,
                                                            disk_gb=10))
    flavor_svc.create_flavor(store, actor=LOCAL, name="m1", vcpus=1, ram_mb=512, disk_gb=1)
    sched = Scheduler(store, settings, CandidateFinder(store))
    old = svc.boot(store, sched, svc.BootRequest(name="a", flavor="m1", project_id="p",
                                                 user_id="u"))
    with store.write() as repo:  # pretend it was decided two hours ago
        repo.update_decision(old.decision_id, {"created_at": utcnow() - timedelta(hours=2)})
    monkeypatch.setattr(decision_log, "PRUNE_EVERY", 1)
    new = svc.boot(store, sched, svc.BootRequest(name="b", flavor="m1", project_id="p",
                                                 user_id="u"))
    assert [d["id"] for d in decision_log.list_decisions(store)] == [new.decision_id]


def test_a_claim_is_adopted_at_the_versions_the_database_holds(store: Store,
                                                               scheduler: Scheduler) -> None:
    """The scheduler applies its own claim to the engine at the versions it wrote (not
    read back): they must equal what the database says, or every full reconcile would
    reload the hosts it claimed on."""
    for k in range(3):
        svc.boot(store, scheduler, svc.BootRequest(name=f"vm{k}", flavor="m1",
                                                   project_id="p", user_id="u"))
    finder = scheduler.finder
    held = {pid: v for pid, v in finder.versions.items()}
    with store.read() as repo:
        actual = repo.provider_versions_of(held)
    assert held == actual
    assert finder.refresh() == 0  # nothing reloaded: the feed was read past our claims
