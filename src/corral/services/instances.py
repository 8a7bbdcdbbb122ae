"""Instances: boot and delete (moves are in services/moves.py, build reports in
services/builds.py, reads in services/instance_reads.py, decisions in
services/decision_log.py).

An instance is the Placement consumer of its allocations (consumer type INSTANCE).
States (docs/scheduler.md):

    boot ──> building ──report ok──> active ──resize/migrate──> verify_resize
                │  └─report failed──> building (next alternate)      │  confirm: active
                └─ no alternate left / max_attempts ──> error        │  revert:  active
    any state ──delete──> deleted (allocations given back)

A boot is a pick and a claim: the scheduler decides where the instances go, and the
claim (services/claims.py) writes, in one transaction, their allocations, the quota
ledger, the instance rows, the idempotency key and the decision record, deciding again
when it loses a race. Every change is one transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog

from corral.domain import errors, quotas
from corral.domain import events as ev
from corral.domain import flavors as flavor_rules
from corral.domain import scheduling as s
from corral.domain.flavors import MAX_LENGTH, Flavor, ServerGroup
from corral.domain.names import normalize_uuid
from corral.domain.scheduling import Instance
from corral.persistence.clock import utcnow
from corral.scheduler.records import DecisionRecord
from corral.scheduler.runner import Ask
from corral.services import claims, events, idempotency, instance_events
from corral.services import server_groups as group_svc
from corral.services.allocations import ConsumerWrite, write_in
from corral.services.claim_writes import BootClaim
from corral.services.instance_reads import live_instance, to_instances
from corral.services.scheduler import Scheduler
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.instances")


@dataclass(frozen=True)
class BootRequest:
    name: str
    flavor: str
    project_id: str
    user_id: str
    availability_zone: str | None = None
    server_group: str | None = None
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    count: int = 1
    dry_run: bool = False
    any_flavor: bool = False
    """Admins may boot flavors not shared with the project."""
    idempotency_key: str | None = None
    """A client-chosen key: a retry with the same key and request replays the answer."""
    caller_project: str | None = None
    """The project of the caller (None: a caller with none): the scope of its keys."""

    def fingerprint(self) -> str:
        """What identifies the request as sent, for a key's replay (sha256 hex)."""
        fields = {"name": self.name, "flavor": self.flavor, "project_id": self.project_id,
                  "user_id": self.user_id, "availability_zone": self.availability_zone,
                  "server_group": self.server_group, "same_host": list(self.same_host),
                  "different_host": list(self.different_host), "count": self.count}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class BootResult:
    instances: list[Instance]
    decision_id: str
    record: DecisionRecord | None = None
    """The decision's record (None for an answer replayed for an idempotency key)."""
    replayed: bool = False
    """The answer of an earlier call with the same idempotency key (nothing booted now)."""


# -- boot --------------------------------------------------------------------------------------

def boot(store: Store, scheduler: Scheduler, req: BootRequest) -> BootResult:
    """Place and claim ``req.count`` instances (or, dry run, say where they would go).

    Raises:
        InvalidInput: a bad field (named).
        FlavorNotFound, ServerGroupNotFound: not found or not visible to the project.
        NoValidHost: no host can take them (recorded; carries the explanation).
        QuotaExceeded: the project (or an ancestor) would go past a limit.
    """
    _check_request(req)
    key = _key_of(req, scheduler)
    if key is not None:
        replayed = _replay(store, req, key)
        if replayed is not None:
            return replayed
    flavor, group = _named(store, scheduler, req)
    ask = Ask(flavor=flavor, project_id=req.project_id, user_id=req.user_id,
              zone=req.availability_zone, group=group, same_host=req.same_host,
              different_host=req.different_host, count=req.count)
    consumers = [str(uuidlib.uuid4()) for _ in range(req.count)]
    what = BootClaim(name=req.name, project_id=req.project_id, user_id=req.user_id,
                     availability_zone=req.availability_zone, flavor=flavor,
                     flavor_snapshot=json.dumps(flavor_rules.snapshot(flavor)), group=group,
                     key=key)
    if req.dry_run:
        # The whole claim, quotas and group limits included, rolled back: a dry run
        # answers what the boot would (docs/scheduler.md).
        outcome = claims.rehearse(scheduler, ask, consumers, what, kind="boot")
        return BootResult([], outcome.decision_id, outcome.record)
    try:
        outcome = claims.claim_boot(scheduler, ask, consumers, what)
    except errors.IdempotencyKeyTaken:
        # A call with the same key committed while this one was deciding: this boot
        # was rolled back; answer what that one answered.
        replayed = _replay(store, req, key) if key is not None else None
        if replayed is None:
            raise
        return replayed
    log.debug("instances_booted", instances=[i.id for i in outcome.instances],
              hosts=[i.host for i in outcome.instances], project=req.project_id)
    return BootResult(outcome.instances, outcome.decision_id, outcome.record)


def _key_of(req: BootRequest, scheduler: Scheduler) -> idempotency.Key | None:
    """The boot's idempotency key (None: none, or a dry run, which stores nothing)."""
    if req.idempotency_key is None or req.dry_run:
        return None
    return idempotency.Key(
        scope=req.caller_project or "", key=req.idempotency_key,
        fingerprint=req.fingerprint(),
        retention=timedelta(hours=scheduler.settings.idempotency_key_retention_hours))


