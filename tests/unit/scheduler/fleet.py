"""A hand-built fleet for the plugin tests: a few hosts (one provider each) in a
FleetState and a HostTable, and the one-filter helpers they share. No store."""

from __future__ import annotations

from typing import Any

import numpy as np

from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.engine.state import FleetState
from corral.scheduler.explain import Explainer
from corral.scheduler.explanation import Bucket
from corral.scheduler.hosts import AggregateInfo, HostInfo, HostTable, Policy
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery
from corral.scheduler.runner import run_filters

from .test_scheduling_filters import CLASSES, SMALL, build, host, plain, query

__all__ = ["CLASSES", "SMALL", "Fleet", "host", "plain", "query"]


class Fleet:
    """Hosts by name, and what one filter or weigher makes of them."""

    def __init__(self, hosts: list[tuple[ProviderRecord, HostInfo]],
                 aggregates: tuple[AggregateInfo, ...] = (), policy: Policy | None = None
                 ) -> None:
        self.state, self.table = build(hosts, aggregates, policy)

    @property
    def names(self) -> list[str]:
        return self.table.names

    def state_table(self) -> tuple[FleetState, HostTable]:
        return self.state, self.table

    def ctx(self, q: HostQuery | None = None, **kw: Any) -> FilterContext:
        return FilterContext(self.state, self.table, q or query(SMALL, **kw))

    def kept(self, f: Filter, q: HostQuery | None = None, **kw: Any) -> list[str]:
        """The hosts ``f`` alone keeps."""
        mask = f.mask(self.ctx(q, **kw))
        return [self.names[i] for i in np.flatnonzero(mask)]

    def explained(self, f: Filter, q: HostQuery | None = None, **kw: Any) -> Explainer:
        """The explainer of a funnel of ``f`` alone."""
        ctx = self.ctx(q, **kw)
        return Explainer(ctx, run_filters(ctx, (f.name,)))

    def buckets(self, f: Filter, q: HostQuery | None = None, **kw: Any) -> list[Bucket]:
        return self.explained(f, q, **kw).buckets()


def sized(pid: int, name: str, total: int, used: int = 0, **kw: Any
          ) -> tuple[ProviderRecord, HostInfo]:
    """A host with ``total`` of each class, ``used`` of each used."""
    return host(pid, name, {rc: Inventory(total) for rc in CLASSES},
                {rc: used for rc in CLASSES}, **kw)
