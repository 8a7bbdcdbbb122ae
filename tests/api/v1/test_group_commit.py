"""Group commit: boots arriving together share one decision round and one transaction,
and behave exactly as if each had been scheduled alone."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from corral.config import Settings
from corral.domain import errors
from corral.domain import scheduling as s
from corral.domain.hosts import HostReport
from corral.domain.scheduling import Instance
from corral.persistence import Repository, Store
from corral.scheduler.runner import Ask, Placement
from corral.services import flavors as flavor_svc
from corral.services import hosts as host_svc
from corral.services import instances as svc
from corral.services import server_groups as group_svc
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler


@pytest.fixture
def scheduler(store: Store, tmp_path: Path) -> Scheduler:
    settings = Settings(data_dir=str(tmp_path))
    for name in ("cn1", "cn2", "cn3"):
        # room for 3 of the flavor below by RAM: (8192 - 512) // 2048
        host_svc.report_host(store, settings, name,
                             HostReport(vcpus=16, memory_mb=8192, disk_gb=100))
    flavor_svc.create_flavor(store, name="m1", vcpus=1, ram_mb=2048, disk_gb=1)
    return Scheduler(store, settings, CandidateFinder(store))


def _ask(store: Store, group: str | None = None) -> Ask:
    flavor = flavor_svc.get_flavor(store, "m1")
    found = group_svc.get_server_group(store, group) if group else None
    return Ask(flavor=flavor, project_id="p", user_id="u", group=found)


def _recorder(written: list[str]):  # type: ignore[no-untyped-def]
    def write_all(repo: Repository, items: list[tuple[int, list[Placement], str]]) -> None:
        from corral.services.allocations import ConsumerWrite, write_in

        write_in(repo, [ConsumerWrite(p.consumer, p.allocations, "p", "u", generation=None)
                        for _i, placed, _d in items for p in placed])
        written.extend(p.host for _i, placed, _d in items for p in placed)
    return write_all


def test_a_batch_places_each_job_seeing_the_ones_before(store: Store,
                                                        scheduler: Scheduler) -> None:
    group = group_svc.create_server_group(store, name="g", policy="anti-affinity",
                                          project_id="p", user_id="u")
    written: list[str] = []
    jobs = [(_ask(store, group.id), [f"00000000-0000-4000-8000-00000000000{i}"])
            for i in range(4)]
    results = scheduler.schedule_many(jobs, _recorder(written))
    placed = [r for r in results if not isinstance(r, s.NoValidHost)]
    refused = [r for r in results if isinstance(r, s.NoValidHost)]
    # three hosts, one member each: the fourth is refused, in the same batch
    assert len(placed) == 3 and len(refused) == 1
    assert sorted(written) == ["cn1", "cn2", "cn3"]
    assert refused[0].explanation["constraint"] == "group_policy"
    assert len({r.decision_id for r in placed}) == 3  # one decision each


def test_a_batch_never_exceeds_capacity(store: Store, scheduler: Scheduler) -> None:
    written: list[str] = []
    jobs = [(_ask(store), [f"00000000-0000-4000-8000-0000000000{i:02d}"]) for i in range(11)]
    results = scheduler.schedule_many(jobs, _recorder(written))
    assert sum(not isinstance(r, s.NoValidHost) for r in results) == 9
    assert Counter(written) == {"cn1": 3, "cn2": 3, "cn3": 3}
    assert all(isinstance(r, s.NoValidHost) for r in results[9:])


def test_a_batch_that_loses_a_race_is_scheduled_again_one_by_one(
        store: Store, scheduler: Scheduler) -> None:
    written: list[str] = []
    inner = _recorder(written)
    calls: list[int] = []

    def flaky(repo: Repository, items: list[tuple[int, list[Placement], str]]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            raise errors.InsufficientCapacity("x", "MEMORY_MB", 1, 0, 0)
        inner(repo, items)

    jobs = [(_ask(store), [f"00000000-0000-4000-8000-00000000010{i}"]) for i in range(3)]
    results = scheduler.schedule_many(jobs, flaky)
    assert not any(isinstance(r, s.NoValidHost) for r in results)
    assert calls == [3, 1, 1, 1]  # the batch, then each alone
    assert len(written) == 3


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
    listed = svc.list_instances(store)
    assert sorted(i.id for i in listed) == sorted(i.id for i in booted)


def test_old_decisions_are_pruned_as_new_ones_are_written(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from corral.persistence.clock import utcnow
    from corral.services import scheduler as scheduler_module

    settings = Settings(data_dir=str(tmp_path), decision_retention_hours=1)
    host_svc.report_host(store, settings, "cn1", HostReport(vcpus=4, memory_mb=8192,
                                                            disk_gb=10))
    flavor_svc.create_flavor(store, name="m1", vcpus=1, ram_mb=512, disk_gb=1)
    sched = Scheduler(store, settings, CandidateFinder(store))
    old = svc.boot(store, sched, svc.BootRequest(name="a", flavor="m1", project_id="p",
                                                 user_id="u"))
    with store.write() as repo:  # pretend it was decided two hours ago
        repo.update_decision(old.decision_id, {"created_at": utcnow() - timedelta(hours=2)})
    monkeypatch.setattr(scheduler_module, "PRUNE_EVERY", 1)
    new = svc.boot(store, sched, svc.BootRequest(name="b", flavor="m1", project_id="p",
                                                 user_id="u"))
    assert [d["id"] for d in svc.list_decisions(store)] == [new.decision_id]


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
