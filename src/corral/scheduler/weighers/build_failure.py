"""Weigher ``build_failure``: against recent failed builds on the host (a large
multiplier, the default, keeps such hosts last)."""

from __future__ import annotations

from corral.scheduler.index import Column
from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import FilterContext, Floats, Ints


class BuildFailure(Weigher):
    name = "build_failure"
    rank = 70
    help = "Penalty per recent failed build on a host (large: avoid such hosts)."
    default = 1_000_000.0

    columnar = True

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        if not view.hosts.any_failed_builds:
            return None
        return -view.hosts.failed_builds[hosts].astype(float)

    def column(self, ctx: FilterContext) -> Column | None:
        if not ctx.hosts.any_failed_builds:
            return None
        return ctx.column_of(-ctx.hosts.failed_builds.astype(float))


WEIGHER = BuildFailure()
