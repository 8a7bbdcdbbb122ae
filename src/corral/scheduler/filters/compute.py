"""Filter ``compute``: the host is up (heartbeat fresh, not forced down) and enabled."""

from __future__ import annotations

import math

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.explanation import Bucket, Evidence
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, Mask


def since(now: float, down_after_s: float) -> float:
    """The oldest heartbeat still fresh at ``now``: ``now - heartbeat <= down_after_s``
    (as rounded) exactly when ``heartbeat >= since(...)``. The rounded difference only
    falls as the heartbeat grows, so the fresh heartbeats are those from one value on;
    it is found next to ``now - down_after_s`` (an ulp or two away), and the test is
    then one comparison per host instead of a subtraction and a comparison."""
    t = now - down_after_s
    if not math.isfinite(t):
        return t
    while now - t > down_after_s:
        t = math.nextafter(t, math.inf)
    while now - math.nextafter(t, -math.inf) <= down_after_s:
        t = math.nextafter(t, -math.inf)
    return t


def up(ctx: FilterContext) -> Mask:
    """Hosts not forced down whose last heartbeat is fresh (never heard from: down)."""
    h = ctx.hosts
    fresh = h.heartbeat >= since(ctx.query.now, ctx.query.down_after_s)  # NaN: False
    return np.asarray(~h.forced_down & fresh, dtype=bool)


class Compute(Filter):
    name = "compute"
    rank = 10
    reason = (s.HOSTS_UNAVAILABLE, None)
    liveness = True

    def mask(self, ctx: FilterContext) -> Mask:
        ok: Mask = up(ctx) & ctx.hosts.enabled & ctx.loaded
        return ok

    def buckets(self, ev: Evidence, removed: Mask) -> list[Bucket]:
        """Down hosts and disabled ones, apart."""
        out = []
        down = removed & ~up(ev.ctx)
        if down.any():
            out.append(ev.bucket(self.reason, self.name, down,
                                 f"down (forced down, or no heartbeat for over "
                                 f"{ev.ctx.query.down_after_s:g} s)", "down"))
        if (removed & ~down).any():
            out.append(ev.bucket(self.reason, self.name, removed & ~down, "disabled",
                                 "disabled"))
        return out


FILTER = Compute()
