"""Filter ``same_host``: with the hint, on a host holding one of the named instances."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class SameHost(Filter):
    name = "same_host"
    rank = 70
    reason = (s.CONSTRAINT_UNSATISFIABLE, "same_host")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        if ctx.query.same_host is None:
            return ctx.everyone
        return ctx.hosts.mask_of(ctx.query.same_host)

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        return ("hold none of the instances named in same_host",
                "do not hold the instances named in same_host")


FILTER = SameHost()
