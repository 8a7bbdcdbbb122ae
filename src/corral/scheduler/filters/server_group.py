"""Filter ``server_group``: affinity, with the group's members (anywhere while it has
none); anti-affinity, fewer than ``max_server_per_host`` members on the host (default
1). Soft policies only weigh (weighers soft_affinity, soft_anti_affinity)."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.explanation import Evidence
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class ServerGroup(Filter):
    name = "server_group"
    rank = 90
    reason = (s.CONSTRAINT_UNSATISFIABLE, "group_policy")

    def mask(self, ctx: FilterContext) -> Mask:
        policy = ctx.query.group_policy
        if policy == s.AFFINITY and ctx.query.group_members and ctx.members.any():
            return ctx.members > 0
        if policy == s.ANTI_AFFINITY and ctx.query.group_members:
            return ctx.members < ctx.query.max_server_per_host
        return ctx.everyone

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        if query.group_policy == s.AFFINITY:
            return ("hold no member of the affinity group",
                    "hold no member of the affinity group")
        return (f"already hold {query.max_server_per_host} or more members of the "
                f"anti-affinity group (max_server_per_host {query.max_server_per_host})",
                "already hold members of the anti-affinity group")

    def never(self, ev: Evidence, ever: Mask) -> bool:
        """An anti-affinity group that already fills every host that could take it."""
        q = ev.ctx.query
        if q.group_policy != s.ANTI_AFFINITY:
            return False
        members = int(sum(q.group_members.values()))
        return members >= int(ever.sum()) * q.max_server_per_host


FILTER = ServerGroup()
