"""Filter ``compute``: the host is up (heartbeat fresh, not forced down) and enabled."""

from __future__ import annotations

import math

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.explanation import Bucket, Evidence
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, Mask

#: Steps of one ulp :func:`since` takes either side of ``now - down_after_s`` at most.
SINCE_STEPS = 64


def since(now: float, down_after_s: float) -> float | None:
    """The oldest heartbeat still fresh at ``now``: ``now - heartbeat <= down_after_s``
    (as rounded) exactly when ``heartbeat >= since(...)``. The rounded difference only
    falls as the heartbeat grows, so the fresh heartbeats are those from one value on;
    it is found next to ``now - down_after_s`` (an ulp or two away), and the test is
    then one comparison per host instead of a subtraction and a comparison. None when
    it is not within SINCE_STEPS ulps (``now - down_after_s`` far smaller in magnitude
    than ``now``): the caller then compares the differences."""
    t = now - down_after_s
    if not math.isfinite(t):
        return t
    for _ in range(SINCE_STEPS):
        if now - t <= down_after_s:
            break
        t = math.nextafter(t, math.inf)
    else:
        return None
    for _ in range(SINCE_STEPS):
        lower = math.nextafter(t, -math.inf)
        if now - lower > down_after_s:
            return t
        t = lower
    return None


def fresh(ctx: FilterContext) -> Mask:
    """Hosts whose last heartbeat is fresh (never heard from: not). With an index, the
    mask is kept until a heartbeat is written or one crosses the threshold."""
    h, q = ctx.hosts, ctx.query
    oldest = since(q.now, q.down_after_s)
    if oldest is None:  # NaN (never heard from) compares False either way
        return np.asarray(q.now - h.heartbeat <= q.down_after_s, dtype=bool)
    if ctx.index is not None:
        return ctx.index.fresh(oldest)
    return np.asarray(h.heartbeat >= oldest, dtype=bool)


def up(ctx: FilterContext) -> Mask:
    """Hosts not forced down whose last heartbeat is fresh (never heard from: down)."""
    return np.asarray(~ctx.hosts.forced_down & fresh(ctx), dtype=bool)


class Compute(Filter):
    name = "compute"
    rank = 10
    reason = (s.HOSTS_UNAVAILABLE, None)
    liveness = True

    def mask(self, ctx: FilterContext) -> Mask:
        h = ctx.hosts
        usable = ctx.memo(self.name, lambda: np.asarray(~h.forced_down & h.enabled, dtype=bool))
        ok: Mask = usable & fresh(ctx) & ctx.loaded
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
