"""Decision records: what a scheduling decision writes down (request, configuration
used, funnel, best weighed hosts, placements, attempts), and the one-line message of a
refusal. Plain data, stored as JSON in the ``decisions`` table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.config import Settings
from corral.engine.filters import FilterContext, Funnel
from corral.engine.hosts import Policy
from corral.engine.weighers import Weights
from corral.persistence.clock import utcnow

if TYPE_CHECKING:
    from corral.services.scheduler import Ask, Placement

#: Weighed hosts kept in a decision record.
TOP_WEIGHED = 5


def configuration(settings: Settings, policy: Policy) -> dict[str, Any]:
    st = settings
    return {"strategy": st.strategy, "filters": list(st.filters),
            "host_subset_size": st.host_subset_size, "max_attempts": st.max_attempts,
            "max_instances_per_host": st.max_instances_per_host,
            "multipliers": dict(policy.multipliers),
            "defaults": {"cpu_allocation_ratio": st.cpu_allocation_ratio,
                         "ram_allocation_ratio": st.ram_allocation_ratio,
                         "disk_allocation_ratio": st.disk_allocation_ratio,
                         "reserved_host_memory_mb": st.reserved_host_memory_mb},
            "host_down_after_s": st.host_down_after_s}


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


def host_view(ctx: FilterContext, i: int) -> dict[str, Any]:
    """A host as a decision saw it: its effective ratios (with sources), aggregates, traits."""
    info = ctx.hosts.hosts[i]
    row = int(ctx.rows[i])
    rec = ctx.state.records[row] if row >= 0 else None
    return {"host": info.name, "effective": info.effective.as_dict(),
            "aggregates": list(info.aggregates), "traits": sorted(rec.traits) if rec else []}


def build(config: dict[str, Any], ask: Ask, kind: str, ctx: FilterContext, funnel: Funnel,
          weights: Weights | None, picked: list[Placement] | None,
          conflicts: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of one decision (its outcome, reason and time are added when written);
    ``config`` is :func:`configuration`, the same for every decision of a process."""
    record: dict[str, Any] = {
        "kind": kind, "request": request(ask, ctx), "configuration": config,
        "funnel": funnel.counts(),
        "weighed": []}
    if weights is not None:
        for k in range(min(TOP_WEIGHED, weights.hosts.size)):
            view = host_view(ctx, int(weights.hosts[k]))
            view["score"] = round(float(weights.total[k]), 6)
            view["components"] = {w: round(float(v[k]), 6)
                                  for w, v in weights.components.items()}
            record["weighed"].append(view)
    if picked:
        record["placements"] = [{"instance": p.consumer, "host": p.host,
                                 "alternates": p.alternates, "allocations": p.allocations}
                                for p in picked]
        record["attempts"] = [{"instance": p.consumer, "host": p.host, "result": "claimed",
                               "at": utcnow().isoformat() + "Z"} for p in picked]
    if conflicts:
        record["conflicts"] = conflicts
    return record


def describe(explanation: dict[str, Any]) -> str:
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
