"""Capacity arithmetic: how many instances of a request fit per host, and what is stranded.

Pure NumPy over the FleetState and HostTable the scheduler decides on; no I/O. A host's
count is what the scheduler would place there one after another: for every class of
the request, the units free on a provider (usable capacity, ratios and reserved
amounts already applied, minus used) divided by the amount asked, on providers where
the amount respects ``min_unit``, ``max_unit`` and ``step_size``; the smallest over the
classes; capped by the instances the host may still take (``max_instances_per_host``
less the consumers already there). Which hosts count at all is decided by the
scheduler's own filters (:func:`corral.scheduler.runner.run_filters`): those that read
no usage (:attr:`corral.scheduler.plugin.Filter.usage`), since usage is what is counted.

Provider trees: each class of the unsuffixed group (and each suffixed group, all its
classes on one provider) is counted over every provider of the host's tree, summed;
the count is the smallest over those slots. That is exact for the usual host (one
provider) and for trees whose providers serve different classes; where a class is
asked by several groups, or a sharing provider serves the tree, it is an estimate,
kept consistent with the candidates engine: a host the engine cannot serve counts 0,
and one it can serve counts at least 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.engine.masks import traits_mask
from corral.engine.request import CandidateRequest
from corral.engine.state import FleetState
from corral.scheduler.filters import FILTERS
from corral.scheduler.hosts import HostTable
from corral.scheduler.query import FilterContext, Mask, feasible
from corral.scheduler.runner import run_filters

Counts = npt.NDArray[np.int64]

#: Stands for "no limit" before the instance cap applies (a request of no resources).
UNBOUNDED = np.iinfo(np.int64).max // 4


def _fits_per_row(state: FleetState, rc: str, amount: int) -> Counts:
    """Instances of ``amount`` units of ``rc`` each provider row can still take."""
    n = state.n
    col = state.classes.index.get(rc)
    if col is None or col >= state.capacity.shape[1]:
        return np.zeros(n, dtype=np.int64)
    free = np.maximum(state.capacity[:n, col] - state.used[:n, col], 0)
    ok = (state.has[:n, col] & state.alive[:n]
          & (state.min_unit[:n, col] <= amount) & (state.max_unit[:n, col] >= amount)
          & (amount % state.step[:n, col] == 0))
    return np.where(ok, free // amount, 0).astype(np.int64)


def per_tree(state: FleetState, request: CandidateRequest) -> Counts:
    """Instances of ``request`` each tree can take by resources alone, at its root row
    (other rows hold 0). See the module docstring for trees of several providers."""
    n = state.n
    root = state.root[:n]
    alive = state.alive[:n]
    best = np.full(n, UNBOUNDED, dtype=np.int64)
    for g in request.groups:
        if not g.resources:
            continue
        if g.suffix == "":
            slots = [_fits_per_row(state, rc, amount) for rc, amount in g.resources]
        else:
            k = np.full(n, UNBOUNDED, dtype=np.int64)
            for rc, amount in g.resources:
                k = np.minimum(k, _fits_per_row(state, rc, amount))
            k[~traits_mask(state, g.required, g.forbidden)] = 0
            slots = [k]
        for k in slots:
            # Sharing providers are their own roots; they serve no host here.
            k = np.where(alive & ~state.sharing[:n], k, 0)
            summed = np.bincount(root, weights=k.astype(np.float64), minlength=n)
            best = np.minimum(best, np.rint(summed).astype(np.int64))
    best[(state.parent[:n] >= 0) | ~alive] = 0
    return best


def nested(state: FleetState) -> bool:
    """Whether some tree has several providers, or a sharing provider exists (the
    arithmetic is then checked against the candidates engine)."""
    n = state.n
    return bool((state.tree_size[:n] > 1).any() or (state.sharing[:n] & state.alive[:n]).any())


def eligible(ctx: FilterContext, filters: Sequence[str]) -> Mask:
    """Hosts the request may use at all: the enabled filters but those reading usage
    (free units, instances), which are the counts themselves."""
    return run_filters(ctx, tuple(f for f in filters if not FILTERS[f].usage)).passed


def per_host(ctx: FilterContext, allowed: Mask, *, check_engine: bool | None = None) -> Counts:
    """Instances of ``ctx.query``'s request each host can take now (0 where not
    ``allowed``), counted as the scheduler would place them one after another.

    Args:
        allowed: the hosts the policy filters kept (:func:`eligible`).
        check_engine: run the candidates engine's verdict too (default: only when the
            fleet has trees of several providers or sharing providers, where the
            per-tree arithmetic is an estimate).
    """
    state, hosts = ctx.state, ctx.hosts
    trees = per_tree(state, ctx.query.request)
    counts = ctx.count_at_hosts(trees)
    room = np.maximum(hosts.max_instances - ctx.count_at_hosts(state.consumers), 0)
    counts = np.minimum(counts, room)
    counts[~(allowed & ctx.loaded)] = 0
    if check_engine if check_engine is not None else nested(state):
        served = feasible(ctx) & allowed & (room > 0)
        counts = np.where(served, np.maximum(counts, 1), 0)
    return np.asarray(counts, dtype=np.int64)


def usable(ctx: FilterContext) -> Mask:
    """Hosts whose capacity counts as usable: those every liveness filter keeps (up,
    enabled and loaded in the engine)."""
    ok = ctx.loaded.copy()
    for f in FILTERS.values():
        if f.liveness:
            ok &= f.mask(ctx)
    return ok


@dataclass(frozen=True)
class HostResources:
    """Per host (HostTable order) and class (``classes`` order), summed over its tree."""

    classes: list[str]
    capacity: Counts
    used: Counts

    @property
    def free(self) -> Counts:
        free: Counts = np.maximum(self.capacity - self.used, 0)
        return free


def host_resources(state: FleetState, hosts: HostTable, rows: npt.NDArray[np.int64]
                   ) -> HostResources:
    """Capacity and used per host and class (sharing providers left out)."""
    n = state.n
    k = len(state.classes)
    live = state.alive[:n] & ~state.sharing[:n]
    root = state.root[:n]
    loaded = rows >= 0
    capacity = np.zeros((hosts.n, k), dtype=np.int64)
    used = np.zeros((hosts.n, k), dtype=np.int64)
    if k and n:
        cap = np.where(live[:, None] & state.has[:n, :k], state.capacity[:n, :k], 0)
        use = np.where(live[:, None], state.used[:n, :k], 0)
        if (state.tree_size[:n] > 1).any():  # sum each tree at its root
            tree_cap = np.zeros((n, k), dtype=np.int64)
            tree_use = np.zeros((n, k), dtype=np.int64)
            np.add.at(tree_cap, root, cap)
            np.add.at(tree_use, root, use)
            cap, use = tree_cap, tree_use
        capacity[loaded] = cap[rows[loaded]]
        used[loaded] = use[rows[loaded]]
    return HostResources(list(state.classes.names[:k]), capacity, used)


@dataclass(frozen=True)
class Stranded:
    """Per host: whether all its free units are stranded, and the units per class."""

    hosts: Mask
    units: Counts
    """(hosts, classes): the free units of stranded hosts, 0 elsewhere."""
    share: npt.NDArray[np.float64]
    """Per host: the largest share of a class's capacity stranded there (0..1)."""


def stranded(resources: HostResources, fits: Counts, usable_hosts: Mask) -> Stranded:
    """Free units no flavor can use: on a usable host with free units where no flavor
    fits at all (``fits``: (flavors, hosts) counts), every free unit is stranded.
    With no flavors, nothing is."""
    free = resources.free
    if fits.shape[0] == 0:
        none = np.zeros(free.shape[0], dtype=bool)
    else:
        none = (fits.max(axis=0) == 0) & usable_hosts & (free > 0).any(axis=1)
    units = np.where(none[:, None], free, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(resources.capacity > 0, units / np.maximum(resources.capacity, 1), 0.0)
    share = ratio.max(axis=1) if ratio.shape[1] else np.zeros(free.shape[0])
    return Stranded(none, units, np.asarray(share, dtype=np.float64))


def exhausted(resources: HostResources, host: int, smallest: Mapping[str, int]) -> list[str]:
    """The classes of ``host`` with fewer free units than the smallest amount any
    flavor asks of them (``smallest``: {class: amount})."""
    free = resources.free[host]
    out = []
    for rc, amount in sorted(smallest.items()):
        col = resources.classes.index(rc) if rc in resources.classes else None
        if col is None or free[col] < amount:
            out.append(rc)
    return out
