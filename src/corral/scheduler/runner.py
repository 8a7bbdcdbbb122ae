"""One decision, pure: run the enabled filters (the funnel), weigh the hosts left, pick.

What a request asks (:class:`Ask`) becomes what it asks of the hosts
(:func:`host_query_of`; the services add the group's members and the hinted hosts from
the store). :func:`pick` chooses a host per instance, each choice seeing the ones
before it, applied to the engine's arrays (the caller restores them with
:func:`restore`). No I/O: the claim, the records and the retries are the services'.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from corral.domain import scheduling as s
from corral.domain.flavors import Flavor, ServerGroup, placement_request
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.search import Search
from corral.engine.state import FleetState
from corral.scheduler import fast
from corral.scheduler.explain import explain
from corral.scheduler.explanation import Explanation
from corral.scheduler.filters import FILTERS
from corral.scheduler.hosts import HostTable
from corral.scheduler.index import HostIndex
from corral.scheduler.plugin import Scored, Weigher, weighted
from corral.scheduler.query import FilterContext, Floats, Funnel, HostQuery, Ints, Mask
from corral.scheduler.weighers import WEIGHERS

#: Hosts tried, best first, when the chosen one cannot be arranged for the request.
ARRANGE_TRIES = 10

#: Engine rows changed by a decision in progress: {row: (used before, consumers before)}.
Saved = dict[int, tuple[np.ndarray, int]]


@dataclass(frozen=True)
class Ask:
    """What one scheduling request asks for."""

    flavor: Flavor
    project_id: str
    user_id: str
    zone: str | None = None
    group: ServerGroup | None = None
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    exclude_hosts: frozenset[str] = frozenset()
    only_host: str | None = None
    count: int = 1
    moving: str | None = None
    """The instance being moved or rescheduled: not counted among its group's members."""


@dataclass
class Placement:
    consumer: str
    host: str
    host_id: int
    allocations: dict[str, dict[str, int]]
    alternates: list[str] = field(default_factory=list)
    zone: str | None = None


def host_query_of(ask: Ask) -> HostQuery:
    """What ``ask``'s flavor asks of the hosts (group members, hints and the rest unset)."""
    pr = placement_request(ask.flavor)
    groups = [RequestGroup("", tuple(sorted(pr.resources.items())),
                           tuple(frozenset([t]) for t in sorted(pr.required_traits)),
                           frozenset(pr.forbidden_traits))]
    totals = dict(pr.resources)
    required, forbidden = set(pr.required_traits), set(pr.forbidden_traits)
    for g in pr.groups:
        groups.append(RequestGroup(g.suffix, tuple(sorted(g.resources.items())),
                                   tuple(frozenset([t]) for t in sorted(g.required_traits)),
                                   frozenset(g.forbidden_traits)))
        for rc, n in g.resources.items():
            totals[rc] = totals.get(rc, 0) + n
        required |= g.required_traits
        forbidden |= g.forbidden_traits
    request = CandidateRequest(tuple(groups), group_policy=pr.group_policy or "none")
    return HostQuery(request=request, resources=totals, project_id=ask.project_id,
                     required_traits=frozenset(required), forbidden_traits=frozenset(forbidden),
                     zone=ask.zone, aggregate_specs=dict(pr.aggregate_specs))


def run_filters(ctx: FilterContext, names: tuple[str, ...]) -> Funnel:
    """Run ``names`` in order over the hosts not excluded; each step keeps what every
    filter so far kept. A filter that keeps every host (it returns
    :attr:`FilterContext.everyone`) leaves the step before as it was: no array work."""
    exclude = ctx.query.exclude
    considered = ~ctx.hosts.mask_of(exclude) if exclude else ctx.everyone
    steps = []
    mask = considered
    for name in names:
        kept = FILTERS[name].mask(ctx)
        if kept is not ctx.everyone:
            mask = mask & kept
        steps.append((name, mask))
    return Funnel(considered, tuple(steps))


