"""Filter ``tenant_isolation``: a host in aggregates carrying ``filter_tenant_id*``
takes only those projects."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class TenantIsolation(Filter):
    name = "tenant_isolation"
    rank = 40
    reason = (s.CONSTRAINT_UNSATISFIABLE, "isolation")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        if not ctx.hosts.any_isolated:
            return ctx.everyone
        allowed = ctx.hosts.tenants.get(ctx.query.project_id)
        # Every project that no aggregate names sees the same hosts: one mask for them.
        key = (self.name, None if allowed is None else ctx.query.project_id)
        return ctx.memo(key, lambda: ~ctx.hosts.isolated if allowed is None
                        else ~ctx.hosts.isolated | allowed)

    def by_project(self, hosts: HostTable) -> bool:
        return bool(hosts.isolated.any())

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        return "reserved to other projects by filter_tenant_id", "reserved to other projects"


FILTER = TenantIsolation()
