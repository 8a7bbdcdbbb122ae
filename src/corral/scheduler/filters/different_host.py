"""Filter ``different_host``: with the hint, on no host holding one of the named
instances."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class DifferentHost(Filter):
    name = "different_host"
    rank = 80
    reason = (s.CONSTRAINT_UNSATISFIABLE, "different_host")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        if not ctx.query.different_host:
            return ctx.everyone
        return ~ctx.hosts.mask_of(ctx.query.different_host)

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        return ("hold an instance named in different_host",
                "hold an instance named in different_host")


FILTER = DifferentHost()
