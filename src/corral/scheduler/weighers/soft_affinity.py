"""Weigher ``soft_affinity``: for a soft-affinity group, the group's members already on
the host (more wins)."""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.index import Column
from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import FilterContext, Floats, Ints


class SoftAffinity(Weigher):
    name = "soft_affinity"
    rank = 50
    help = "Weight of group members already on a host, for soft-affinity groups (>= 0)."
    low = 0.0

    columnar = True

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        if view.query.group_policy != s.SOFT_AFFINITY:
            return None
        return view.members[hosts].astype(float)

    def column(self, ctx: FilterContext) -> Column | None:
        if ctx.query.group_policy != s.SOFT_AFFINITY:
            return None
        return ctx.column_of(ctx.members.astype(float))


WEIGHER = SoftAffinity()
