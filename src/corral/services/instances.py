"""Instances: boot, build reports with retries on alternates, resize, migrate, delete.

An instance is the Placement consumer of its allocations (consumer type INSTANCE).
States (docs/scheduler.md):

    boot ──> building ──report ok──> active ──resize/migrate──> verify_resize
                │  └─report failed──> building (next alternate)      │  confirm: active
                └─ no alternate left / max_attempts ──> error        │  revert:  active
    any state ──delete──> deleted (allocations given back)

A resize or migration claims the destination before the source is given up: in one
transaction the instance's allocations move to the destination and its source
allocations move to a migration consumer (type MIGRATION), which confirm deletes and
revert moves back. Every change is one transaction.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from corral.domain import errors, quotas
from corral.domain import flavors as flavor_rules
from corral.domain import scheduling as s
from corral.domain.flavors import MAX_LENGTH, Flavor, ServerGroup
from corral.domain.hosts import HostNotFound
from corral.domain.names import normalize_uuid
from corral.domain.scheduling import Instance
from corral.persistence import Repository, Store
from corral.persistence.clock import utcnow
from corral.scheduler.runner import Ask, Placement
from corral.services import flavors as flavor_svc
from corral.services import hosts as host_svc
from corral.services import ledger
from corral.services import server_groups as group_svc
from corral.services.allocations import UNCHECKED, ConsumerWrite, write_in
from corral.services.batching import Job
from corral.services.scheduler import Outcome, Scheduler

log = structlog.get_logger("corral.instances")

INSTANCE_TYPE = "INSTANCE"
MIGRATION_TYPE = "MIGRATION"


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
    record: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False
    """The answer of an earlier call with the same idempotency key (nothing booted now)."""


#: The longest idempotency key accepted (characters of printable ASCII).
MAX_IDEMPOTENCY_KEY = 255
#: Expired idempotency keys are pruned on about one keyed boot in this many.
PRUNE_KEYS_EVERY = 100
_random = random.Random()


def _result_json(instances: Sequence[Instance], decision_id: str) -> str:
    """A boot's answer as stored for a replay (instances as they were booted)."""
    def plain(i: Instance) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else
                list(v) if isinstance(v, tuple) else v for k, v in asdict(i).items()}

    return json.dumps({"instances": [plain(i) for i in instances], "decision_id": decision_id})


def _result_of(text: str) -> BootResult:
    data = json.loads(text)
    instances = []
    for d in data["instances"]:
        for k in ("created_at", "updated_at", "deleted_at"):
            if d.get(k) is not None:
                d[k] = datetime.fromisoformat(d[k])
        d["alternates"] = tuple(d["alternates"])
        instances.append(Instance(**d))
    return BootResult(instances, data["decision_id"], replayed=True)


def _instance(row: Mapping[str, Any], names: Mapping[int, str],
              zones: Mapping[int, str | None]) -> Instance:
    """``names``/``zones``: {host id: its name / its availability zone}."""
    return Instance(
        id=row["uuid"], name=row["name"], project_id=row["project_id"], user_id=row["user_id"],
        flavor_id=row["flavor_id"], state=row["state"], host=names.get(row["host_id"]),
        availability_zone=zones.get(row["host_id"]),
        requested_availability_zone=row["availability_zone"],
        server_group=row["server_group_uuid"],
        new_flavor_id=row["new_flavor_id"], source_host=names.get(row["source_host_id"]),
        attempts=row["attempts"], alternates=tuple(json.loads(row["alternates"])),
        decision_id=row["decision_uuid"], fault=row["fault"], created_at=row["created_at"],
        updated_at=row["updated_at"], deleted_at=row["deleted_at"])


def _instances(repo: Repository, rows: Sequence[Mapping[str, Any]]) -> list[Instance]:
    names = repo.host_names_by_id([r["host_id"] for r in rows] +
                                  [r["source_host_id"] for r in rows])
    zones_of = repo.zones_of_hosts(r["host_id"] for r in rows if r["host_id"] is not None)
    zones = {host: found[0][0] for host, found in zones_of.items() if found}
    return [_instance(r, names, zones) for r in rows]


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
    if key is not None and not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY
                                and all(" " <= c <= "~" for c in key)):
        raise errors.InvalidInput(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} "
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


