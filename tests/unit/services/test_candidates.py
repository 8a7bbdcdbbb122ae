"""The engine follows the provider change feed: other writers' changes show up on the
next refresh, including a change whose transaction commits after a later one; the full
check catches what the feed missed, in the background, without holding the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert, update

from corral.domain.capacity import Inventory
from corral.engine.request import CandidateRequest, RequestGroup
from corral.persistence import Store, make_store, tables
from corral.persistence.clock import utcnow
from corral.services import candidates, engine_check
from corral.services import providers as svc
from corral.services.allocations import ConsumerWrite, write_allocations, write_in
from corral.services.candidates import CandidateFinder


def _generation(finder: CandidateFinder, uuid: str) -> int:
    rec = finder.state.records[finder.state.row_of_uuid[uuid]]
    assert rec is not None
    return rec.generation


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """A second store on the same database: what another corral process holds."""
    s = make_store(store.engine.url.render_as_string(hide_password=False))
    yield s
    s.dispose()


def _vcpus(finder: CandidateFinder, amount: int) -> list[str]:
    """The providers a candidates query for ``amount`` VCPU finds."""
    found = finder.find(CandidateRequest((RequestGroup("", (("VCPU", amount),)),)))
    return sorted(u for r in found.allocation_requests for u in r.allocations)


def _grow_unseen(store: Store, uuid: str, total: int) -> None:
    """Change a provider's VCPU inventory as a writer would, but leave no entry in the
    change feed (the feed missed it: only the full check can find it)."""
    rp, inv, feed = tables.resource_providers, tables.inventories, tables.provider_changes
    pid = svc.get_provider(store, uuid).id
    with store.engine.begin() as conn:
        conn.execute(update(inv).where(inv.c.resource_provider_id == pid).values(total=total))
        conn.execute(update(rp).where(rp.c.id == pid).values(generation=rp.c.generation + 1))
        conn.execute(delete(feed).where(feed.c.provider_id == pid))


def _with_vcpus(store: Store, name: str, total: int) -> str:
    p = svc.create_provider(store, name=name)
    svc.set_inventories(store, p.uuid, p.generation, {"VCPU": Inventory(total)},
                        reserved_may_equal_total=False)
    return p.uuid


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_changes_made_through_another_store_appear_in_this_ones_engine(
        store: Store, other: Store) -> None:
    a = _with_vcpus(store, "a", 4)
    finder = CandidateFinder(store)
    assert _vcpus(finder, 4) == [a]
    b = _with_vcpus(other, "b", 8)  # another process creates, claims and deletes
    assert _vcpus(finder, 4) == sorted([a, b])
    write_allocations(other, [ConsumerWrite("c1", {b: {"VCPU": 6}}, "p", "u")])
    assert _vcpus(finder, 4) == [a]
    svc.delete_provider(other, a)
    assert _vcpus(finder, 1) == [b]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_full_check_catches_a_change_the_feed_missed(store: Store, other: Store) -> None:
    a = _with_vcpus(store, "a", 4)
    finder = CandidateFinder(store)
    assert _vcpus(finder, 8) == []
    _grow_unseen(other, a, 8)
    assert finder.refresh() == 0  # the feed says nothing
    assert _vcpus(finder, 8) == []
    report = finder.check()
    assert (report.reloaded, report.removed) == (1, 0)
    assert _vcpus(finder, 8) == [a]
    assert finder.check().reloaded == 0  # in step again: nothing to reload


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_full_check_due_runs_in_the_background_not_in_the_refresh(
        store: Store, other: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh that finds the full check due starts it and returns: the check reads
    outside the engine's lock and applies what differs once the lock is free."""
    a = _with_vcpus(store, "a", 4)
    finder = CandidateFinder(store)
    finder.refresh()
    _grow_unseen(other, a, 8)
    monkeypatch.setattr(candidates, "RECONCILE_S", 0.0)  # every refresh finds a check due
    monkeypatch.setattr(candidates, "CHECK_SPACING", 0.0)
    with finder.lock:  # as a query or a boot holds it
        with store.read() as repo:
            finder.refresh_in(repo)
        held = finder.state.records[finder.state.row_of_uuid[a]]
        assert held is not None and held.inventories["VCPU"].total == 4  # not waited for
    finder.wait_for_check(timeout=30)
    held = finder.state.records[finder.state.row_of_uuid[a]]
    assert held is not None and held.inventories["VCPU"].total == 8
    assert finder.last_check is not None and finder.last_check.reloaded == 1


