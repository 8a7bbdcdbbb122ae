"""Why no valid host: from a funnel to reason codes, host buckets and nearest misses.

Every host removed is put in the bucket(s) of the first filter that removed it, in that
filter's own words (:meth:`corral.scheduler.plugin.Filter.buckets`). The answer also
says whether retrying can help: *structural* when no host could ever take the request,
even empty and up (the flavor exceeds every host's max_unit, no host is in the zone, an
anti-affinity group already fills every eligible host); *transient* otherwise (usage,
hosts down, claim races). Every rule here iterates over the filters: none is named.
"""

from __future__ import annotations

from corral.domain import scheduling as s
from corral.scheduler.explanation import Bucket, Evidence, Explanation, NearestMiss
from corral.scheduler.filters import FILTERS
from corral.scheduler.query import FilterContext, Funnel


class Explainer(Evidence):
    """The explanation of a funnel that left no host (or whose claims kept losing)."""

    def buckets(self) -> list[Bucket]:
        out: list[Bucket] = []
        for name, removed in self.funnel.removed_by().items():
            if removed.any():
                out.extend(FILTERS[name].buckets(self, removed))
        out.sort(key=lambda b: -b.hosts)
        return out

    def nearest_misses(self) -> list[NearestMiss]:
        removed = self.funnel.removed_by()
        for name, mask in removed.items():
            found = FILTERS[name].nearest(self, mask)
            if found is not None:
                return found
        for name, mask in reversed(list(removed.items())):
            if mask.any():
                return self.removed_last(name, mask)
        return []

    def structural(self) -> bool:
        """True when no host could ever take the request, whatever the usage and liveness."""
        enabled = [FILTERS[name] for name, _ in self.funnel.steps]
        ever = self.ctx.loaded & ~self.hosts.mask_of(self.ctx.query.exclude)
        for f in enabled:
            mask = f.ever(self)
            if mask is not None:
                ever &= mask
        if not ever.any():
            return True
        return any(f.never(self, ever) for f in enabled)

    def explain(self, placed_before: int = 0) -> Explanation:
        """The whole answer for a request no host can take."""
        funnel = self.funnel
        emptied = next((name for name, mask in funnel.steps if not mask.any()), None)
        buckets = self.buckets()
        code, constraint, rc = s.CLAIM_CONFLICT, None, None
        if not funnel.considered.any():
            code = s.HOSTS_UNAVAILABLE
        elif emptied is not None:
            (code, constraint), rc = FILTERS[emptied].reason, FILTERS[emptied].emptied_class(buckets)
        return Explanation(code, self.structural(), funnel.counts(), buckets,
                           self.nearest_misses(),
                           filter=emptied if funnel.considered.any() else None,
                           constraint=constraint, resource_class=rc,
                           unavailable=not funnel.considered.any(),
                           placed_before_refusal=placed_before)

def explain(ctx: FilterContext, funnel: Funnel, placed_before: int = 0) -> Explanation:
    """Why ``funnel`` left no host (``placed_before``: instances of the same request
    placed before this one did not fit)."""
    return Explainer(ctx, funnel).explain(placed_before)