def _live_instance(repo: Repository, uuid: str, project_id: str | None,
                   for_update: bool = False) -> dict[str, Any]:
    canonical = normalize_uuid(uuid)
    row = repo.get_instance_row(canonical, for_update=for_update) if canonical else None
    if row is None or row["state"] == s.DELETED or (
            project_id is not None and row["project_id"] != project_id):
        raise s.InstanceNotFound(uuid)
    return row


def _allocations_of(repo: Repository, consumer: str) -> dict[str, dict[str, int]]:
    row = repo.get_consumer(consumer)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if row is not None:
        for rp_uuid, _gen, rc, used in repo.consumer_allocations(row.id):
            out[rp_uuid][rc] = used
    return dict(out)


def _append_attempt(repo: Repository, decision_id: str | None, attempt: dict[str, Any],
                    outcome: str | None = None) -> None:
    """Add an attempt to a decision's record (and maybe change its outcome: only of a
    decision that placed this one instance, not of a boot of several)."""
    if decision_id is None:
        return
    row = repo.get_decision_row(decision_id)
    if row is None:
        return
    record = json.loads(row["record"])
    record.setdefault("attempts", []).append({**attempt, "at": utcnow().isoformat() + "Z"})
    values: dict[str, object] = {"record": json.dumps(record)}
    placed = {p.get("instance") for p in record.get("placements", [])}
    if outcome is not None and placed <= {attempt.get("instance")}:
        record["outcome"] = outcome
        values.update(outcome=outcome, record=json.dumps(record))
    repo.update_decision(decision_id, values)


def _failed_hosts(repo: Repository, decision_id: str | None, uuid: str) -> list[str]:
    """The hosts an instance's build failed on, in order, as its decision recorded them."""
    row = repo.get_decision_row(decision_id) if decision_id else None
    if row is None:
        return []
    return [a["host"] for a in json.loads(row["record"]).get("attempts", [])
            if a.get("instance") == uuid and a.get("result") == "build_failed" and a.get("host")]


# -- boot --------------------------------------------------------------------------------------

class _Booting:
    """A boot request in flight: what its claim writes, and the rows it stored."""

    def __init__(self, req: BootRequest, flavor: Flavor, group: ServerGroup | None,
                 key_retention: timedelta = timedelta(hours=24)) -> None:
        self.req = req
        self.key_retention = key_retention
        self.flavor = flavor
        self.flavor_json = json.dumps(flavor_rules.snapshot(flavor))
        self.group = group
        self.stored: list[dict[str, Any]] = []
        self.names: dict[int, str] = {}
        self.zones: dict[int, str | None] = {}

    def claims(self, placed: list[Placement]) -> list[ConsumerWrite]:
        req = self.req
        return [ConsumerWrite(p.consumer, p.allocations, req.project_id, req.user_id,
                              generation=None, consumer_type=INSTANCE_TYPE, fresh=True)
                for p in placed]

    def rows(self, placed: list[Placement], decision_id: str) -> list[dict[str, Any]]:
        req = self.req
        many = len(placed) > 1
        self.names = {p.host_id: p.host for p in placed}
        self.zones = {p.host_id: p.zone for p in placed}
        return [{
            "uuid": p.consumer, "name": f"{req.name}-{k + 1}" if many else req.name,
            "project_id": req.project_id, "user_id": req.user_id, "flavor_id": self.flavor.id,
            "flavor": self.flavor_json, "new_flavor": None, "state": s.BUILDING,
            "host_id": p.host_id, "availability_zone": req.availability_zone,
            "server_group_uuid": self.group.id if self.group else None, "attempts": 1,
            "alternates": json.dumps(p.alternates), "decision_uuid": decision_id,
            "new_flavor_id": None, "source_host_id": None, "migration_uuid": None,
            "fault": None} for k, p in enumerate(placed)]


