"""Resize and migrate: pick a destination, claim it before the source is given up, then
confirm (the source is given back) or revert (back to the source).

A move's claim (services/claim_writes.MoveClaim) moves, in one transaction, the
instance's allocations to the destination and its source allocations to a migration
consumer (type MIGRATION), which confirm deletes and revert moves back.
"""

from __future__ import annotations

import json

import structlog

from corral.domain import errors
from corral.domain import events as ev
from corral.domain import flavors as flavor_rules
from corral.domain import scheduling as s
from corral.domain.flavors import Flavor
from corral.domain.instances import InstanceRow
from corral.domain.scheduling import Instance
from corral.scheduler.runner import Ask
from corral.services import claims, events, instance_events
from corral.services import flavors as flavor_svc
from corral.services import hosts as host_svc
from corral.services.allocations import UNCHECKED, ConsumerWrite, write_in
from corral.services.claim_writes import MoveClaim
from corral.services.instance_events import summed
from corral.services.instance_reads import (
    allocations_of,
    get_instance,
    group_of,
    live_instance,
    to_instances,
)
from corral.services.scheduler import Scheduler
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.instances")


def resize(store: Store, scheduler: Scheduler, uuid: str, flavor: str, *,
           project_id: str | None = None, any_flavor: bool = False) -> Instance:
    """Claim ``flavor`` on a host the scheduler picks; confirm or revert later."""
    return _move(store, scheduler, uuid, kind="resize", flavor_ref=flavor, host=None,
                 project_id=project_id, any_flavor=any_flavor)


def migrate(store: Store, scheduler: Scheduler, uuid: str, *, host: str | None = None) -> Instance:
    """Move to another host (``host``, checked by every filter, or the scheduler's pick)."""
    return _move(store, scheduler, uuid, kind="migrate", flavor_ref=None, host=host,
                 project_id=None, any_flavor=True)


def _move(store: Store, scheduler: Scheduler, uuid: str, *, kind: str, flavor_ref: str | None,
          host: str | None, project_id: str | None, any_flavor: bool) -> Instance:
    with store.read() as repo:
        row = live_instance(repo, uuid, project_id)
        source = (repo.host_names_by_id([row.host_id]).get(row.host_id)
                  if row.host_id is not None else None)
        if host is not None:  # by name or id
            host = host_svc.host_named(repo, host, field="host").name
    if row.state != s.ACTIVE:
        raise s.InvalidState(row.uuid, row.state, kind, (s.ACTIVE,))
    if flavor_ref is None:  # a migration keeps the flavor it has, even if since deleted
        flavor = flavor_rules.from_snapshot(json.loads(row.flavor))
    else:
        try:
            flavor = flavor_svc.get_flavor(store, flavor_ref,
                                           project_id=None if any_flavor else row.project_id)
        except errors.FlavorNotFound as exc:
            exc.field = "flavor"
            raise
    if kind == "resize" and flavor.id == row.flavor_id:
        raise errors.InvalidInput("resize needs a different flavor than the current one",
                                  field="flavor")
    stay = kind == "resize" and scheduler.settings.allow_resize_to_same_host
    ask = Ask(flavor=flavor, project_id=row.project_id, user_id=row.user_id,
              zone=row.availability_zone, group=group_of(store, row), only_host=host,
              moving=row.uuid,
              exclude_hosts=frozenset() if stay or source is None else frozenset([source]))
    what = MoveClaim(row.uuid, kind, flavor if kind == "resize" else None)
    outcome = claims.claim(scheduler, ask, [row.uuid], what, kind=kind, instance=row.uuid)
    log.info(f"instance_{kind}_claimed", instance=row.uuid, source=source,
             destination=outcome.placements[0].host)
    return get_instance(store, row.uuid)


def confirm(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    """Keep the destination: the source allocations are given back."""
    with store.write() as repo:
        row = live_instance(repo, uuid, project_id, for_update=True)
        if row.state != s.VERIFY_RESIZE or row.migration_uuid is None:
            raise s.InvalidState(row.uuid, row.state, "confirm", (s.VERIFY_RESIZE,))
        write_in(repo, [ConsumerWrite(row.migration_uuid, {})])
        repo.update_instance(row.uuid, {
            "state": s.ACTIVE, "flavor_id": row.new_flavor_id or row.flavor_id,
            "flavor": row.new_flavor or row.flavor, "new_flavor_id": None,
            "new_flavor": None, "source_host_id": None})
        _ended(repo, row, "confirm", instance_events.flavor_of(row.new_flavor or row.flavor),
               allocations_of(repo, row.uuid))
    log.info("instance_move_confirmed", instance=row.uuid)
    return get_instance(store, uuid)


def revert(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    """Go back to the source: its allocations return to the instance, the destination's
    are given back, in one move."""
    with store.write() as repo:
        row = live_instance(repo, uuid, project_id, for_update=True)
        if row.state != s.VERIFY_RESIZE or row.migration_uuid is None:
            raise s.InvalidState(row.uuid, row.state, "revert", (s.VERIFY_RESIZE,))
        held = allocations_of(repo, row.migration_uuid)
        write_in(repo, [ConsumerWrite(row.uuid, held, generation=UNCHECKED),
                        ConsumerWrite(row.migration_uuid, {})])
        repo.update_instance(row.uuid, {
            "state": s.ACTIVE, "host_id": row.source_host_id, "new_flavor_id": None,
            "new_flavor": None, "source_host_id": None})
        _ended(repo, row, "revert", instance_events.flavor_of(row.flavor), held)
    log.info("instance_move_reverted", instance=row.uuid)
    return get_instance(store, uuid)


def _ended(repo: Repo, row: InstanceRow, step: str, flavor: Flavor,
           held: dict[str, dict[str, int]]) -> None:
    """The move's confirm or revert event: ``before`` is the verify_resize state (the
    instance's side; the source the migration held is in ``source``), ``after`` what
    the instance is and holds now."""
    pending = instance_events.flavor_of(row.new_flavor or row.flavor)
    dest_host, dest_zone = instance_events.where(repo, row.host_id)
    source_host, source_zone = instance_events.where(repo, row.source_host_id)
    now = to_instances(repo, [live_instance(repo, row.uuid, None)])[0]
    resources = summed(held)
    events.write(repo, [instance_events.event(
        ev.MOVE_EVENTS[(instance_events.move_kind(row), step)], now, flavor,
        resources=resources,
        before=instance_events.side(dest_host, dest_zone, pending),
        source=instance_events.side(source_host, source_zone,
                                    instance_events.flavor_of(row.flavor)),
        after=instance_events.side(now.host, now.availability_zone, flavor, resources))])
