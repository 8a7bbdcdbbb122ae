"""Filter ``availability_zone``: in the zone asked for (no zone asked: any host, zoned
or not)."""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class AvailabilityZone(Filter):
    name = "availability_zone"
    rank = 20
    reason = (s.CONSTRAINT_UNSATISFIABLE, "zone")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        zone = ctx.query.zone
        if zone is None:
            return ctx.everyone
        if zone not in ctx.hosts.zones:
            return np.zeros(ctx.hosts.n, dtype=bool)
        code = ctx.hosts.zones.index(zone)
        return ctx.memo((self.name, zone), lambda: np.asarray(ctx.hosts.zone_code == code,
                                                              dtype=bool))

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        return f"not in availability zone {query.zone}", "not in the availability zone asked"


FILTER = AvailabilityZone()
