"""Filter ``aggregate_extra_specs``: every ``aggregate_instance_extra_specs:KEY=VALUE``
of the flavor is met by one of the host's aggregates: its metadata KEY holds VALUE (a
comma list holds each item). As Nova's filter, this attracts and never repels: flavors
without the key may still land on such hosts (use tenant isolation or traits to repel).
"""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable, split_values
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class AggregateExtraSpecs(Filter):
    name = "aggregate_extra_specs"
    rank = 30
    reason = (s.CONSTRAINT_UNSATISFIABLE, "aggregate")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        if not ctx.query.aggregate_specs:
            return ctx.everyone
        key = (self.name, tuple(sorted(ctx.query.aggregate_specs.items())))
        return ctx.memo(key, lambda: self._mask(ctx))

    def _mask(self, ctx: FilterContext) -> Mask:
        mask = np.ones(ctx.hosts.n, dtype=bool)
        for key, wanted in ctx.query.aggregate_specs.items():
            hit = np.zeros(ctx.hosts.n, dtype=bool)
            for agg in ctx.hosts.aggregates:
                value = agg.metadata.get(key)
                if value is not None and (value == wanted or wanted in split_values(value)):
                    hit[ctx.hosts.members[agg.name]] = True
            mask &= hit
        return mask

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        specs = ", ".join(f"{k}={v}" for k, v in query.aggregate_specs.items())
        return (f"in no aggregate whose metadata matches {specs}",
                "not in an aggregate matching the flavor")


FILTER = AggregateExtraSpecs()
