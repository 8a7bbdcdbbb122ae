"""Filter ``num_instances``: fewer instances than ``max_instances_per_host`` (an
aggregate's ``max_instances_per_host`` metadata may lower it)."""

from __future__ import annotations

import numpy as np

from corral.domain import bounds
from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter, Option, Room
from corral.scheduler.query import FilterContext, HostQuery, Ints, Mask

#: Pseudo resource class of the instances-per-host limit in explanations.
INSTANCES = "instances"


class NumInstances(Filter):
    name = "num_instances"
    rank = 100
    reason = (s.NO_CAPACITY, None)
    resource_class = INSTANCES
    usage = True
    options = (Option("max_instances_per_host",
                      "Most instances on one host (an aggregate's max_instances_per_host "
                      "overrides).", 50, 1, bounds.INT32_MAX, integer=True),)

    def mask(self, ctx: FilterContext) -> Mask:
        instances, cap = ctx.instances_at_hosts(), ctx.hosts.max_instances
        if ctx.index is None:
            return np.asarray(instances < cap, dtype=bool)
        return ctx.kept(self.name, lambda h: np.asarray(instances[h] < cap[h], dtype=bool))

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        caps = sorted(set(hosts.max_instances.tolist()))
        cap = str(caps[0]) if len(caps) == 1 else f"{caps[0]} to {caps[-1]}"
        return (f"already run max_instances_per_host instances ({cap})",
                "run as many instances as allowed")

    def room(self, room: Room) -> Mask:
        return np.asarray(room.consumers < room.max_instances, dtype=bool)

    def count(self, room: Room) -> Ints | None:
        return np.asarray(np.clip(room.max_instances - room.consumers, 0, None), dtype=np.int64)


FILTER = NumInstances()
