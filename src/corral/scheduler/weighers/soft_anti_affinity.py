"""Weigher ``soft_anti_affinity``: for a soft-anti-affinity group, against the group's
members already on the host (fewer wins)."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.index import Column
from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import FilterContext, Floats, Ints


class SoftAntiAffinity(Weigher):
    name = "soft_anti_affinity"
    rank = 60
    help = "Weight against group members on a host, for soft-anti-affinity groups (>= 0)."
    low = 0.0

    columnar = True

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        if view.query.group_policy != s.SOFT_ANTI_AFFINITY:
            return None
        return -view.members[hosts].astype(float)

    def column(self, ctx: FilterContext) -> Column | None:
        if ctx.query.group_policy != s.SOFT_ANTI_AFFINITY:
            return None
        return ctx.column_of(-ctx.members.astype(float))


WEIGHER = SoftAntiAffinity()
