"""Claims: writing, moving and deleting the allocations of consumers, atomically.

One call is one transaction. It locks every provider it touches (what the consumers
hold now and what they will hold), drops the consumers' current allocations, checks
every new amount against capacity counted *after* that drop and under the lock, writes
the new rows, and moves the generations of the consumers and of the providers Placement
moves (those written to; see ``_generation_steps``), marking every other one it touched
changed so engines reload it. Two claims racing for the last unit therefore serialise
on the provider lock: exactly one fits, the other is refused with InsufficientCapacity.
Nothing is half-written.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from corral.domain import capacity, codes, errors, quotas
from corral.domain.capacity import Inventory
from corral.domain.model import ConsumerRow, LockedProvider
from corral.services import allocation_events, ledger
from corral.services.allocation_reads import (  # re-exported: callers read them here
    ConsumerAllocations as ConsumerAllocations,
)
from corral.services.allocation_reads import get_consumer_allocations as get_consumer_allocations
from corral.services.allocation_reads import project_usages as project_usages
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.allocations")

#: How often a write without a consumer generation is retried after losing a race.
RETRIES = 10

#: Owner recorded for consumers written by clients older than microversion 1.8.
INCOMPLETE_CONSUMER = "00000000-0000-0000-0000-000000000000"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "The request did not carry a consumer generation" (before microversion 1.28).
UNCHECKED = _Unset()


@dataclass(frozen=True)
class ConsumerWrite:
    """What one consumer should hold when the call returns.

    ``generation``: the consumer generation the caller saw (None: a new consumer), or
    UNCHECKED for clients that predate consumer generations. ``consumer_type`` None
    keeps the existing type (clients before 1.38).
    """

    consumer: str
    allocations: dict[str, dict[str, int]]
    project_id: str | None = None
    user_id: str | None = None
    generation: int | None | _Unset = UNCHECKED
    consumer_type: str | None = None
    fresh: bool = False
    """The caller made the uuid up just now (a new instance): it is not looked up, and
    should it exist after all, the insert's unique uuid refuses it as a conflict."""


@dataclass(frozen=True)
class InventoryChange:
    """A provider's whole new inventory in a reshape, with the generation the caller saw."""

    generation: int
    inventories: dict[str, Inventory]
    reserved_may_equal_total: bool = True


def write_allocations(store: Store, writes: Sequence[ConsumerWrite]) -> None:
    """Make each consumer hold exactly its ``allocations``; all or nothing.

    Raises:
        ConsumerGenerationConflict: a consumer generation was stale.
        InvalidInput: a provider or resource class in the request does not exist.
        InvalidAllocation: an amount breaks min_unit/max_unit/step_size, or the
            provider has no inventory of that class.
        InsufficientCapacity: an amount does not fit in what is free.
    """
    # Clients that predate consumer generations cannot resolve a consumer conflict
    # themselves, so a race with another writer of the same consumer is retried here
    # (from scratch: nothing of the failed attempt survives its rollback).
    retries = RETRIES if all(isinstance(w.generation, _Unset) for w in writes) else 0
    for attempt in range(retries + 1):
        try:
            with store.write() as repo:
                _write_told(repo, writes, {})
            _logged(writes, {})
            return
        except (errors.ConsumerGenerationConflict, errors.ConcurrentUpdate):
            if attempt == retries:
                raise
            log.info("allocation_write_retried", attempt=attempt + 1)


def _write_told(repo: Repo, writes: Sequence[ConsumerWrite],
                inventories: Mapping[str, InventoryChange]) -> None:
    """A Placement API write, with its allocation.* events (services/allocation_events.py)."""
    emptied = allocation_events.holding(repo, [w.consumer for w in writes if not w.allocations])
    write_in(repo, writes, inventories)
    allocation_events.written(repo, [w.consumer for w in writes], emptied)