def _replay(store: Store, req: BootRequest, key: idempotency.Key) -> BootResult | None:
    found = idempotency.replay(store, key)
    if found is None:
        return None
    log.info("boot_replayed", key=key.key, project=req.project_id)
    instances, decision_id = found
    return BootResult(instances, decision_id, replayed=True)


def _named(store: Store, scheduler: Scheduler, req: BootRequest
           ) -> tuple[Flavor, ServerGroup | None]:
    """The boot's flavor and server group. What the request names (zone, group, hinted
    instances) is checked before any scheduling: a wrong name is the caller's mistake
    (400/404 naming the field), never a "no valid host"."""
    visible_to = None if req.any_flavor else req.project_id
    named = (req.server_group is not None or req.availability_zone is not None
             or bool(req.same_host) or bool(req.different_host))
    flavor = (None if named else
              scheduler.flavors.cached(store, req.flavor, project_id=visible_to))
    if flavor is not None:
        return flavor, None
    with store.read() as repo:
        flavor = _flavor_named(scheduler, repo, req.flavor, visible_to)
        _check_names(repo, req, visible_to)
        group = (_group_named(repo, req.server_group, req.project_id)
                 if req.server_group is not None else None)
    return flavor, group


def _flavor_named(scheduler: Scheduler, repo: Repo, ref: str,
                  visible_to: str | None) -> Flavor:
    try:
        return scheduler.flavors.get(repo, ref, project_id=visible_to)
    except errors.FlavorNotFound as exc:
        exc.field = "flavor"
        raise


def _group_named(repo: Repo, ref: str, project_id: str) -> ServerGroup:
    """The boot's group, by id or name, among the boot project's groups."""
    try:
        return group_svc.server_group_named(repo, ref, project_id=project_id)
    except (errors.ServerGroupNotFound, errors.AmbiguousName) as exc:
        exc.field = "server_group"
        raise


def _check_names(repo: Repo, req: BootRequest, visible_to: str | None) -> None:
    """The zone must exist; hinted instances must be live (and, for a project's caller,
    its own)."""
    if req.availability_zone is not None:
        zones = repo.availability_zones()
        if req.availability_zone not in zones:
            raise errors.UnknownAvailabilityZone(req.availability_zone, zones)
    for hint in ("same_host", "different_host"):
        wanted: tuple[str, ...] = getattr(req, hint)
        found = repo.live_instance_projects(wanted)
        for uuid in wanted:
            if uuid not in found or (visible_to is not None and found[uuid] != visible_to):
                raise errors.InvalidInput(f"{hint} names instance {uuid}, which does not "
                                          "exist (or is deleted)", field=f"hints.{hint}")


def _check_request(req: BootRequest) -> None:
    if not 1 <= len(req.name) <= MAX_LENGTH:
        raise errors.InvalidInput(f"name must be 1 to {MAX_LENGTH} characters", field="name")
    if not 1 <= req.count <= s.MAX_COUNT:
        raise errors.InvalidInput(f"count must be from 1 to {s.MAX_COUNT} (got {req.count})",
                                  field="count")
    for name, value in (("project_id", req.project_id), ("user_id", req.user_id)):
        if not 1 <= len(value) <= MAX_LENGTH:
            raise errors.InvalidInput(f"{name} must be 1 to {MAX_LENGTH} characters",
                                      field=name)
    key = req.idempotency_key
    if key is not None and not (1 <= len(key) <= idempotency.MAX_IDEMPOTENCY_KEY
                                and all(" " <= c <= "~" for c in key)):
        raise errors.InvalidInput(f"Idempotency-Key must be 1 to {idempotency.MAX_IDEMPOTENCY_KEY} "
                                  "printable ASCII characters", field="Idempotency-Key")
    if req.availability_zone is not None and not req.availability_zone.strip():
        raise errors.InvalidInput("availability_zone must not be blank",
                                  field="availability_zone")
    for hint in ("same_host", "different_host"):
        values: tuple[str, ...] = getattr(req, hint)
        if len(values) > s.MAX_HINT_INSTANCES:
            raise errors.InvalidInput(f"at most {s.MAX_HINT_INSTANCES} instances in {hint}",
                                      field=f"hints.{hint}")
        for value in values:
            if normalize_uuid(value) is None:
                raise errors.InvalidInput(f"{value!r} is not an instance UUID",
                                          field=f"hints.{hint}")



# -- delete --------------------------------------------------------------------------------------

def delete_instance(store: Store, uuid: str, *, project_id: str | None = None) -> None:
    """Give back everything the instance (and a migration in progress) holds."""
    with store.write() as repo:
        row = live_instance(repo, uuid, project_id, for_update=True)
        writes = [ConsumerWrite(row.uuid, {})]
        if row.state == s.VERIFY_RESIZE and row.migration_uuid is not None:
            writes.append(ConsumerWrite(row.migration_uuid, {}))
        write_in(repo, writes, usage={(row.project_id, quotas.INSTANCES): -1})
        now = utcnow()
        repo.update_instance(row.uuid, {"state": s.DELETED, "deleted_at": now,
                                        "new_flavor_id": None, "new_flavor": None,
                                        "source_host_id": None})
        gone = replace(to_instances(repo, [row])[0], state=s.DELETED)
        events.write(repo, [instance_events.event(
            ev.INSTANCE_DELETE_END, gone, instance_events.flavor_of(row.flavor), at=now,
            resources={})])
    log.info("instance_deleted", instance=row.uuid, project=row.project_id)