def _write_boots(repo: Repository, items: list[tuple[Job, list[Placement], str]]) -> None:
    """Every boot of a batch in the claim's transaction: one allocation write, one insert."""
    writes: list[ConsumerWrite] = []
    rows: list[dict[str, Any]] = []
    for job, placed, decision_id in items:
        booting: _Booting = job.payload
        writes.extend(booting.claims(placed))
        rows.extend(booting.rows(placed, decision_id))
    booted: dict[tuple[str, str], int] = defaultdict(int)
    joining: dict[tuple[str, str], int] = defaultdict(int)
    for job, placed, _decision in items:
        booted[(job.payload.req.project_id, quotas.INSTANCES)] += len(placed)
        if job.payload.group is not None:
            joining[(job.payload.group.id, job.payload.group.project_id)] += len(placed)
    write_in(repo, writes, usage=booted, enforce=True)
    ledger.check_group_members(repo, joining)
    stored = {r["uuid"]: r for r in repo.insert_instances(rows)}
    for job, placed, decision_id in items:
        # A batch that lost a race is written again: only the committed rows count.
        booting = job.payload
        booting.stored = [stored[p.consumer] for p in placed]
        if booting.req.idempotency_key is not None and not booting.req.dry_run:
            _remember(repo, booting, decision_id)


def _key_scope(req: BootRequest) -> str:
    return req.caller_project or ""


def _remember(repo: Repository, booting: _Booting, decision_id: str) -> None:
    """Store a keyed boot's answer in the boot's transaction (IdempotencyKeyTaken when
    another call stored the key first: then nothing of this boot is committed)."""
    req = booting.req
    assert req.idempotency_key is not None
    now = utcnow()
    instances = [_instance(r, booting.names, booting.zones) for r in booting.stored]
    repo.insert_idempotent_response(
        _key_scope(req), req.idempotency_key, fingerprint=req.fingerprint(), status=201,
        response=_result_json(instances, decision_id), now=now,
        expired_before=now - booting.key_retention)
    if _random.random() < 1 / PRUNE_KEYS_EVERY:
        pruned = repo.prune_idempotency_keys(now - booting.key_retention)
        if pruned:
            log.info("idempotency_keys_pruned", keys=pruned)


def _replay(store: Store, req: BootRequest, retention: timedelta) -> BootResult | None:
    """The stored answer of an earlier boot with the request's key, if any.

    Raises:
        IdempotencyKeyReused: the key was used with another request.
    """
    assert req.idempotency_key is not None
    with store.read() as repo:
        found = repo.idempotent_response(_key_scope(req), req.idempotency_key,
                                         since=utcnow() - retention)
    if found is None:
        return None
    if found.fingerprint != req.fingerprint():
        raise errors.IdempotencyKeyReused(req.idempotency_key)
    log.info("boot_replayed", key=req.idempotency_key, project=req.project_id)
    return _result_of(found.response)


def _flavor_named(scheduler: Scheduler, repo: Repository, ref: str,
                  visible_to: str | None) -> Flavor:
    try:
        return scheduler.flavors.get(repo, ref, project_id=visible_to)
    except errors.FlavorNotFound as exc:
        exc.field = "flavor"
        raise


def _group_named(repo: Repository, ref: str, project_id: str) -> ServerGroup:
    """The boot's group, by id or name, among the boot project's groups."""
    try:
        return group_svc.server_group_named(repo, ref, project_id=project_id)
    except (errors.ServerGroupNotFound, errors.AmbiguousName) as exc:
        exc.field = "server_group"
        raise


def _check_names(repo: Repository, req: BootRequest, visible_to: str | None) -> None:
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


