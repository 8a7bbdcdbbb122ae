"""What each kind of claim writes, inside the claim's transaction (services/claims.py).

A claim is a typed value saying what a decision's placements become:

- :class:`BootClaim`: new instances, one per placement, their allocations (new
  consumers of type INSTANCE), the project's instance count and the group's members in
  the quota ledger, and the boot's idempotency key;
- :class:`MoveClaim` (resize, migrate): the instance's allocations move to the
  destination, its source allocations to a new migration consumer (type MIGRATION)
  that confirm deletes and revert moves back;
- :class:`RescheduleClaim` (a failed build): the instance's allocations move to the
  next alternate.

:func:`write` dispatches them; the boots of a batch are written together (one
allocation write, one insert).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from corral.domain import events as ev
from corral.domain import quotas
from corral.domain import scheduling as s
from corral.domain.flavors import Flavor, ServerGroup, resources_of, snapshot
from corral.domain.instances import InstanceRow, NewInstance
from corral.domain.scheduling import Instance
from corral.persistence.clock import utcnow
from corral.services import decision_log, events, idempotency, instance_events, ledger
from corral.services.allocations import UNCHECKED, ConsumerWrite, write_in
from corral.services.instance_reads import (
    INSTANCE_TYPE,
    MIGRATION_TYPE,
    allocations_of,
    live_instance,
    to_instance,
    to_instances,
)
from corral.services.scheduler import Decision
from corral.services.stores import Repo


@dataclass(frozen=True)
class BootClaim:
    """New instances named ``name`` (``name-1``.. when several), one per placement."""

    name: str
    project_id: str
    user_id: str
    availability_zone: str | None
    """The zone the boot asked for."""
    flavor: Flavor
    flavor_snapshot: str
    """``flavor`` as stored with the instances (JSON of domain/flavors.snapshot)."""
    group: ServerGroup | None
    key: idempotency.Key | None
    """Stored with the instances (a keyed boot that is not a dry run)."""


@dataclass(frozen=True)
class MoveClaim:
    """The active instance ``instance`` moves to the placement (resize or migrate)."""

    instance: str
    kind: str
    """resize | migrate"""
    flavor: Flavor | None
    """A resize's new flavor (None: a migration, which keeps the flavor)."""


@dataclass(frozen=True)
class RescheduleClaim:
    """The building instance ``instance`` moves to the alternate placed."""

    instance: str
    attempts: int
    """Build attempts once moved."""
    alternates: tuple[str, ...]
    """The alternates left after this one."""
    fault: str | None
    """Why the last build failed."""


Claim = BootClaim | MoveClaim | RescheduleClaim


def write(repo: Repo, claimed: Sequence[tuple[Claim, Decision]]) -> list[list[Instance]]:
    """Write every claim with its decision's placements in ``repo``'s transaction;
    returns, per claim, the instances it booted (none for a move)."""
    boots = [(c, d) for c, d in claimed if isinstance(c, BootClaim)]
    booted = iter(_write_boots(repo, boots) if boots else [])
    out: list[list[Instance]] = []
    for claim, decision in claimed:
        if isinstance(claim, BootClaim):
            out.append(next(booted))
            continue
        if isinstance(claim, MoveClaim):
            _write_move(repo, claim, decision)
        else:
            _write_reschedule(repo, claim, decision)
        out.append([])
    return out


def _write_boots(repo: Repo, boots: Sequence[tuple[BootClaim, Decision]]
                 ) -> list[list[Instance]]:
    """Every boot of a batch: one allocation write (with the ledger), one insert."""
    writes: list[ConsumerWrite] = []
    rows: list[NewInstance] = []
    booted: dict[tuple[str, str], int] = defaultdict(int)
    joining: dict[tuple[str, str], int] = defaultdict(int)
    for boot, decision in boots:
        placed = decision.placements
        writes.extend(ConsumerWrite(p.consumer, p.allocations, boot.project_id, boot.user_id,
                                    generation=None, consumer_type=INSTANCE_TYPE, fresh=True)
                      for p in placed)
        rows.extend(_new_instance(boot, decision, k) for k in range(len(placed)))
        booted[(boot.project_id, quotas.INSTANCES)] += len(placed)
        if boot.group is not None:
            joining[(boot.group.id, boot.group.project_id)] += len(placed)
    write_in(repo, writes, usage=booted, enforce=True)
    ledger.check_group_members(repo, joining)
    stored = {r.uuid: r for r in repo.insert_instances(rows)}
    out = []
    for boot, decision in boots:
        names = {p.host_id: p.host for p in decision.placements}
        zones = {p.host_id: p.zone for p in decision.placements}
        instances = [to_instance(stored[p.consumer], names, zones)
                     for p in decision.placements]
        if boot.key is not None:
            idempotency.remember(repo, boot.key, instances, decision.decision_id)
        out.append(instances)
    at = utcnow()
    events.write(repo, [instance_events.event(ev.INSTANCE_CREATE_START, i, boot.flavor, at=at,
                                              resources=held)
                        for (boot, _d), instances in zip(boots, out, strict=True)
                        for held in [resources_of(boot.flavor)] for i in instances])
    return out


