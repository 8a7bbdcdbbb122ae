"""Checks of one combination of providers, for a tree enumerated lazily (too many
combinations to join as arrays, engine/search.py): the unsuffixed group's traits over the
providers it uses, same_subtree, merged capacity and max_unit; and what tells two
candidates apart, one by one here and all at once over a joined table
(:func:`first_of_each`); and what a search would cost, to refuse a request whose work
passes the bound before doing any of it (:func:`refuse_past`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from corral.domain.errors import BadQuery
from corral.engine.request import Candidate, RequestGroup
from corral.engine.state import FleetState


def unsuffixed_traits_ok(state: FleetState, g: RequestGroup | None, rows: list[int]) -> bool:
    if g is None or (not g.required and not g.forbidden):
        return True
    names: set[str] = set()
    for row in rows:
        if state.alive[row]:
            names |= state.traits_of(row)
    return all(any_of & names for any_of in g.required) and not (g.forbidden & names)


def same_subtree_ok(state: FleetState, same_subtree: Iterable[Iterable[str]],
                    mappings: dict[str, list[int]]) -> bool:
    for suffixes in same_subtree:
        rows = [row for sfx in suffixes for row in mappings.get(sfx, [])]
        if not rows:
            continue
        lines = {row: set(state.ancestors(row)) for row in rows}
        if not any(all(top in lines[row] for row in rows) for top in rows):
            return False
    return True


def merged_capacity_ok(state: FleetState, allocations: dict[int, dict[str, int]]) -> bool:
    for row, res in allocations.items():
        for rc, amount in res.items():
            col = state.classes.index[rc]
            if state.used[row, col] + amount > state.capacity[row, col]:
                return False
            if amount > state.max_unit[row, col]:
                return False
    return True


Identity = tuple[frozenset[tuple[int, str, int]], frozenset[tuple[str, frozenset[int]]]]


def identity(c: Candidate) -> Identity:
    """What tells two candidates apart: their allocations and their mappings."""
    return (frozenset((row, rc, a) for row, res in c.allocations.items() for rc, a in res.items()),
            frozenset((sfx, frozenset(rows)) for sfx, rows in c.mappings.items()))


def first_of_each(slots: Sequence[tuple[str, Mapping[str, int]]], n: int,
                  picks: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """Indices of the first occurrence of every distinct candidate, in table order.

    ``slots`` are (group suffix, resources) per column of ``picks``, ``n`` the number of
    provider rows. Two combinations are the same candidate when they put the same
    amounts on the same providers *for the same groups* (as Placement, which tells
    candidates apart by their mappings too): an order-free sum, hashed with random
    64-bit weights per provider, class and group.
    """
    rng = np.random.default_rng(20261124)
    row_w = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    row_v = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    class_w = {rc: np.uint64(rng.integers(1, 2**63, dtype=np.uint64) | 1)
               for _suffix, resources in slots for rc in resources}
    group_w = {suffix: np.uint64(rng.integers(1, 2**63, dtype=np.uint64) | 1)
               for suffix, _resources in slots}
    h = np.zeros(picks[0].shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for (suffix, resources), p in zip(slots, picks, strict=True):
            signature = np.uint64(0 if resources else 1)
            for rc, amount in resources.items():
                h += row_w[p] * class_w[rc] * np.uint64(amount)
                signature += class_w[rc] * np.uint64(amount)
            h += row_v[p] * group_w[suffix] * signature
    _, first = np.unique(h, return_index=True)
    first.sort()
    return first


def combinations_to_examine(sizes: npt.NDArray[np.float64], slots: int, per_tree: int,
                            limit: int | None) -> int:
    """The work of a search: the candidates it could build (each feasible tree's
    combinations, ``sizes``, at most ``per_tree`` of them; at most ``limit`` in all),
    each counted once per slot it fills. Building and rendering the candidates is
    what costs (about 25 µs a placement, measured): joining the arrays is cheap."""
    combinations = int(np.minimum(sizes, per_tree).sum())
    return (combinations if limit is None else min(combinations, limit)) * slots


def refuse_past(work: int, bound: int) -> None:
    """A 400 naming the bound when ``work`` passes it, before any of it is done."""
    if work > bound:
        raise BadQuery(f"Invalid query string parameters: this request could build {work} "
                       "group placements (each combination of providers counted once per "
                       f"request group or class it places); at most {bound} are allowed "
                       "(max_candidate_combinations). Pass a smaller limit, name fewer "
                       "request groups, or narrow them with required traits, member_of or "
                       "in_tree.")