def write_in(repo: Repo, writes: Sequence[ConsumerWrite],
           inventories: Mapping[str, InventoryChange] | None = None, *,
           usage: Mapping[tuple[str, str], int] | None = None, enforce: bool = False) -> None:
    """The body of :func:`write_allocations` (and of a reshape) inside the caller's
    transaction, for callers that write more in the same transaction (instances).

    The quota ledger moves with the allocations (see ``services/ledger.py``), plus
    ``usage`` ((project, resource) -> amount: an instance's count); ``enforce`` refuses
    a move past a limit with QuotaExceeded (the instance API's claims; Placement's own
    API records usage but does not enforce quotas, as Placement does not).
    """
    consumers = _lock_consumers(repo, writes)
    inventories = inventories or {}
    wanted = {rp for w in writes for rp in w.allocations}
    locked = _lock_providers(repo, consumers, wanted, inventories)
    class_ids = _class_ids(repo, writes)
    steps = _generation_steps(repo, writes, consumers, inventories, locked)  # before the drop
    ids = [locked[u].id for u in wanted]
    before = repo.usages(ids)
    held_by = [c.id for c in consumers.values() if c is not None]
    moved: dict[tuple[str, str], int] = defaultdict(int, usage or {})
    if held_by:
        was = repo.allocated_by_consumer(held_by)
        for c in consumers.values():
            if c is not None:
                for rc, amount in was.get(c.id, {}).items():
                    moved[(c.project, quotas.resource_of_class(rc))] -= amount
        repo.delete_allocations(held_by)
    removed = _reshape_all(repo, inventories, locked)
    # Usage moves only when something was dropped above (new consumers drop nothing).
    usages = repo.usages(ids) if held_by or inventories else before
    _check_fits(repo, writes, locked, ids, before, usages, removed)
    _write_rows(repo, writes, consumers, locked, class_ids, moved)
    repo.bump_provider_generations(locked.values(), steps)
    ledger.charge(repo, moved, enforce=enforce)


def _lock_consumers(repo: Repo, writes: Sequence[ConsumerWrite]
                    ) -> dict[str, ConsumerRow | None]:
    """Lock the consumers and check the generations their writers saw; {uuid: its row}."""
    # Lock the consumers first (then, below, their providers): what a consumer holds and
    # its generation cannot change under us once we have read them. Lock order is always
    # consumers then providers, each sorted, so claims never deadlock.
    repo.lock_consumers(w.consumer for w in writes if not w.fresh)
    consumers = {}
    for w in writes:
        existing = None if w.fresh else repo.get_consumer(w.consumer)
        if not isinstance(w.generation, _Unset):
            current = existing.generation if existing else None
            if w.generation != current:
                seen = "null" if w.generation is None else str(w.generation)
                raise errors.ConsumerGenerationConflict(w.consumer, current, seen)
        consumers[w.consumer] = existing
    return consumers


def _lock_providers(repo: Repo, consumers: Mapping[str, ConsumerRow | None],
                    wanted: set[str], inventories: Mapping[str, InventoryChange]
                    ) -> dict[str, LockedProvider]:
    """Lock every provider the consumers hold now or will hold, and those reshaped."""
    held = repo.consumer_provider_uuids(c.id for c in consumers.values() if c is not None)
    locked = repo.lock_providers(held | wanted | set(inventories))
    missing = sorted(set(inventories) - set(locked))
    if missing:
        # As Placement: a 400 that carries the provider-not-found code.
        error = errors.InvalidInput(
            f"Resource provider {missing[0]} in inventories not found.", field="inventories")
        error.code = codes.PROVIDER_NOT_FOUND
        raise error
    missing = sorted(wanted - set(locked))
    if missing:
        raise errors.InvalidInput(
            f"Allocation for resource provider '{missing[0]}' that does not exist.",
            field="allocations")
    return locked


def _class_ids(repo: Repo, writes: Sequence[ConsumerWrite]) -> dict[str, int]:
    classes = {rc for w in writes for res in w.allocations.values() for rc in res}
    class_ids = repo.resource_class_ids(classes)
    unknown = sorted(classes - set(class_ids))
    if unknown:
        raise errors.UnknownResourceClass(unknown[0], " in allocations")
    return class_ids


def _reshape_all(repo: Repo, inventories: Mapping[str, InventoryChange],
                 locked: Mapping[str, LockedProvider]) -> set[tuple[str, str]]:
    """Replace the reshaped inventories; returns the (provider, class) pairs taken away."""
    # Classes a reshape takes away from a provider: allocating one of them in the same
    # request is the removal of an inventory in use (as Placement, which claims against
    # the union of old and new inventories before removing what the request dropped).
    before_inv = repo.inventories(locked[u].id for u in inventories) if inventories else {}
    removed = {(u, rc) for u, change in inventories.items()
               for rc in before_inv[locked[u].id] if rc not in change.inventories}
    for rp_uuid, change in sorted(inventories.items()):
        _reshape_inventory(repo, locked[rp_uuid], change)
    return removed


