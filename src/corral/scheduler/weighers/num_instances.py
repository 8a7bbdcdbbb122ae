"""Weigher ``num_instances``: the instances on the host (a positive multiplier packs,
a negative one spreads; 0 by default: off)."""

from __future__ import annotations

from corral.scheduler.index import Column
from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import FilterContext, Floats, Ints


class NumInstances(Weigher):
    name = "num_instances"
    rank = 40
    help = "Weight of the number of instances on a host: positive packs, negative spreads."
    default = 0.0

    columnar = True

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        return view.instances(hosts, rows)

    def column(self, ctx: FilterContext) -> Column | None:
        return ctx.instances_column()


WEIGHER = NumInstances()
