"""Filter ``traits``: each required trait is somewhere in the host's tree; no
forbidden one on the host."""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.hosts import HostTable
from corral.scheduler.plugin import Filter
from corral.scheduler.query import FilterContext, HostQuery, Mask


class Traits(Filter):
    name = "traits"
    rank = 50
    reason = (s.CONSTRAINT_UNSATISFIABLE, "trait")
    structural = True

    def mask(self, ctx: FilterContext) -> Mask:
        q = ctx.query
        if not q.required_traits and not q.forbidden_traits:
            return ctx.loaded.copy()
        return ctx.memo((self.name, q.required_traits, q.forbidden_traits),
                        lambda: self._mask(ctx))

    def _mask(self, ctx: FilterContext) -> Mask:
        st = ctx.state
        n = st.n
        alive = st.alive[:n]
        root = st.root[:n]
        ok = np.ones(n, dtype=bool)
        for name in ctx.query.required_traits:
            tree = np.zeros(n, dtype=bool)
            tree[root[st.has_trait(name) & alive]] = True
            ok &= tree
        for name in ctx.query.forbidden_traits:
            ok &= ~st.has_trait(name)
        return ctx.at_hosts(ok)

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        wanted = ", ".join(sorted(query.required_traits))
        unwanted = ", ".join(sorted(query.forbidden_traits))
        parts = ([f"lack one of the required traits {wanted}"] if wanted else []) + \
            ([f"or carry a forbidden trait of {unwanted}"] if unwanted else [])
        return " ".join(parts), "lack a required trait or carry a forbidden one"


FILTER = Traits()
