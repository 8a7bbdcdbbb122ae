"""Decision records in the store: written with the claim (or alone, for a refusal or a
dry run), pruned now and then, amended by build reports, read back for the API.

What a record holds is built by scheduler/records.py; this module is its I/O,
and the metrics and log line every decision ends with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, NoReturn

import orjson
import structlog

from corral.domain import scheduling as s
from corral.domain.decisions import DecisionRow
from corral.domain.names import normalize_uuid
from corral.persistence.clock import utcnow
from corral.scheduler import records
from corral.scheduler.records import DecisionRecord
from corral.scheduler.runner import Ask, Pick, Placement
from corral.services.scheduler import Decision, Refused, Scheduler
from corral.services.stores import DecisionStore, Repo, Store

log = structlog.get_logger("corral.scheduler")

#: Decisions older than the retention are pruned on about one decision write in this many.
PRUNE_EVERY = 1000


def insert(scheduler: Scheduler, repo: Repo, decision: Decision, *,
           outcome: str) -> None:
    """Write ``decision``'s record in ``repo``'s transaction, with its outcome and time."""
    insert_all(scheduler, repo, [decision], outcome=outcome)


def insert_all(scheduler: Scheduler, repo: Repo, decisions: Sequence[Decision], *,
               outcome: str) -> None:
    """Write the records of ``decisions`` (a group commit's) in ``repo``'s transaction,
    with one statement: each with its outcome and time, as :func:`insert` writes it."""
    rows = []
    for decision in decisions:
        decision.record, row = _row(scheduler, repo, decision.decision_id, decision.ask,
                                    decision.kind, decision.instance, decision.record,
                                    decision.placements, decision.started, outcome, None)
        rows.append(row)
    repo.insert_decisions(rows)


def _insert(scheduler: Scheduler, repo: Repo, decision_id: str, ask: Ask, kind: str,
            instance: str | None, record: DecisionRecord, picked: list[Placement] | None,
            started: float, outcome: str, reason: str | None) -> DecisionRecord:
    """Write ``record`` with its outcome and time; the record as written comes back."""
    record, row = _row(scheduler, repo, decision_id, ask, kind, instance, record, picked,
                       started, outcome, reason)
    repo.insert_decision(row)
    return record


def _row(scheduler: Scheduler, repo: Repo, decision_id: str, ask: Ask, kind: str,
         instance: str | None, record: DecisionRecord, picked: list[Placement] | None,
         started: float, outcome: str, reason: str | None
         ) -> tuple[DecisionRecord, DecisionRow]:
    """The record with its outcome and time, and the row that stores it (pruning old
    decisions now and then, first)."""
    elapsed = (time.perf_counter() - started) * 1000
    record = replace(record, outcome=outcome, reason=reason, elapsed_ms=round(elapsed, 3))
    _prune(scheduler, repo)
    return record, DecisionRow(
        uuid=decision_id, kind=kind, project_id=ask.project_id,
        instance_uuid=instance or (picked[0].consumer
                                   if picked and outcome != "dry_run" else None),
        outcome=outcome, reason=reason, host=picked[0].host if picked else None,
        elapsed_ms=elapsed,
        # orjson: with json, encoding the record was 5% of a boot over HTTP (measured)
        record=orjson.dumps(record.as_dict(), option=orjson.OPT_NON_STR_KEYS).decode(),
        created_at=utcnow())


def _prune(scheduler: Scheduler, repo: Repo) -> None:
    """Now and then (about one write in PRUNE_EVERY), drop decisions older than the
    retention, in the writing transaction: the table stays bounded with no job to run."""
    hours = scheduler.settings.decision_retention_hours
    if hours and scheduler.random.random() < 1 / PRUNE_EVERY:
        pruned = repo.prune_decisions(utcnow() - timedelta(hours=hours))
        if pruned:
            log.info("decisions_pruned", decisions=pruned, older_than_hours=hours)


def finish(scheduler: Scheduler, decision: Decision, *, outcome: str,
           recorded: bool = False) -> None:
    """The end of a placing decision: its record (unless the claim ``recorded`` it),
    metrics and log line."""
    if not recorded:
        with scheduler.store.write() as repo:
            insert(scheduler, repo, decision, outcome=outcome)
    elapsed = time.perf_counter() - decision.started
    kind, picked, record = decision.kind, decision.placements, decision.record
    scheduler.metrics.decision_seconds.labels(kind, outcome).observe(elapsed)
    if outcome == "scheduled" and kind == "boot":
        scheduler.metrics.boots.labels("scheduled").inc(len(picked))
    log.info("scheduling_decision", decision=decision.decision_id, kind=kind, outcome=outcome,
             hosts=[p.host for p in picked], considered=record.funnel[0]["hosts"],
             passed=record.funnel[-1]["hosts"], elapsed_ms=round(elapsed * 1000, 3))


def _refusal(scheduler: Scheduler, refused: Refused) -> DecisionRecord:
    found = Pick(None, refused.ctx, refused.funnel, None, refused.explanation)
    record = scheduler.record(refused.ask, refused.kind, found, refused.conflicts)
    return replace(record, explanation=refused.explanation)


def refuse(scheduler: Scheduler, refused: Refused) -> NoReturn:
    """Record a request no host can take, count it, and raise NoValidHost (carrying the
    explanation and the decision's id)."""
    explanation = refused.explanation
    code = explanation.code
    record = _refusal(scheduler, refused)
    with scheduler.store.write() as repo:
        _insert(scheduler, repo, refused.decision_id, refused.ask, refused.kind,
                refused.instance, record, None, refused.started, "no_valid_host", code)
    elapsed = time.perf_counter() - refused.started
    kind = refused.kind
    scheduler.metrics.decision_seconds.labels(kind, "no_valid_host").observe(elapsed)
    if kind == "boot":
        scheduler.metrics.boots.labels("no_valid_host").inc(refused.ask.count)
    scheduler.metrics.no_valid_host.labels(explanation.filter or code).inc()
    log.info("scheduling_decision", decision=refused.decision_id, kind=kind,
             outcome="no_valid_host", reason=code, filter=explanation.filter,
             resource_class=explanation.resource_class,
             considered=record.funnel[0]["hosts"], elapsed_ms=round(elapsed * 1000, 3))
    answer = explanation.as_dict()  # the error's body: JSON from here on
    raise s.NoValidHost(records.describe(answer), {"decision_id": refused.decision_id, **answer})


# -- after the decision: build reports --------------------------------------------------------

def append_attempt(repo: DecisionStore, decision_id: str | None, attempt: dict[str, Any],
                   outcome: str | None = None) -> None:
    """Add an attempt to a decision's record (and maybe change its outcome: only of a
    decision that placed this one instance, not of a boot of several)."""
    if decision_id is None:
        return
    row = repo.get_decision_row(decision_id)
    if row is None:
        return
    record = json.loads(row.record)
    record.setdefault("attempts", []).append({**attempt, "at": utcnow().isoformat() + "Z"})
    values: dict[str, object] = {"record": json.dumps(record)}
    placed = {p.get("instance") for p in record.get("placements", [])}
    if outcome is not None and placed <= {attempt.get("instance")}:
        record["outcome"] = outcome
        values.update(outcome=outcome, record=json.dumps(record))
    repo.update_decision(decision_id, values)


def failed_hosts(repo: DecisionStore, decision_id: str | None, uuid: str) -> list[str]:
    """The hosts an instance's build failed on, in order, as its decision recorded them."""
    row = repo.get_decision_row(decision_id) if decision_id else None
    if row is None:
        return []
    return [a["host"] for a in json.loads(row.record).get("attempts", [])
            if a.get("instance") == uuid and a.get("result") == "build_failed" and a.get("host")]


# -- reading --------------------------------------------------------------------------------

def _summary(row: DecisionRow) -> dict[str, Any]:
    return {"id": row.uuid, "kind": row.kind, "outcome": row.outcome, "reason": row.reason,
            "host": row.host, "elapsed_ms": row.elapsed_ms, "created_at": row.created_at,
            "project_id": row.project_id, "instance_id": row.instance_uuid}


def get_decision(store: Store, uuid: str, *, project_id: str | None = None) -> dict[str, Any]:
    """A decision as recorded: {id, kind, outcome, reason, host, elapsed_ms, created_at,
    project_id, instance_id, record}."""
    canonical = normalize_uuid(uuid)
    with store.read() as repo:
        row = repo.get_decision_row(canonical) if canonical else None
    if row is None or (project_id is not None and row.project_id != project_id):
        raise s.DecisionNotFound(uuid)
    return {**_summary(row), "record": json.loads(row.record)}


def list_decisions(store: Store, *, project_id: str | None = None,
                   instance: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with store.read() as repo:
        also: str | None = None
        if instance is not None:
            instance = normalize_uuid(instance) or instance
            # Instances 2..N of a batch share the decision that placed the first.
            found = repo.get_instance_row(instance)
            also = found.decision_uuid if found else None
        rows: Sequence[DecisionRow] = repo.decision_rows(
            project_id=project_id, instance_uuid=instance, also=also, limit=limit)
    return [_summary(r) for r in rows]
