"""Why no valid host: from a funnel to reason codes, host buckets and nearest misses.

Every host removed is put in the bucket of the first filter that removed it (capacity
buckets split by the first resource class that does not fit), described twice: in
operator words with figures (``message``, for admins) and as a category with a count
(``summary``, for project members). The answer also says whether retrying can help:
*structural* when no host could ever take the request, even empty and up (the flavor
exceeds every host's max_unit, no host is in the zone, an anti-affinity group already
fills every eligible host); *transient* otherwise (usage, hosts down, claim races).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from corral.domain import scheduling as s
from corral.engine.filters import FILTERS, FilterContext, Funnel

Ints = npt.NDArray[np.int64]
#: Hosts named per bucket (admins), and nearest misses shown.
NAMED_HOSTS = 20
NEAREST = 3
#: The filters that depend on neither usage nor liveness.
STRUCTURAL = (s.AVAILABILITY_ZONE, s.AGGREGATE_EXTRA_SPECS, s.TENANT_ISOLATION, s.TRAITS,
              s.SAME_HOST, s.DIFFERENT_HOST)

_UNITS = {"MEMORY_MB": ("MB", "RAM"), "VCPU": ("", "vCPUs"), "DISK_GB": ("GB", "disk")}
_RATIO_KEY = {"VCPU": "cpu_allocation_ratio", "MEMORY_MB": "ram_allocation_ratio",
              "DISK_GB": "disk_allocation_ratio"}


def _amount(rc: str, n: int, adjective: str = "") -> str:
    unit, noun = _UNITS.get(rc, ("", rc))
    words = [str(n)] + ([unit] if unit else []) + ([adjective] if adjective else []) + [noun]
    return " ".join(words)


def tree_figures(ctx: FilterContext, rc: str) -> tuple[Ints, Ints, Ints]:
    """Per host, over its tree: the most free units of ``rc`` on one provider, the
    largest max_unit, and the largest usable capacity (all 0 where the tree has none)."""
    st = ctx.state
    n = st.n
    col = st.classes.index.get(rc)
    zeros = np.zeros(ctx.hosts.n, dtype=np.int64)
    if col is None or col >= st.capacity.shape[1]:
        return zeros, zeros.copy(), zeros.copy()
    has = st.has[:n, col] & st.alive[:n]
    rows = np.flatnonzero(has)
    roots = st.root[:n][rows]
    out = []
    for values in (st.capacity[:n, col] - st.used[:n, col], st.max_unit[:n, col],
                   st.capacity[:n, col]):
        per_root = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(per_root, roots, values[rows])
        per_root[per_root == np.iinfo(np.int64).min] = 0
        out.append(ctx.count_at_hosts(per_root))
    return out[0], out[1], out[2]


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value == int(value) else f"{value:g}"


def _config_words(ctx: FilterContext, rc: str, idx: Ints) -> str:
    key = _RATIO_KEY.get(rc)
    if key is None:
        return ""
    ratios = sorted({ctx.hosts.hosts[i].effective.get(key).value for i in idx.tolist()})
    words = f" under ratio {_ratio(ratios[0])}" if len(ratios) == 1 else \
        f" under ratios {_ratio(ratios[0])} to {_ratio(ratios[-1])}"
    if rc == "MEMORY_MB":
        reserved = sorted({int(ctx.hosts.hosts[i].effective.get("reserved_host_memory_mb").value)
                           for i in idx.tolist()})
        words += (f" and {reserved[0]} MB reserved" if len(reserved) == 1
                  else f" and {reserved[0]} to {reserved[-1]} MB reserved")
    return words


class Explainer:
    def __init__(self, ctx: FilterContext, funnel: Funnel) -> None:
        self.ctx = ctx
        self.funnel = funnel
        self.hosts = ctx.hosts
        self._figures: dict[str, tuple[Ints, Ints, Ints]] = {}

    def figures(self, rc: str) -> tuple[Ints, Ints, Ints]:
        if rc not in self._figures:
            self._figures[rc] = tree_figures(self.ctx, rc)
        return self._figures[rc]

    def _bucket(self, name: str, mask: npt.NDArray[np.bool_], message: str, summary: str,
                resource_class: str | None = None, **figures: Any) -> dict[str, Any]:
        code, constraint = s.FILTER_REASONS[name]
        idx = np.flatnonzero(mask)
        bucket: dict[str, Any] = {"code": code, "filter": name, "hosts": int(idx.size),
                                  "summary": f"{idx.size} hosts: {summary}",
                                  "message": f"{idx.size} hosts: {message}",
                                  "host_names": [self.hosts.names[i] for i in idx[:NAMED_HOSTS]]}
        if constraint is not None:
            bucket["constraint"] = constraint
        if resource_class is not None:
            bucket["resource_class"] = resource_class
        if figures:
            bucket["figures"] = figures
        return bucket

    # -- buckets per filter ------------------------------------------------------------------

    def buckets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        q = self.ctx.query
        for name, removed in self.funnel.removed_by().items():
            if not removed.any():
                continue
            if name == s.COMPUTE:
                down = removed & ~self.ctx.up()
                if down.any():
                    out.append(self._bucket(
                        name, down, f"down (forced down, or no heartbeat for over "
                        f"{q.down_after_s:g} s)", "down"))
                if (removed & ~down).any():
                    out.append(self._bucket(name, removed & ~down, "disabled", "disabled"))
            elif name == s.RESOURCES:
                out.extend(self._capacity_buckets(removed))
            else:
                out.append(self._bucket(name, removed, *self._words(name)))
        out.sort(key=lambda b: -int(b["hosts"]))
        return out

    def _words(self, name: str) -> tuple[str, str]:
        q = self.ctx.query
        if name == s.AVAILABILITY_ZONE:
            return f"not in availability zone {q.zone}", "not in the availability zone asked"
        if name == s.AGGREGATE_EXTRA_SPECS:
            specs = ", ".join(f"{k}={v}" for k, v in q.aggregate_specs.items())
            return (f"in no aggregate whose metadata matches {specs}",
                    "not in an aggregate matching the flavor")
        if name == s.TENANT_ISOLATION:
            return ("reserved to other projects by filter_tenant_id",
                    "reserved to other projects")
        if name == s.TRAITS:
            wanted = ", ".join(sorted(q.required_traits))
            unwanted = ", ".join(sorted(q.forbidden_traits))
            parts = ([f"lack one of the required traits {wanted}"] if wanted else []) + \
                ([f"or carry a forbidden trait of {unwanted}"] if unwanted else [])
            return " ".join(parts), "lack a required trait or carry a forbidden one"
        if name == s.SAME_HOST:
            return ("hold none of the instances named in same_host",
                    "do not hold the instances named in same_host")
        if name == s.DIFFERENT_HOST:
            return ("hold an instance named in different_host",
                    "hold an instance named in different_host")
        if name == s.SERVER_GROUP:
            if q.group_policy == s.AFFINITY:
                return ("hold no member of the affinity group",
                        "hold no member of the affinity group")
            return (f"already hold {q.max_server_per_host} or more members of the "
                    f"anti-affinity group (max_server_per_host {q.max_server_per_host})",
                    "already hold members of the anti-affinity group")
        if name == s.NUM_INSTANCES:
            caps = sorted(set(self.hosts.max_instances.tolist()))
            cap = str(caps[0]) if len(caps) == 1 else f"{caps[0]} to {caps[-1]}"
            return (f"already run max_instances_per_host instances ({cap})",
                    "run as many instances as allowed")
        return name, name

    def _capacity_buckets(self, removed: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
        left = removed.copy()
        out = []
        for rc, amount in self.ctx.query.resources.items():
            free, max_unit, _capacity = self.figures(rc)
            too_big = left & (max_unit < amount)
            if too_big.any():
                largest = int(max_unit[too_big].max())
                out.append(self._bucket(
                    s.RESOURCES, too_big,
                    f"needs {_amount(rc, amount)} on one provider; the largest allowed "
                    f"there is {_amount(rc, largest)} (max_unit)",
                    f"cannot ever fit {rc}", rc, needed=amount, largest_max_unit=largest))
                left &= ~too_big
            short = left & (free < amount)
            if short.any():
                idx = np.flatnonzero(short)
                best = int(free[short].max())
                best_host = self.hosts.names[int(idx[np.argmax(free[short])])]
                out.append(self._bucket(
                    s.RESOURCES, short,
                    f"needs {_amount(rc, amount, 'free')}{_config_words(self.ctx, rc, idx)}; "
                    f"the best has {_amount(rc, max(best, 0))}",
                    f"not enough free {rc}", rc, needed=amount, best_free=max(best, 0),
                    best_host=best_host))
                left &= ~short
        if left.any():
            out.append(self._bucket(
                s.RESOURCES, left,
                "every class fits on its own, but no single arrangement of the tree's "
                "providers satisfies the whole request (nested layout, request groups, "
                "group_policy or traits per group)",
                "no arrangement of resources fits"))
        return out

    # -- the rest of the answer ---------------------------------------------------------------

    def nearest_misses(self) -> list[dict[str, Any]]:
        removed = self.funnel.removed_by()
        q = self.ctx.query
        capacity = removed.get(s.RESOURCES)
        if capacity is not None and capacity.any():
            idx = np.flatnonzero(capacity)
            shortfall = np.zeros(idx.size)
            lacks: list[list[dict[str, Any]]] = [[] for _ in idx]
            for rc, amount in q.resources.items():
                free = self.figures(rc)[0][idx]
                short = np.maximum(amount - free, 0)
                shortfall += short / max(amount, 1)
                for k in np.flatnonzero(short):
                    lacks[k].append({"resource_class": rc, "needed": amount,
                                     "free": int(max(free[k], 0)), "short": int(short[k])})
            order = np.argsort(shortfall, kind="stable")[:NEAREST]
            out = []
            for k in order.tolist():
                what = "; ".join(f"{_amount(x['resource_class'], x['short'])} short"
                                 for x in lacks[k]) or "no single arrangement fits"
                out.append({"host": self.hosts.names[int(idx[k])], "lacks": lacks[k],
                            "message": f"{self.hosts.names[int(idx[k])]}: {what}"})
            return out
        for name, mask in reversed(list(removed.items())):
            if mask.any():
                return [{"host": self.hosts.names[i], "failed": name,
                         "message": f"{self.hosts.names[i]}: removed by {name}"}
                        for i in np.flatnonzero(mask)[:NEAREST].tolist()]
        return []

    def structural(self) -> bool:
        """True when no host could ever take the request, whatever the usage and liveness."""
        ctx, q = self.ctx, self.ctx.query
        ever = ctx.loaded & ~self.hosts.mask_of(q.exclude)
        enabled = {name for name, _ in self.funnel.steps}
        for name in STRUCTURAL:
            if name in enabled:
                ever &= FILTERS[name](ctx)
        if s.RESOURCES in enabled:
            for rc, amount in q.resources.items():
                _free, max_unit, capacity = self.figures(rc)
                ever &= (max_unit >= amount) & (capacity >= amount)
        if not ever.any():
            return True
        if s.SERVER_GROUP in enabled and q.group_policy == s.ANTI_AFFINITY:
            members = int(sum(q.group_members.values()))
            return members >= int(ever.sum()) * q.max_server_per_host
        return False

    def explain(self) -> dict[str, Any]:
        """The whole answer for a request no host can take."""
        funnel = self.funnel
        emptied = next((name for name, mask in funnel.steps if not mask.any()), None)
        buckets = self.buckets()
        detail: dict[str, str | None]
        if not funnel.considered.any():
            code, detail = s.HOSTS_UNAVAILABLE, {"constraint": None}
        elif emptied is None:
            code, detail = s.CLAIM_CONFLICT, {}
        else:
            code, constraint = s.FILTER_REASONS[emptied]
            detail = {"filter": emptied}
            if constraint is not None:
                detail["constraint"] = constraint
            classes = [b for b in buckets if b["filter"] == emptied and "resource_class" in b]
            if classes:
                detail["resource_class"] = classes[0]["resource_class"]
            elif emptied == s.NUM_INSTANCES:
                detail["resource_class"] = s.INSTANCES
        structural = self.structural()
        return {"code": code, **detail,
                "kind": "structural" if structural else "transient",
                "retry_can_help": not structural,
                "funnel": funnel.counts(),
                "buckets": buckets,
                "nearest_misses": self.nearest_misses()}