def _check_fits(repo: Repo, writes: Sequence[ConsumerWrite],
                locked: Mapping[str, LockedProvider], ids: list[int],
                before: Mapping[int, Mapping[str, int]], usages: Mapping[int, Mapping[str, int]],
                removed: set[tuple[str, str]]) -> None:
    """Every amount asked against the providers' units and capacity (under their locks)."""
    current_inv = repo.inventories(ids)
    asked: dict[tuple[str, str], int] = defaultdict(int)
    for w in writes:
        for rp_uuid, resources in w.allocations.items():
            inv_of = current_inv[locked[rp_uuid].id]
            for rc, amount in resources.items():
                if (rp_uuid, rc) in removed:
                    raise errors.InventoryInUse(rp_uuid, rc, amount)
                if rc not in inv_of:
                    raise errors.InvalidAllocation(rp_uuid, rc,
                                                   f"the provider has no {rc} inventory")
                reason = capacity.unit_violation(inv_of[rc], amount)
                if reason:
                    raise errors.InvalidAllocation(rp_uuid, rc, reason)
                asked[(rp_uuid, rc)] += amount
    for (rp_uuid, rc), amount in sorted(asked.items()):
        inv = current_inv[locked[rp_uuid].id][rc]
        used = usages[locked[rp_uuid].id].get(rc, 0)
        # As Placement: a provider already over a lowered capacity may still take a
        # write that shrinks the overage (a consumer giving some back), never one that
        # leaves it larger.
        shrinks = used + amount <= before[locked[rp_uuid].id].get(rc, 0)
        if used + amount > inv.capacity and not shrinks:
            raise errors.InsufficientCapacity(rp_uuid, rc, amount, used, inv.capacity)


def _write_rows(repo: Repo, writes: Sequence[ConsumerWrite],
                consumers: Mapping[str, ConsumerRow | None],
                locked: Mapping[str, LockedProvider], class_ids: Mapping[str, int],
                moved: dict[tuple[str, str], int]) -> None:
    """The consumers and their new allocation rows; what they add goes into ``moved``."""
    ids = _write_consumers(repo, writes, consumers, moved)
    repo.insert_allocations([
        {"resource_provider_id": locked[rp_uuid].id, "consumer_id": ids[w.consumer],
         "resource_class_id": class_ids[rc], "used": amount}
        for w in writes for rp_uuid, resources in w.allocations.items()
        for rc, amount in resources.items()])


def _write_consumers(repo: Repo, writes: Sequence[ConsumerWrite],
                     consumers: Mapping[str, ConsumerRow | None],
                     moved: dict[tuple[str, str], int]) -> dict[str, int]:
    """Create, update or delete each write's consumer; {uuid: id} of those that hold
    allocations. Owners are looked up once per call; the consumers a claim names itself
    (``fresh``: a group commit's boots) are inserted together, in order."""
    @functools.cache
    def once(kind: str, name: str) -> int:
        return {"project": repo.ensure_project, "user": repo.ensure_user,
                "type": repo.ensure_consumer_type}[kind](name)

    together = sum(1 for w in writes if w.fresh and w.allocations) > 1
    created: dict[str, tuple[int, int, int | None]] = {}
    ids: dict[str, int] = {}
    for w in writes:
        consumer = consumers[w.consumer]
        if not w.allocations:
            if consumer is not None:
                repo.delete_consumer(consumer.id)
            continue
        owner = w.project_id or (consumer.project if consumer else INCOMPLETE_CONSUMER)
        project = once("project", owner)
        user = once("user", w.user_id or (consumer.user if consumer else INCOMPLETE_CONSUMER))
        type_id = once("type", w.consumer_type) if w.consumer_type else None
        for rc, amount in (item for res in w.allocations.values() for item in res.items()):
            moved[(owner, quotas.resource_of_class(rc))] += amount
        if consumer is None and w.fresh and together:
            created[w.consumer] = (project, user, type_id)
        elif consumer is None:
            ids[w.consumer] = repo.create_consumer(w.consumer, project, user, type_id)
        else:
            ids[w.consumer] = consumer.id
            repo.update_consumer(consumer, project_id=project, user_id=user, type_id=type_id,
                                 keep_type=w.consumer_type is None)
    return ids | (repo.create_consumers(created) if created else {})


