"""The quota audit: recount usage from the allocations, instances and server groups,
report every drift of the ledger (services/ledger.py) and every orphaned allocation,
and repair them on demand (docs/quotas.md)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import structlog
from prometheus_client import CollectorRegistry, Gauge

from corral.domain import events as ev
from corral.domain.audit_log import Actor
from corral.domain.events import NewEvent
from corral.persistence.clock import utcnow
from corral.persistence.revisions import PROJECTS
from corral.services.allocations import ConsumerWrite, write_in
from corral.services.audit_log import record
from corral.services.project_tree import Loaded
from corral.services.project_tree import load as load_projects
from corral.services.stores import Repo, Store

log = structlog.get_logger("corral.quota")


@dataclass(frozen=True)
class Drift:
    project_id: str
    resource: str
    ledger_own: int
    actual_own: int
    ledger_subtree: int
    actual_subtree: int


@dataclass(frozen=True)
class Orphan:
    consumer: str
    project_id: str
    why: str


@dataclass
class AuditReport:
    drifts: list[Drift] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    fixed: bool = False

    @property
    def clean(self) -> bool:
        return not self.drifts and not self.orphans


def _truth(own: Mapping[tuple[int, str], int], loaded: Loaded
           ) -> dict[tuple[int, str], tuple[int, int]]:
    """(own, subtree) per (project row, resource): subtree sums own usage up each chain."""
    external = {rec.id: ext for ext, rec in loaded.records.items()}
    subtree: dict[tuple[int, str], int] = defaultdict(int)
    for (pid, res), amount in own.items():
        for project in loaded.tree.chain(external[pid]):
            subtree[(loaded.row_id(project), res)] += amount
    return {k: (own.get(k, 0), subtree.get(k, 0)) for k in set(own) | set(subtree)}


def _examine(repo: Repo, project: str | None
             ) -> tuple[AuditReport, dict[tuple[int, str], tuple[int, int]]]:
    loaded = load_projects(repo)
    scope: set[str] | None = None
    if project is not None:  # its subtree and its ancestors
        loaded.require(project)
        scope = {*loaded.tree.chain(project), *loaded.tree.descendants(project)}
    external = {rec.id: ext for ext, rec in loaded.records.items()}
    truth = _truth(repo.recount_usage(), loaded)
    ledger = repo.ledger_rows()
    report = AuditReport()
    repairs: dict[tuple[int, str], tuple[int, int]] = {}
    for key in sorted(set(truth) | set(ledger)):
        pid, res = key
        if scope is not None and external[pid] not in scope:
            continue
        have, real = ledger.get(key, (0, 0)), truth.get(key, (0, 0))
        if have != real:
            report.drifts.append(Drift(external[pid], res, have[0], real[0], have[1], real[1]))
            repairs[key] = real
    report.orphans = [Orphan(c, p, why) for c, p, why in repo.orphaned_consumers()
                      if scope is None or p in scope]
    return report, repairs


def audit(store: Store, *, project: str | None = None, fix: bool = False,
          actor: Actor | None = None) -> AuditReport:
    """Recount usage from the allocations, instances and server groups; report every
    drift of the ledger and every orphaned allocation, and with ``fix`` repair them all
    in one transaction (orphans' allocations are given back first, then the ledger is
    set to the recount), recording what it repaired as done for ``actor``."""
    if fix and actor is None:
        raise ValueError("a repair is an admin action: give the actor it is done for")
    if not fix:
        with store.snapshot() as repo:
            report, _repairs = _examine(repo, project)
        return report
    with store.write() as repo:
        # Lock what the repair gives back in the order claims lock (consumers, then
        # providers), and the tree only then (claims share it after their providers):
        # no claim can hold a lock the repair waits for while waiting for one it holds.
        orphaned = [c for c, _project, _why in repo.orphaned_consumers()]
        repo.lock_consumers(orphaned)
        rows = [row for row in (repo.get_consumer(c) for c in orphaned) if row is not None]
        repo.lock_providers(repo.consumer_provider_uuids(row.id for row in rows))
        repo.bump_revision(PROJECTS)  # no claim moves the ledger until we commit
        report, _repairs = _examine(repo, project)
        # An orphan that appeared after the locks above is reported, and left for the
        # next run (giving it back now would take provider locks after the tree's).
        fixable = [o for o in report.orphans if o.consumer in set(orphaned)]
        if fixable:
            write_in(repo, [ConsumerWrite(o.consumer, {}) for o in fixable])
        _after, repairs = _examine(repo, project)
        repo.set_usage(repairs)
        report.fixed = True
        if not report.clean and actor is not None:
            record(repo, actor, "quota_usage.repair", "quota_usage", project or "*",
                   before={"drifts": [asdict(d) for d in report.drifts],
                           "orphans": [asdict(o) for o in fixable]},
                   after={"drifts": [], "orphans": []})
    return report


def tell_drift(store: Store, report: AuditReport) -> None:
    """Write a ``quota.drift`` event of what a whole audit found (docs/events.md): the
    finding is the change told, in a transaction of its own. The repair is told by its
    audit entry's event, ``quota_usage.repair``."""
    at = utcnow()
    with store.write() as repo:
        repo.add_events([NewEvent(str(uuid.uuid4()), ev.QUOTA_DRIFT, "quota_usage", "*", {
            "drifts": [asdict(d) for d in report.drifts],
            "orphans": [asdict(o) for o in report.orphans],
            "found_at": at.isoformat() + "Z"}, at, priority="WARN")])


class Auditor:
    """Runs audits and exports what the last whole-tree audit found as the gauge
    ``corral_quota_drift{kind="usage"|"orphans"}`` (ledger entries off, orphaned
    consumers). ``corral serve`` runs one every ``audit_interval_s``."""

    def __init__(self, store: Store, registry: CollectorRegistry | None = None) -> None:
        self.store = store
        self.drift = Gauge("corral_quota_drift",
                           "What the last whole quota audit found wrong: ledger entries "
                           "that disagreed with a recount (usage) and orphaned consumers",
                           ["kind"], registry=registry)
        self.last: AuditReport | None = None

    def run(self, *, project: str | None = None, fix: bool = False,
            actor: Actor | None = None) -> AuditReport:
        report = audit(self.store, project=project, fix=fix, actor=actor)
        if project is None and not fix and not report.clean:
            tell_drift(self.store, report)
        if project is None:
            self.last = report
            self.drift.labels("usage").set(0 if fix else len(report.drifts))
            self.drift.labels("orphans").set(0 if fix else len(report.orphans))
        if report.drifts or report.orphans:
            log.warning("quota_drift", drifts=len(report.drifts), orphans=len(report.orphans),
                        fixed=report.fixed, project=project)
        return report
