"""Allocation candidates as Placement shows them: the allocation requests and the
provider summaries, rendered from the engine's columns."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from corral.domain import bounds
from corral.engine.request import Candidate, CandidateRequest
from corral.engine.state import FleetState


@dataclass(frozen=True)
class ProviderSummary:
    uuid: str
    parent_uuid: str | None
    root_uuid: str
    resources: dict[str, tuple[int, int]]  # class -> (capacity, used)
    traits: list[str]


@dataclass(frozen=True)
class AllocationRequest:
    allocations: dict[str, dict[str, int]]
    mappings: dict[str, list[str]]


def render(st: FleetState, found: list[Candidate], req: CandidateRequest, requested_only: bool
           ) -> tuple[list[AllocationRequest], dict[str, ProviderSummary]]:
    """The allocation requests and provider summaries of ``found`` (caller holds the
    engine's lock)."""
    uuid_of = st.uuid_of
    requests = [AllocationRequest(
        {uuid_of[row]: res for row, res in c.allocations.items()},
        {sfx: [uuid_of[row] for row in rows] for sfx, rows in c.mappings.items()})
        for c in found]
    rows = {row for c in found for row in c.allocations}
    rows |= {row for c in found for rs in c.mappings.values() for row in rs}
    if req.nested and rows:
        n = st.n
        roots = np.zeros(n, dtype=bool)
        roots[st.root[np.fromiter(rows, dtype=np.int64)]] = True
        rows |= set(np.flatnonzero(st.alive[:n] & roots[st.root[:n]]).tolist())
    wanted = {rc for g in req.groups for rc, _ in g.resources}
    names = st.classes.names
    # Columns in class-name order, as summaries list them; the rows' columns read at
    # once (a handful of array reads, not one per provider and class).
    cols = sorted(range(st.capacity.shape[1]), key=lambda c: names[c] if c < len(names)
                  else "")
    cols = [c for c in cols if c < len(names)
            and (not requested_only or names[c] in wanted)]
    order = sorted(rows)
    at = np.array(order, dtype=np.int64)
    alive, parents, roots = (st.alive[at].tolist(), st.parent[at].tolist(),
                             st.root[at].tolist())
    has, capacity, used = st.has[at].tolist(), st.capacity[at].tolist(), st.used[at].tolist()
    summaries: dict[str, ProviderSummary] = {}
    for i, row in enumerate(order):
        if not alive[i]:
            continue
        # A capacity at the arrays' ceiling is shown as written.
        resources = {names[c]: (capacity[i][c] if capacity[i][c] < bounds.ENGINE_CAPACITY_MAX
                                else st.capacity_of(row, c), used[i][c])
                     for c in cols if has[i][c]}
        uuid = uuid_of[row]
        summaries[uuid] = ProviderSummary(
            uuid, uuid_of[parents[i]] if parents[i] >= 0 else None,
            uuid_of[roots[i]] or uuid, resources, _sorted_traits(st.traits_of(row)))
    return requests, summaries


@functools.lru_cache(maxsize=4096)
def _trait_list(traits: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(traits, key=_trait_order))


def _sorted_traits(traits: frozenset[str]) -> list[str]:
    """``traits`` in the order summaries list them (sorted once per distinct set)."""
    return list(_trait_list(traits))


def _trait_order(name: str) -> tuple[bool, str]:
    """Standard traits before custom ones, as Placement lists them (in the order its
    database holds them: the standard catalogue is written first); by name within each."""
    return name.startswith("CUSTOM_"), name


def without_limit(req: CandidateRequest) -> CandidateRequest:
    return replace(req, limit=None)


def one_per_allocation(found: list[Candidate]) -> list[Candidate]:
    """One of the candidates that differ only in their mappings."""
    seen: set[frozenset[tuple[int, str, int]]] = set()
    out = []
    for c in found:
        key = frozenset((row, rc, n) for row, res in c.allocations.items() for rc, n in res.items())
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