def _generation_steps(repo: Repo, writes: Sequence[ConsumerWrite],
                      consumers: Mapping[str, ConsumerRow | None],
                      inventories: Mapping[str, InventoryChange],
                      locked: Mapping[str, LockedProvider]) -> dict[int, int]:
    """How far each locked provider's generation moves, as Placement moves it.

    A provider written to moves by one, once per call whatever the number of consumers;
    so does every provider a consumer emptied (``{}``) held. A provider a consumer
    merely leaves stays (it is still marked changed). In a reshape, a provider whose
    inventory is replaced moves once more, and once again when the new inventory is not
    empty (Placement writes it in two steps around the allocations).
    """
    steps: dict[int, int] = {}
    for w in writes:
        if w.allocations:
            for rp in w.allocations:
                steps[locked[rp].id] = 1
            continue
        consumer = consumers[w.consumer]
        if consumer is not None:
            for rp in repo.consumer_provider_uuids([consumer.id]):
                steps[locked[rp].id] = 1
    for rp, change in inventories.items():
        pid = locked[rp].id
        steps[pid] = steps.get(pid, 0) + (2 if change.inventories else 1)
    return steps


def _logged(writes: Sequence[ConsumerWrite], inventories: Mapping[str, InventoryChange]) -> None:
    log.info("allocations_written", consumers=[w.consumer for w in writes],
             providers=sorted({rp for w in writes for rp in w.allocations}),
             reshaped=sorted(inventories))


def _reshape_inventory(repo: Repo, locked: LockedProvider, change: InventoryChange) -> None:
    """Replace one provider's inventory inside a reshape (its allocations already dropped)."""
    if change.generation != locked.generation:
        raise errors.ConcurrentUpdate(locked.uuid, change.generation, locked.generation)
    provider = repo.get_provider(locked.uuid)
    for name, record in change.inventories.items():
        problem = capacity.inventory_problem(
            record, reserved_may_equal_total=change.reserved_may_equal_total)
        if problem:
            raise errors.InvalidInventory(locked.uuid, name, problem)
    used = repo.usages([locked.id])[locked.id]
    for name, amount in used.items():
        if amount > 0 and name not in change.inventories:
            raise errors.InventoryInUse(locked.uuid, name, amount)
    repo.replace_inventories(provider, change.inventories)


def reshape(store: Store, inventories: Mapping[str, InventoryChange],
            writes: Sequence[ConsumerWrite]) -> None:
    """Move inventory and allocations together (POST /reshaper), all or nothing.

    The consumers' allocations are dropped first, then every listed provider's
    inventory is replaced (refusing a removed class that other consumers still use),
    then the new allocations are claimed against the new inventory.
    """
    with store.write() as repo:
        _write_told(repo, writes, inventories)
    _logged(writes, inventories)


def delete_consumer_allocations(store: Store, consumer: str) -> None:
    """Drop every allocation of a consumer (DELETE /allocations/{consumer})."""
    with store.write() as repo:
        repo.lock_consumers([consumer])
        row = repo.get_consumer(consumer)
        if row is None or not repo.consumer_allocations(row.id):
            raise errors.ConsumerNotFound(consumer)
        locked = repo.lock_providers(repo.consumer_provider_uuids([row.id]))
        held = repo.allocated_by_consumer([row.id]).get(row.id, {})
        repo.delete_allocations([row.id])
        repo.delete_consumer(row.id)
        # As Placement, a delete moves no generation; the providers are marked changed.
        repo.bump_provider_generations(locked.values(), {})
        given_back: dict[tuple[str, str], int] = defaultdict(int)
        for rc, amount in held.items():
            given_back[(row.project, quotas.resource_of_class(rc))] -= amount
        ledger.charge(repo, given_back, enforce=False)
        allocation_events.deleted(repo, row)
    log.info("allocations_deleted", consumer=consumer)
