"""Build reports: a host says how an instance's build went; a failed build moves the
claim to the next alternate that passes every filter, until ``max_attempts``, then the
instance is in error and holds nothing. Every attempt is added to the boot's decision
record."""

from __future__ import annotations

import json

import structlog

from corral.domain import errors
from corral.domain import events as ev
from corral.domain import flavors as flavor_rules
from corral.domain import scheduling as s
from corral.domain.instances import InstanceRow
from corral.domain.scheduling import Instance
from corral.scheduler.runner import Ask
from corral.services import claims, decision_log, events, instance_events
from corral.services.allocations import ConsumerWrite, write_in
from corral.services.claim_writes import RescheduleClaim
from corral.services.instance_reads import get_instance, group_of, live_instance, to_instances
from corral.services.scheduler import Scheduler
from corral.services.stores import Store

log = structlog.get_logger("corral.instances")


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
        row = live_instance(repo, uuid, None, for_update=True)
        if row.state != s.BUILDING:
            raise s.InvalidState(row.uuid, row.state, "report a build of", (s.BUILDING,))
        host = (repo.host_names_by_id([row.host_id]).get(row.host_id)
                if row.host_id is not None else None)
        if row.host_id is not None:
            repo.count_failed_build(row.host_id, failed=not succeeded)
        decision_log.append_attempt(repo, row.decision_uuid, {
            "instance": row.uuid, "host": host,
            "result": "active" if succeeded else "build_failed", "message": message})
        if succeeded:
            repo.update_instance(row.uuid, {"state": s.ACTIVE, "fault": None})
            active = to_instances(repo, [live_instance(repo, uuid, None)])[0]
            events.write(repo, [instance_events.event(
                ev.INSTANCE_CREATE_END, active, instance_events.flavor_of(row.flavor))])
        failed = [] if succeeded else decision_log.failed_hosts(repo, row.decision_uuid,
                                                                row.uuid)
    if succeeded:
        log.info("instance_active", instance=row.uuid, host=host)
        return get_instance(store, uuid)
    scheduler.metrics.retries.labels("build_failed").inc()
    log.warning("build_failed", instance=row.uuid, host=host, message=message)
    if host and host not in failed:
        failed.append(host)
    return _reschedule(store, scheduler, row, failed, message)


def _reschedule(store: Store, scheduler: Scheduler, row: InstanceRow, failed: list[str],
                message: str | None) -> Instance:
    """Move the claim to the next alternate that passes every filter. The instance keeps
    its boot decision, which records every attempt (each retry's own decision is listed
    under the instance and named in its attempt); ``failed`` are the hosts the build
    failed on so far, never tried again."""
    alternates = list(row.alternates)
    attempts = row.attempts
    tried = list(failed)
    refused: list[str] = []
    flavor = flavor_rules.from_snapshot(json.loads(row.flavor))
    group = group_of(store, row)
    while alternates and attempts < scheduler.settings.max_attempts:
        alternate = alternates.pop(0)
        attempts += 1
        ask = Ask(flavor=flavor, project_id=row.project_id, user_id=row.user_id,
                  zone=row.availability_zone, group=group, only_host=alternate,
                  exclude_hosts=frozenset(tried), moving=row.uuid)
        tried.append(alternate)
        what = RescheduleClaim(row.uuid, attempts, tuple(alternates), message)
        try:
            claims.claim(scheduler, ask, [row.uuid], what, kind="reschedule",
                         instance=row.uuid)
        except s.NoValidHost:
            refused.append(alternate)
            continue
        log.info("instance_rescheduled", instance=row.uuid, host=alternate, attempt=attempts)
        return get_instance(store, row.uuid)
    return _give_up(store, row, attempts, failed, refused, tried, message)


def _give_up(store: Store, row: InstanceRow, attempts: int, failed: list[str],
             refused: list[str], tried: list[str], message: str | None) -> Instance:
    """No alternate left (or ``max_attempts`` reached): the instance is in error and
    holds nothing; its decision's outcome says the retries are exhausted."""
    fault = (f"{s.RETRIES_EXHAUSTED}: the build failed on {', '.join(failed) or 'no host'}"
             + (f"; no room left on {', '.join(refused)}" if refused else "")
             + (f"; last error: {message}" if message else ""))
    with store.write() as repo:
        current = live_instance(repo, row.uuid, None, for_update=True)
        write_in(repo, [ConsumerWrite(row.uuid, {})])
        repo.update_instance(row.uuid, {"state": s.ERROR, "host_id": None,
                                        "attempts": attempts, "alternates": "[]",
                                        "fault": fault[:1000]})
        decision_log.append_attempt(repo, current.decision_uuid,
                                    {"instance": row.uuid, "host": None,
                                     "result": s.RETRIES_EXHAUSTED, "message": fault},
                                    outcome=s.RETRIES_EXHAUSTED)
        failed_host, _zone = instance_events.where(repo, current.host_id)
        gone = to_instances(repo, [live_instance(repo, row.uuid, None)])[0]
        events.write(repo, [instance_events.event(
            ev.INSTANCE_CREATE_ERROR, gone, instance_events.flavor_of(row.flavor),
            resources={}, fault=fault[:1000], failed_host=failed_host,
            allocations="released")])
    log.warning("instance_error", instance=row.uuid, reason=s.RETRIES_EXHAUSTED, tried=tried)
    return get_instance(store, row.uuid)