# -- weighing --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """Scores of the candidate hosts (indexes into the HostTable), best first."""

    hosts: Ints
    total: Floats
    components: dict[str, Floats]
    """{weigher: multiplier x normalised value} per candidate, same order as ``hosts``."""


#: A weigher that counts on a table, with its multipliers there: (weigher, the one
#: multiplier every host has or None, the multiplier per host).
Active = tuple[Weigher, float | None, Floats]


def active(table: HostTable) -> list[Active]:
    """The weighers whose multiplier is not 0 everywhere on ``table``, in order."""
    out = []
    for w in WEIGHERS.values():
        const, per_host = table.weight(w.name, w.signed)
        if const != 0.0:
            out.append((w, const, per_host))
    return out


def score(view: Scored, candidates: Ints, rows: Ints,
          parts: dict[str, Floats] | None = None,
          weighers: Sequence[Active] | None = None) -> Floats | None:
    """The summed score of ``candidates`` (at provider ``rows``), every weigher's part
    added in registry order. With ``parts``, each part is kept there too (a weigher whose
    values are all equal adds a part of 0) and the sum starts from 0; without, the
    first part is the sum (None: no weigher told the hosts apart). The two sums differ
    at most in the sign of a zero, which orders the same: the live path and the
    simulator's Placer, which share this function, pick the same hosts. ``weighers``:
    :func:`active` of the view's table, when the caller keeps it."""
    total = np.zeros(candidates.size) if parts is not None else None
    if candidates.size == 0:
        return total
    for w, const, per_host in active(view.hosts) if weighers is None else weighers:
        raw = w.raw(view, candidates, rows)
        if raw is None:
            continue
        if parts is not None:
            part = weighted(raw, const, per_host, candidates)
            if part is None:  # all equal: 0, with the multiplier's sign as records show it
                part = (const if const is not None else per_host[candidates]) * \
                    np.zeros(candidates.size)
            parts[w.name] = part
            total += part  # type: ignore[operator]
        elif const == -1.0:  # pack's usual sign: subtracted (the same bits as adding -x)
            part = weighted(raw, 1.0, per_host, candidates)
            if part is not None:
                total = np.negative(part, out=part) if total is None else \
                    np.subtract(total, part, out=total)
        else:
            part = weighted(raw, const, per_host, candidates)
            if part is not None:
                total = part if total is None else np.add(total, part, out=total)
    return total


def weigh_passed(ctx: FilterContext, passed: Mask, top: int) -> Weights:
    """:func:`weigh` of the hosts ``passed`` (a mask over the table): with an index,
    by bounding blocks of hosts (scheduler/fast.py), the same answer."""
    if ctx.index is not None:
        found = fast.best(ctx, passed, top, active(ctx.hosts))
        if found is not None:
            return Weights(found.hosts, found.total, found.components)
    return weigh(ctx, np.flatnonzero(passed), top)