def _new_instance(boot: BootClaim, decision: Decision, k: int) -> NewInstance:
    p = decision.placements[k]
    many = len(decision.placements) > 1
    return NewInstance(
        uuid=p.consumer, name=f"{boot.name}-{k + 1}" if many else boot.name,
        project_id=boot.project_id, user_id=boot.user_id, flavor_id=boot.flavor.id,
        flavor=boot.flavor_snapshot, state=s.BUILDING, host_id=p.host_id,
        availability_zone=boot.availability_zone,
        server_group_uuid=boot.group.id if boot.group else None, attempts=1,
        alternates=tuple(p.alternates), decision_uuid=decision.decision_id)


def _write_move(repo: Repo, move: MoveClaim, decision: Decision) -> None:
    """The destination is claimed before the source is given up: the source allocations
    go to a migration consumer, the instance's to the destination."""
    current = live_instance(repo, move.instance, None, for_update=True)
    if current.state != s.ACTIVE:
        raise s.InvalidState(move.instance, current.state, move.kind, (s.ACTIVE,))
    migration = str(uuidlib.uuid4())
    held = allocations_of(repo, move.instance)
    destination = decision.placements[0]
    write_in(repo, [
        ConsumerWrite(migration, held, current.project_id, current.user_id, generation=None,
                      consumer_type=MIGRATION_TYPE, fresh=True),
        ConsumerWrite(move.instance, destination.allocations, generation=UNCHECKED)],
        enforce=True)
    repo.update_instance(move.instance, {
        "state": s.VERIFY_RESIZE, "host_id": destination.host_id,
        "source_host_id": current.host_id, "migration_uuid": migration,
        "new_flavor_id": move.flavor.id if move.flavor else None,
        "new_flavor": json.dumps(snapshot(move.flavor)) if move.flavor else None,
        "decision_uuid": decision.decision_id})
    _moved_event(repo, move, current, destination.allocations)


def _moved_event(repo: Repo, move: MoveClaim, before: InstanceRow,
                 held: dict[str, dict[str, int]]) -> None:
    """instance.resize.end / instance.migrate.end: where it was and held, where it is."""
    old = instance_events.flavor_of(before.flavor)
    new = move.flavor or old
    at = utcnow()
    moved = to_instances(repo, [live_instance(repo, move.instance, None)])[0]
    resources = instance_events.summed(held)
    source_host, source_zone = instance_events.where(repo, before.host_id)
    events.write(repo, [instance_events.event(
        ev.MOVE_EVENTS[(move.kind, "claim")], moved, new, at=at, resources=resources,
        before=instance_events.side(source_host, source_zone, old),
        after=instance_events.side(moved.host, moved.availability_zone, new, resources))])


def _write_reschedule(repo: Repo, retry: RescheduleClaim, decision: Decision) -> None:
    current = live_instance(repo, retry.instance, None, for_update=True)
    if current.state != s.BUILDING:
        raise s.InvalidState(retry.instance, current.state, "reschedule", (s.BUILDING,))
    p = decision.placements[0]
    write_in(repo, [ConsumerWrite(retry.instance, p.allocations, generation=UNCHECKED)],
             enforce=True)
    repo.update_instance(retry.instance, {"host_id": p.host_id, "attempts": retry.attempts,
                                          "alternates": json.dumps(list(retry.alternates)),
                                          "fault": retry.fault})
    decision_log.append_attempt(repo, current.decision_uuid, {
        "instance": retry.instance, "host": p.host, "result": "rescheduled",
        "decision": decision.decision_id, "message": None})
    failed_host, _zone = instance_events.where(repo, current.host_id)
    moved = to_instances(repo, [live_instance(repo, retry.instance, None)])[0]
    events.write(repo, [instance_events.event(
        ev.INSTANCE_CREATE_ERROR, moved, instance_events.flavor_of(current.flavor),
        resources=instance_events.summed(p.allocations), fault=retry.fault, failed_host=failed_host,
        allocations="moved")])
