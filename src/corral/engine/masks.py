"""Boolean masks over provider rows: where an amount of a class fits, which providers
carry the traits asked for, and a group's aggregates and in_tree (the first step of the
candidate search, engine/search.py; headroom counting reads traits_mask too)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from corral.engine.request import RequestGroup
from corral.engine.state import FleetState

Mask = npt.NDArray[np.bool_]


def fits(state: FleetState, rc: str, amount: int) -> Mask:
    n = state.n
    col = state.classes.index.get(rc)
    if col is None or col >= state.capacity.shape[1]:
        return np.zeros(n, dtype=bool)
    fits = (state.has[:n, col]
            & (state.used[:n, col] + amount <= state.capacity[:n, col])
            & (state.min_unit[:n, col] <= amount)
            & (state.max_unit[:n, col] >= amount)
            & (amount % state.step[:n, col] == 0))
    return np.asarray(fits, dtype=bool)


def traits_mask(state: FleetState, required: Sequence[frozenset[str]],
                forbidden: frozenset[str]) -> Mask:
    """Providers with one of each ``required`` set of traits and none ``forbidden``."""
    mask = np.ones(state.n, dtype=bool)
    for any_of in required:
        hit = np.zeros(state.n, dtype=bool)
        for name in any_of:
            hit |= state.has_trait(name)
        mask &= hit
    for name in forbidden:
        mask &= ~state.has_trait(name)
    return mask


def group_filter(state: FleetState, g: RequestGroup, base: Mask) -> Mask:
    """Aggregates and in_tree: everything about a group except resources and traits.

    As Placement: a provider serving the unsuffixed group matches an aggregate when it
    or its root is in it (an aggregate on a compute node covers its whole tree); a
    provider serving a suffixed group must be in the aggregate itself.
    """
    n = state.n
    root = state.root[:n]
    mask = base.copy()
    whole_tree = g.suffix == ""
    for any_of in g.member_of:
        member = state.in_aggregates(any_of)
        mask &= (member | member[root]) if whole_tree else member
    if g.forbidden_aggregates:
        member = state.in_aggregates(g.forbidden_aggregates)
        mask &= ~((member | member[root]) if whole_tree else member)
    if g.in_tree is not None:
        named = state.row_of_uuid.get(g.in_tree)
        if named is None:
            return np.zeros(n, dtype=bool)
        mask &= root == root[named]
    return mask