def boot(store: Store, scheduler: Scheduler, req: BootRequest) -> BootResult:
    """Place and claim ``req.count`` instances (or, dry run, say where they would go).

    Raises:
        InvalidInput: a bad field (named).
        FlavorNotFound, ServerGroupNotFound: not found or not visible to the project.
        NoValidHost: no host can take them (recorded; carries the explanation).
    """
    _check_request(req)
    keyed = req.idempotency_key is not None and not req.dry_run
    retention = timedelta(hours=scheduler.settings.idempotency_key_retention_hours)
    if keyed:
        replayed = _replay(store, req, retention)
        if replayed is not None:
            return replayed
    group: ServerGroup | None = None
    visible_to = None if req.any_flavor else req.project_id
    # What the request names (zone, group, hinted instances) is checked before any
    # scheduling: a wrong name is the caller's mistake (400/404 naming the field),
    # never a "no valid host".
    named = (req.server_group is not None or req.availability_zone is not None
             or bool(req.same_host) or bool(req.different_host))
    flavor = (None if named else
              scheduler.flavors.cached(store, req.flavor, project_id=visible_to))
    if flavor is None:
        with store.read() as repo:
            flavor = _flavor_named(scheduler, repo, req.flavor, visible_to)
            _check_names(repo, req, visible_to)
            if req.server_group is not None:
                group = _group_named(repo, req.server_group, req.project_id)
    ask = Ask(flavor=flavor, project_id=req.project_id, user_id=req.user_id,
              zone=req.availability_zone, group=group, same_host=req.same_host,
              different_host=req.different_host, count=req.count)
    consumers = [str(uuidlib.uuid4()) for _ in range(req.count)]
    booting = _Booting(req, flavor, group, retention)
    if req.dry_run:
        # The whole claim, quotas and group limits included, rolled back: a dry run
        # answers what the boot would (docs/scheduler.md).
        def rehearse(repo: Repository, placed: list[Placement], decision_id: str) -> None:
            _write_boots(repo, [(Job(ask, consumers, booting), placed, decision_id)])

        outcome = scheduler.schedule(ask, consumers, kind="boot", write=rehearse,
                                     rehearse=True)
        return BootResult([], outcome.decision_id, outcome.record)
    try:
        outcome = scheduler.batcher("boot", _write_boots).submit(ask, consumers, booting)
    except errors.IdempotencyKeyTaken:
        # A call with the same key committed while this one was deciding: this boot
        # was rolled back; answer what that one answered.
        replayed = _replay(store, req, retention)
        if replayed is None:
            raise
        return replayed
    instances = [_instance(r, booting.names, booting.zones) for r in booting.stored]
    log.debug("instances_booted", instances=[i.id for i in instances],
             hosts=[i.host for i in instances], project=req.project_id)
    return BootResult(instances, outcome.decision_id, outcome.record)


# -- reading -------------------------------------------------------------------------------------

