"""Decision records: what a scheduling decision writes down (request, configuration
used, funnel, best weighed hosts, placements, attempts), and the one-line message of a
refusal. Typed here; :meth:`DecisionRecord.as_dict` is the JSON the ``decisions`` table
stores and the API answers (the services add the outcome, reason and time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from corral.scheduler.explanation import Explanation
from corral.scheduler.query import FilterContext, Funnel
from corral.scheduler.runner import Ask, Placement, Weights

#: Weighed hosts kept in a decision record.
TOP_WEIGHED = 5


@dataclass(frozen=True)
class Configuration:
    """What every decision record says of the configuration (fixed per process)."""

    strategy: str
    filters: tuple[str, ...]
    host_subset_size: int
    max_attempts: int
    max_instances_per_host: int
    multipliers: Mapping[str, float]
    defaults: Mapping[str, float]
    """The allocation ratios and reserved memory a host falls back to."""
    host_down_after_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "filters": list(self.filters),
                "host_subset_size": self.host_subset_size, "max_attempts": self.max_attempts,
                "max_instances_per_host": self.max_instances_per_host,
                "multipliers": dict(self.multipliers), "defaults": dict(self.defaults),
                "host_down_after_s": self.host_down_after_s}


@dataclass(frozen=True)
class Weighed:
    """One of the best weighed hosts, as the decision saw it."""

    host: str
    effective: dict[str, Any]
    aggregates: list[str]
    traits: list[str]
    score: float
    components: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "effective": self.effective, "aggregates": self.aggregates,
                "traits": self.traits, "score": self.score, "components": self.components}


def request(ask: Ask, ctx: FilterContext) -> dict[str, Any]:
    q = ctx.query
    out: dict[str, Any] = {
        "flavor": {"id": ask.flavor.id, "name": ask.flavor.name},
        "resources": dict(q.resources), "required_traits": sorted(q.required_traits),
        "forbidden_traits": sorted(q.forbidden_traits),
        "aggregate_specs": dict(q.aggregate_specs), "availability_zone": ask.zone,
        "project_id": ask.project_id, "user_id": ask.user_id, "count": ask.count,
        "hints": {"same_host": list(ask.same_host), "different_host": list(ask.different_host)}}
    if ask.group is not None:
        out["server_group"] = {"id": ask.group.id, "policy": ask.group.policy,
                               "max_server_per_host": ask.group.max_server_per_host,
                               "members": int(sum(q.group_members.values()))}
    if ask.only_host:
        out["host"] = ask.only_host
    if ask.exclude_hosts:
        out["exclude_hosts"] = sorted(ask.exclude_hosts)
    return out


def weighed(ctx: FilterContext, weights: Weights, k: int) -> Weighed:
    """The ``k``-th best weighed host: its effective ratios (with sources), aggregates,
    traits, score and the weighers' parts of it."""
    i = int(weights.hosts[k])
    info = ctx.hosts.hosts[i]
    row = int(ctx.rows[i])
    traits = ctx.state.traits_of(row) if row >= 0 and ctx.state.alive[row] else frozenset()
    return Weighed(info.name, info.effective.as_dict(), list(info.aggregates), sorted(traits), round(float(weights.total[k]), 6),
                   {w: round(float(v[k]), 6) for w, v in weights.components.items()})


@dataclass(frozen=True)
class DecisionRecord:
    """The record of one decision (its outcome, reason and time are set when written)."""

    kind: str
    request: dict[str, Any]
    configuration: Configuration
    funnel: list[dict[str, object]]
    weighed: list[Weighed]
    placements: list[Placement] = field(default_factory=list)
    claimed_at: datetime | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    explanation: Explanation | None = None
    """Why no host took the request (a refusal's record)."""
    outcome: str | None = None
    reason: str | None = None
    elapsed_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "request": self.request,
                               "configuration": self.configuration.as_dict(),
                               "funnel": self.funnel,
                               "weighed": [w.as_dict() for w in self.weighed]}
        if self.placements:
            at = (self.claimed_at.isoformat() if self.claimed_at else "") + "Z"
            out["placements"] = [{"instance": p.consumer, "host": p.host,
                                  "alternates": p.alternates, "allocations": p.allocations}
                                 for p in self.placements]
            out["attempts"] = [{"instance": p.consumer, "host": p.host, "result": "claimed",
                                "at": at} for p in self.placements]
        if self.conflicts:
            out["conflicts"] = self.conflicts
        if self.explanation is not None:
            out["explanation"] = self.explanation.as_dict()
        if self.outcome is not None:
            out.update(outcome=self.outcome, reason=self.reason, elapsed_ms=self.elapsed_ms)
        return out


def build(config: Configuration, ask: Ask, kind: str, ctx: FilterContext, funnel: Funnel,
          weights: Weights | None, picked: list[Placement] | None,
          conflicts: list[dict[str, Any]], now: datetime) -> DecisionRecord:
    """The record of one decision; ``now`` is when its placements were claimed."""
    top = [] if weights is None else [weighed(ctx, weights, k) for k in
                                      range(min(TOP_WEIGHED, weights.hosts.size))]
    return DecisionRecord(kind, request(ask, ctx), config, funnel.counts(), top,
                          list(picked or []), now, list(conflicts))


def describe(explanation: Mapping[str, Any]) -> str:
    """One sentence for the error message (no host names: members read it too)."""
    code = explanation["code"]
    what = explanation.get("resource_class") or explanation.get("constraint")
    head = f"No valid host: {code}" + (f" ({what})" if what else "")
    tail = "retrying may help" if explanation["retry_can_help"] else \
        "retrying will not help until the fleet or the request changes"
    funnel = explanation["funnel"]
    left = [f"{step['step']} {step['hosts']}" for step in funnel
            if step["step"] == "considered" or step.get("removed")]
    return f"{head}; hosts left: {', '.join(left)}; {tail}."