def test_a_change_by_another_writer_shows_on_the_next_refresh(store: Store) -> None:
    a = svc.create_provider(store, name="a")
    finder = CandidateFinder(store)
    finder.refresh()
    b = svc.create_provider(store, name="b")  # moves the feed
    assert finder.refresh() == 1
    assert b.uuid in finder.state.row_of_uuid
    assert finder.refresh() == 0  # nothing new: one indexed read, nothing reloaded
    assert _generation(finder, a.uuid) == 0


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_change_committed_after_a_later_one_is_not_missed(store: Store) -> None:
    """PostgreSQL hands out feed ids at insert time: a slow transaction can commit an id
    below one already read. The finder looks for such skipped ids again."""
    a = svc.create_provider(store, name="a")
    b = svc.create_provider(store, name="b")
    finder = CandidateFinder(store)
    finder.refresh()
    rp, feed = tables.resource_providers, tables.provider_changes
    slow = store.engine.connect()
    slow_tx = slow.begin()
    try:
        # the slow writer takes the next feed id first...
        slow.execute(update(rp).where(rp.c.uuid == a.uuid).values(generation=rp.c.generation + 1))
        slow.execute(insert(feed).values(provider_id=svc.get_provider(store, a.uuid).id))
        # ...a fast one takes the one after and commits
        with store.engine.begin() as fast:
            fast.execute(update(rp).where(rp.c.uuid == b.uuid)
                         .values(generation=rp.c.generation + 1))
            fast.execute(insert(feed).values(provider_id=svc.get_provider(store, b.uuid).id))
        assert finder.refresh() == 1  # b, read past a's id, which is not there yet
        assert (_generation(finder, a.uuid), _generation(finder, b.uuid)) == (0, 1)
        assert finder.gaps
        slow_tx.commit()
    finally:
        slow.close()
    assert finder.refresh() == 1  # a's change, found through the skipped id
    assert _generation(finder, a.uuid) == 1
    assert not finder.gaps


def test_own_claims_are_read_past_but_another_writers_are_not(store: Store) -> None:
    """A claim adopted into the engine moves the feed past its own ids without a read;
    a claim by another process in between still shows on the next refresh."""
    a = svc.create_provider(store, name="a")
    svc.set_inventories(store, a.uuid, a.generation, {"VCPU": Inventory(16)},
                        reserved_may_equal_total=False)
    ours, theirs = CandidateFinder(store), CandidateFinder(store)
    ours.refresh()
    theirs.refresh()

    def claim(finder: CandidateFinder, consumer: str) -> int:
        with store.write() as repo:
            write_in(repo, [ConsumerWrite(consumer, {a.uuid: {"VCPU": 2}}, "p", "u")])
            versions = repo.provider_versions_of([svc.get_provider(store, a.uuid).id])
            own = list(repo.logged_changes)
        with finder.lock:
            return finder.adopt({a.uuid: {"VCPU": 2}}, {a.uuid: 1}, versions, own)

    assert claim(ours, "c1") == 1
    assert ours.change_seen == _head(store)  # read past its own change: no query
    assert ours.refresh() == 0
    write_allocations(store, [ConsumerWrite("c2", {a.uuid: {"VCPU": 3}}, "p", "u")])  # theirs
    # theirs moved the provider too: ours is not adopted, and its id follows theirs
    assert claim(ours, "c3") == 0
    assert ours.change_seen < _head(store)
    ours.refresh()
    used = ours.state.records[ours.state.row_of_uuid[a.uuid]]
    assert used is not None and used.used["VCPU"] == 2 + 3 + 2
    assert theirs.refresh() == 1


def _head(store: Store) -> int:
    with store.read() as repo:
        return repo.last_provider_change()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_full_check_reads_one_by_one_only_the_ids_whose_sums_moved(
        store: Store, other: Store) -> None:
    """The store and the engine add up their versions per bucket of ids; only a bucket
    that differs is read provider by provider. A change the feed missed, a provider
    deleted behind its back: each found, reading one bucket of the 2,600 providers."""
    rp = tables.resource_providers
    with store.engine.begin() as conn:  # 2,600 providers, ids 1 to 2,600 (six buckets)
        now = utcnow()
        conn.execute(insert(rp), [{"uuid": f"00000000-0000-0000-0000-{i:012d}",
                                   "name": f"rp{i}", "generation": 1, "created_at": now,
                                   "updated_at": now} for i in range(2600)])
        conn.execute(update(rp).values(root_provider_id=rp.c.id))
    a = _with_vcpus(store, "a", 4)
    finder = CandidateFinder(store)
    finder.refresh()
    read: list[int] = []
    with store.read() as repo:
        real = type(repo).provider_version_table

    def counted(repo: object, ranges: object = None) -> object:
        table = real(repo, ranges)  # type: ignore[arg-type]
        read.append(len(table))
        return table

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(repo), "provider_version_table", counted)
        assert finder.check().reloaded == 0 and read == []  # in step: no row read
        _grow_unseen(other, a, 8)
        assert (finder.check().reloaded, read) == (1, [42])  # a's bucket: ids 2,560-2,601
        assert _vcpus(finder, 8) == [a]
        with store.engine.begin() as conn:  # deleted behind the feed's back
            conn.execute(delete(rp).where(rp.c.name == "rp5"))
        report = finder.check()
        assert (report.reloaded, report.removed) == (0, 1)
        assert read[-1] == engine_check.BUCKET - 2  # the bucket of ids 0-511, less two