def get_instance(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    with store.read() as repo:
        return _instances(repo, [_live_instance(repo, uuid, project_id)])[0]


def list_instances(store: Store, *, project_id: str | None = None, host: str | None = None,
                   state: str | None = None, limit: int | None = None) -> list[Instance]:
    if state is not None and state not in s.STATES:
        raise errors.InvalidInput(f"state must be one of {', '.join(s.STATES)}", field="state")
    with store.read() as repo:
        host_id = None
        if host is not None:
            try:
                host_id = int(host_svc.host_named(repo, host, field="host")["id"])
            except HostNotFound:
                return []
        return _instances(repo, repo.instance_rows(project_id=project_id, host_id=host_id,
                                                   state=state, limit=limit))


def get_decision(store: Store, uuid: str, *, project_id: str | None = None) -> dict[str, Any]:
    """A decision as recorded: {id, kind, outcome, reason, host, elapsed_ms, created_at,
    project_id, instance_id, record}."""
    canonical = normalize_uuid(uuid)
    with store.read() as repo:
        row = repo.get_decision_row(canonical) if canonical else None
    if row is None or (project_id is not None and row["project_id"] != project_id):
        raise s.DecisionNotFound(uuid)
    return {"id": row["uuid"], "kind": row["kind"], "outcome": row["outcome"],
            "reason": row["reason"], "host": row["host"], "elapsed_ms": row["elapsed_ms"],
            "created_at": row["created_at"], "project_id": row["project_id"],
            "instance_id": row["instance_uuid"], "record": json.loads(row["record"])}


def list_decisions(store: Store, *, project_id: str | None = None,
                   instance: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with store.read() as repo:
        also: str | None = None
        if instance is not None:
            instance = normalize_uuid(instance) or instance
            # Instances 2..N of a batch share the decision that placed the first.
            found = repo.get_instance_row(instance)
            also = found["decision_uuid"] if found else None
        rows = repo.decision_rows(project_id=project_id, instance_uuid=instance, also=also,
                                  limit=limit)
    return [{"id": r["uuid"], "kind": r["kind"], "outcome": r["outcome"], "reason": r["reason"],
             "host": r["host"], "elapsed_ms": r["elapsed_ms"], "created_at": r["created_at"],
             "project_id": r["project_id"], "instance_id": r["instance_uuid"]} for r in rows]


# -- delete --------------------------------------------------------------------------------------

def delete_instance(store: Store, uuid: str, *, project_id: str | None = None) -> None:
    """Give back everything the instance (and a migration in progress) holds."""
    with store.write() as repo:
        row = _live_instance(repo, uuid, project_id, for_update=True)
        writes = [ConsumerWrite(row["uuid"], {})]
        if row["state"] == s.VERIFY_RESIZE:
            writes.append(ConsumerWrite(row["migration_uuid"], {}))
        write_in(repo, writes, usage={(row["project_id"], quotas.INSTANCES): -1})
        repo.update_instance(row["uuid"], {"state": s.DELETED, "deleted_at": utcnow(),
                                           "new_flavor_id": None, "new_flavor": None,
                                           "source_host_id": None})
    log.info("instance_deleted", instance=row["uuid"], project=row["project_id"])


# -- build reports -------------------------------------------------------------------------------

def report_build(store: Store, scheduler: Scheduler, uuid: str, *, succeeded: bool,
                 message: str | None = None) -> Instance:
    """The host says how the build went. A failure moves the claim to the next alternate
    (re-checked by the scheduler) until ``max_attempts``; then the instance is in error
    and holds nothing.

    Raises:
        InvalidState: the instance is not building.
    """
    if message is not None and len(message) > 1000:
        raise errors.InvalidInput("message must be at most 1000 characters", field="message")
    with store.write() as repo:
        row = _live_instance(repo, uuid, None, for_update=True)
        if row["state"] != s.BUILDING:
            raise s.InvalidState(row["uuid"], row["state"], "report a build of",
                                 (s.BUILDING,))
        host = repo.host_names_by_id([row["host_id"]]).get(row["host_id"])
        if row["host_id"] is not None:
            repo.count_failed_build(row["host_id"], failed=not succeeded)
        _append_attempt(repo, row["decision_uuid"], {
            "instance": row["uuid"], "host": host,
            "result": "active" if succeeded else "build_failed", "message": message})
        if succeeded:
            repo.update_instance(row["uuid"], {"state": s.ACTIVE, "fault": None})
        failed = [] if succeeded else _failed_hosts(repo, row["decision_uuid"], row["uuid"])
    if succeeded:
        log.info("instance_active", instance=row["uuid"], host=host)
        return get_instance(store, uuid)
    scheduler.metrics.retries.labels("build_failed").inc()
    log.warning("build_failed", instance=row["uuid"], host=host, message=message)
    if host and host not in failed:
        failed.append(host)
    return _reschedule(store, scheduler, row, failed, message)


def _group_of(store: Store, row: Mapping[str, Any]) -> ServerGroup | None:
    """The instance's server group (None when it has none, or it was deleted since)."""
    if not row["server_group_uuid"]:
        return None
    try:
        return group_svc.get_server_group(store, row["server_group_uuid"])
    except errors.ServerGroupNotFound:
        return None


def _reschedule(store: Store, scheduler: Scheduler, row: Mapping[str, Any], failed: list[str],
                message: str | None) -> Instance:
    """Move the claim to the next alternate that passes every filter. The instance keeps
    its boot decision, which records every attempt (each retry's own decision is listed
    under the instance and named in its attempt); ``failed`` are the hosts the build
    failed on so far, never tried again."""
    alternates = list(json.loads(row["alternates"]))
    attempts = row["attempts"]
    tried = list(failed)
    refused: list[str] = []
    flavor = flavor_rules.from_snapshot(json.loads(row["flavor"]))
    group = _group_of(store, row)
    while alternates and attempts < scheduler.settings.max_attempts:
        alternate = alternates.pop(0)
        attempts += 1
        ask = Ask(flavor=flavor, project_id=row["project_id"], user_id=row["user_id"],
                  zone=row["availability_zone"], group=group, only_host=alternate,
                  exclude_hosts=frozenset(tried), moving=row["uuid"])
        tried.append(alternate)
        left = list(alternates)
        tries = attempts

        def move(repo: Repository, placed: list[Placement], decision_id: str,
                 left: list[str] = left, tries: int = tries) -> None:
            current = _live_instance(repo, row["uuid"], None, for_update=True)
            if current["state"] != s.BUILDING:
                raise s.InvalidState(row["uuid"], current["state"], "reschedule",
                                     (s.BUILDING,))
            p = placed[0]
            write_in(repo, [ConsumerWrite(row["uuid"], p.allocations, generation=UNCHECKED)],
                     enforce=True)
            repo.update_instance(row["uuid"], {"host_id": p.host_id, "attempts": tries,
                                               "alternates": json.dumps(left),
                                               "fault": message})
            _append_attempt(repo, current["decision_uuid"], {
                "instance": row["uuid"], "host": p.host, "result": "rescheduled",
                "decision": decision_id, "message": None})

        try:
            scheduler.schedule(ask, [row["uuid"]], kind="reschedule", write=move,
                               instance=row["uuid"])
        except s.NoValidHost:
            refused.append(alternate)
            continue
        log.info("instance_rescheduled", instance=row["uuid"], host=alternate, attempt=attempts)
        return get_instance(store, row["uuid"])
    fault = (f"{s.RETRIES_EXHAUSTED}: the build failed on {', '.join(failed) or 'no host'}"
             + (f"; no room left on {', '.join(refused)}" if refused else "")
             + (f"; last error: {message}" if message else ""))
    with store.write() as repo:
        current = _live_instance(repo, row["uuid"], None, for_update=True)
        write_in(repo, [ConsumerWrite(row["uuid"], {})])
        repo.update_instance(row["uuid"], {"state": s.ERROR, "host_id": None,
                                           "attempts": attempts, "alternates": "[]",
                                           "fault": fault[:1000]})
        _append_attempt(repo, current["decision_uuid"],
                        {"instance": row["uuid"], "host": None, "result": s.RETRIES_EXHAUSTED,
                         "message": fault}, outcome=s.RETRIES_EXHAUSTED)
    log.warning("instance_error", instance=row["uuid"], reason=s.RETRIES_EXHAUSTED, tried=tried)
    return get_instance(store, row["uuid"])


# -- resize and migrate --------------------------------------------------------------------------

def _move(store: Store, scheduler: Scheduler, uuid: str, *, kind: str, flavor_ref: str | None,
          host: str | None, project_id: str | None, any_flavor: bool) -> Instance:
    with store.read() as repo:
        row = _live_instance(repo, uuid, project_id)
        source = repo.host_names_by_id([row["host_id"]]).get(row["host_id"])
        if host is not None:  # by name or id
            host = str(host_svc.host_named(repo, host, field="host")["name"])
    if row["state"] != s.ACTIVE:
        raise s.InvalidState(row["uuid"], row["state"], kind, (s.ACTIVE,))
    if flavor_ref is None:  # a migration keeps the flavor it has, even if since deleted
        flavor = flavor_rules.from_snapshot(json.loads(row["flavor"]))
    else:
        try:
            flavor = flavor_svc.get_flavor(store, flavor_ref,
                                           project_id=None if any_flavor else row["project_id"])
        except errors.FlavorNotFound as exc:
            exc.field = "flavor"
            raise
    if kind == "resize" and flavor.id == row["flavor_id"]:
        raise errors.InvalidInput("resize needs a different flavor than the current one",
                                  field="flavor")
    group = _group_of(store, row)
    stay = kind == "resize" and scheduler.settings.allow_resize_to_same_host
    ask = Ask(flavor=flavor, project_id=row["project_id"], user_id=row["user_id"],
              zone=row["availability_zone"], group=group, only_host=host, moving=row["uuid"],
              exclude_hosts=frozenset() if stay or source is None else frozenset([source]))

    def claim(repo: Repository, placed: list[Placement], decision_id: str) -> None:
        current = _live_instance(repo, row["uuid"], None, for_update=True)
        if current["state"] != s.ACTIVE:
            raise s.InvalidState(row["uuid"], current["state"], kind, (s.ACTIVE,))
        migration = str(uuidlib.uuid4())
        held = _allocations_of(repo, row["uuid"])
        write_in(repo, [
            ConsumerWrite(migration, held, row["project_id"], row["user_id"], generation=None,
                          consumer_type=MIGRATION_TYPE, fresh=True),
            ConsumerWrite(row["uuid"], placed[0].allocations, generation=UNCHECKED)],
            enforce=True)
        repo.update_instance(row["uuid"], {
            "state": s.VERIFY_RESIZE, "host_id": placed[0].host_id,
            "source_host_id": current["host_id"], "migration_uuid": migration,
            "new_flavor_id": flavor.id if kind == "resize" else None,
            "new_flavor": json.dumps(flavor_rules.snapshot(flavor)) if kind == "resize" else None,
            "decision_uuid": decision_id})

    outcome: Outcome = scheduler.schedule(ask, [row["uuid"]], kind=kind, write=claim,
                                          instance=row["uuid"])
    log.info(f"instance_{kind}_claimed", instance=row["uuid"], source=source,
             destination=outcome.placements[0].host)
    return get_instance(store, row["uuid"])


def resize(store: Store, scheduler: Scheduler, uuid: str, flavor: str, *,
           project_id: str | None = None, any_flavor: bool = False) -> Instance:
    """Claim ``flavor`` on a host the scheduler picks; confirm or revert later."""
    return _move(store, scheduler, uuid, kind="resize", flavor_ref=flavor, host=None,
                 project_id=project_id, any_flavor=any_flavor)


def migrate(store: Store, scheduler: Scheduler, uuid: str, *, host: str | None = None) -> Instance:
    """Move to another host (``host``, checked by every filter, or the scheduler's pick)."""
    return _move(store, scheduler, uuid, kind="migrate", flavor_ref=None, host=host,
                 project_id=None, any_flavor=True)


def confirm(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    """Keep the destination: the source allocations are given back."""
    with store.write() as repo:
        row = _live_instance(repo, uuid, project_id, for_update=True)
        if row["state"] != s.VERIFY_RESIZE:
            raise s.InvalidState(row["uuid"], row["state"], "confirm", (s.VERIFY_RESIZE,))
        write_in(repo, [ConsumerWrite(row["migration_uuid"], {})])
        repo.update_instance(row["uuid"], {
            "state": s.ACTIVE, "flavor_id": row["new_flavor_id"] or row["flavor_id"],
            "flavor": row["new_flavor"] or row["flavor"], "new_flavor_id": None,
            "new_flavor": None, "source_host_id": None})
    log.info("instance_move_confirmed", instance=row["uuid"])
    return get_instance(store, uuid)


def revert(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    """Go back to the source: its allocations return to the instance, the destination's
    are given back, in one move."""
    with store.write() as repo:
        row = _live_instance(repo, uuid, project_id, for_update=True)
        if row["state"] != s.VERIFY_RESIZE:
            raise s.InvalidState(row["uuid"], row["state"], "revert", (s.VERIFY_RESIZE,))
        held = _allocations_of(repo, row["migration_uuid"])
        write_in(repo, [ConsumerWrite(row["uuid"], held, generation=UNCHECKED),
                        ConsumerWrite(row["migration_uuid"], {})])
        repo.update_instance(row["uuid"], {
            "state": s.ACTIVE, "host_id": row["source_host_id"], "new_flavor_id": None,
            "new_flavor": None, "source_host_id": None})
    log.info("instance_move_reverted", instance=row["uuid"])
    return get_instance(store, uuid)