def sample(passed: Mask, choice: Choice, rng: random.Random) -> Mask | None:
    """The sampling mode: the hosts of ``passed`` that are weighed, when there are more
    than the minimum (None: weigh them all). Every ``1/share``-th candidate from a
    random start, so the sample covers the whole table and moves between decisions."""
    if choice.sample_percent >= 100:
        return None
    count = int(np.count_nonzero(passed))
    keep = max(choice.sample_minimum, -(-count * choice.sample_percent // 100))
    if count <= keep:
        return None
    idx = np.flatnonzero(passed)
    start = rng.randrange(count)
    chosen = idx[(start + np.arange(keep) * count // keep) % count]
    out = np.zeros(passed.size, dtype=bool)
    out[chosen] = True
    return out


def weigh(ctx: FilterContext, candidates: Ints, top: int | None = None) -> Weights:
    """Score ``candidates`` (host indexes) and return them best first (ties by name);
    with ``top``, only the best ``top`` of them (found without sorting the rest)."""
    components: dict[str, Floats] = {}
    total = score(ctx, candidates, ctx.rows[candidates], components)
    assert total is not None
    keep = best_of(candidates, total, top)
    return Weights(candidates[keep], total[keep], {k: v[keep] for k, v in components.items()})


def best_of(candidates: Ints, total: Floats, top: int | None) -> Ints:
    """Positions of the best ``top`` (all: None) of ``candidates``, best first, ties by
    index (the table is sorted by name)."""
    keep = np.arange(candidates.size)
    if top is not None and top < candidates.size:
        # The top-th best score; every host scoring at least that is kept (ties), then
        # the few kept are sorted.
        cut = np.partition(-total, top - 1)[top - 1]
        keep = np.flatnonzero(-total <= cut)
    order: Ints = keep[np.lexsort((candidates[keep], -total[keep]))][:top]
    return order


# -- choosing --------------------------------------------------------------------------------

def arrangement(ctx: FilterContext, host: int) -> dict[str, dict[str, int]] | None:
    """The allocation on ``host``'s tree: all on the host's own provider when it can
    take everything, else the first candidate the engine finds in its tree."""
    state = ctx.state
    row = int(ctx.rows[host])
    req = ctx.query.request
    root_uuid = state.uuid_of[row]
    if len(req.groups) == 1 and _fits_on_root(state, row, req):
        return {root_uuid: dict(req.groups[0].resources)}
    confined = replace(req, groups=tuple(replace(g, in_tree=root_uuid) for g in req.groups),
                       limit=1)
    found = Search(state, confined).candidates(1)
    if not found:  # a sharing provider may serve the tree: search without confining
        found = [c for c in Search(state, req).candidates(None)
                 if any(int(state.root[r]) == row for r in c.allocations)][:1]
    if not found:
        return None
    return {state.uuid_of[r]: dict(res) for r, res in found[0].allocations.items()}


def _fits_on_root(state: FleetState, row: int, req: CandidateRequest) -> bool:
    """Whether the single group of ``req`` fits whole on provider ``row``."""
    g = req.groups[0]
    traits = state.traits_of(row) if state.alive[row] else None
    ok = traits is not None and all(any(t in traits for t in any_of) for any_of in g.required)
    ok = ok and traits is not None and not (g.forbidden & traits)
    for rc, amount in g.resources:
        col = state.classes.index.get(rc)
        ok = ok and col is not None and bool(
            state.has[row, col] and state.used[row, col] + amount <= state.capacity[row, col]
            and state.min_unit[row, col] <= amount <= state.max_unit[row, col]
            and amount % state.step[row, col] == 0)
    return ok


@dataclass(frozen=True)
class Choice:
    """How many hosts a decision weighs and picks among (from the settings)."""

    filters: tuple[str, ...]
    host_subset_size: int
    max_attempts: int
    top: int
    """How many of the best weighed hosts are kept (subset, alternates, tries, record)."""
    sample_percent: int = 100
    """The sampling mode: weigh only this share of the hosts that pass (100: all)..."""
    sample_minimum: int = 100
    """...when more than this many pass (fewer are all weighed)."""


@dataclass
class Pick:
    """A decision's result: the placements, or (None) the explanation of the refusal."""

    placements: list[Placement] | None
    ctx: FilterContext
    funnel: Funnel
    weights: Weights | None
    explanation: Explanation | None = None


def pick(state: FleetState, table: HostTable, query: HostQuery, consumers: Sequence[str],
         saved: Saved, choice: Choice, rng: random.Random, index: HostIndex | None = None
         ) -> Pick:
    """Choose a host per consumer, each choice seeing the ones before it: they are
    applied to ``state`` (the rows' previous values kept in ``saved``, for the caller to
    :func:`restore`, with ``index``). When one does not fit, the explanation (computed
    while the earlier choices are still applied) comes back instead of placements.
    ``index``: the host-ordered arrays of ``table`` over ``state``, in step with it
    (scheduler/index.py): the same answer, faster (None: read every host's row)."""
    picked: list[Placement] = []
    first: Weights | None = None
    members = dict(query.group_members)
    for consumer in consumers:
        ctx = FilterContext(state, table, replace(query, group_members=members), index)
        funnel = run_filters(ctx, choice.filters)
        if not funnel.passed.any():
            return Pick(None, ctx, funnel, first, explain(ctx, funnel, len(picked)))
        sampled = sample(funnel.passed, choice, rng)
        if sampled is not None:
            funnel = replace(funnel, sampled=int(np.count_nonzero(sampled)))
            weights = weigh(ctx, np.flatnonzero(sampled), top=choice.top)
        else:
            weights = weigh_passed(ctx, funnel.passed, choice.top)
        first = first or weights
        placement = _place_one(ctx, weights, consumer, choice, rng)
        if placement is None:
            return Pick(None, ctx, funnel, first, explain(ctx, funnel, len(picked)))
        picked.append(placement)
        _apply(state, placement, saved, index)
        members[placement.host] = members.get(placement.host, 0) + 1
    return Pick(picked, ctx, funnel, first)


def _place_one(ctx: FilterContext, weights: Weights, consumer: str, choice: Choice,
               rng: random.Random) -> Placement | None:
    """The host for one consumer among the weighed, with its alternates."""
    table = ctx.hosts
    best = weights.hosts[:choice.host_subset_size]
    first = rng.randrange(best.size) if best.size > 1 else 0
    # The chosen host first, then the rest best first: a host whose tree cannot
    # actually be arranged for the request (rare: traits per group, nested layouts)
    # gives way to the next.
    order = [int(best[first])] + [int(h) for h in weights.hosts[:ARRANGE_TRIES]
                                  if int(h) != int(best[first])]
    chosen, allocation = -1, None
    for chosen in order:
        allocation = arrangement(ctx, chosen)
        if allocation is not None:
            break
    if allocation is None:
        return None
    others = [int(h) for h in weights.hosts[:choice.max_attempts]
              if int(h) != chosen][:choice.max_attempts - 1]
    return Placement(consumer, table.names[chosen], int(table.ids[chosen]), allocation,
                     [table.names[h] for h in others], table.zone[chosen])


def _apply(state: FleetState, placement: Placement, saved: Saved,
           index: HostIndex | None) -> None:
    rows = []
    for uuid, resources in placement.allocations.items():
        row = state.row_of_uuid[uuid]
        if row not in saved:
            saved[row] = (state.used[row].copy(), int(state.consumers[row]))
        for rc, amount in resources.items():
            state.used[row, state.classes.index[rc]] += amount
        state.consumers[row] += 1
        rows.append(row)
    if index is not None:
        index.touch(rows)


def restore(state: FleetState, saved: Saved, index: HostIndex | None = None) -> None:
    """Undo what :func:`pick` applied to ``state`` (and read the rows into ``index``)."""
    for row, (used, count) in saved.items():
        state.used[row] = used
        state.consumers[row] = count
    if index is not None and saved:
        index.touch(list(saved))


def group_conflict(group: ServerGroup, members: dict[str, int],
                   picked: Sequence[Placement]) -> str | None:
    """Why ``picked`` breaks ``group``'s hard policy given its ``members`` per host (None:
    it does not); ``members`` is updated with the placements checked."""
    limit = group.max_server_per_host or 1
    for p in picked:
        if group.policy == s.ANTI_AFFINITY and members.get(p.host, 0) >= limit:
            return (f"host {p.host} already holds {members[p.host]} members of anti-affinity "
                    f"group {group.id}")
        if group.policy == s.AFFINITY and members and p.host not in members:
            return (f"the members of affinity group {group.id} are on {sorted(members)[0]}, "
                    f"not {p.host}")
        members[p.host] = members.get(p.host, 0) + 1
    return None
