"""Candidate search: which providers (or provider trees plus sharing providers) can
satisfy a request, computed with vector operations over FleetState.

1. Each request group becomes boolean masks over provider rows: a suffixed group one
   mask (every class fits, its traits and aggregates match, on that one provider); the
   unsuffixed group one mask per class (traits are checked on the providers it ends up
   using, since its classes may come from different providers).
2. A tree is feasible when every mask reaches it: through one of its own providers, or a
   sharing provider in an aggregate with one of them. Feasible roots are found with a
   handful of array operations whatever the fleet size.
3. Flat trees that no sharing provider serves (the usual compute host) yield their one
   candidate directly; the rest are enumerated (a product of the per-group choices,
   bounded per tree), checking group_policy=isolate, same_subtree, the unsuffixed
   group's traits, and capacity for amounts that several groups put on one provider.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.engine.request import Candidate, CandidateRequest, RequestGroup
from corral.engine.state import FleetState

Mask = npt.NDArray[np.bool_]

#: Combinations examined per tree before the search moves on (bounds deep trees).
MAX_COMBINATIONS_PER_TREE = 10_000


@dataclass
class _Slot:
    """One choice to make: a suffixed group (all its classes), or one class of the
    unsuffixed group."""

    suffix: str
    resources: dict[str, int]
    mask: Mask


def _fits(state: FleetState, rc: str, amount: int) -> Mask:
    n = state.n
    col = state.classes.index.get(rc)
    if col is None or col >= state.capacity.shape[1]:
        return np.zeros(n, dtype=bool)
    return (state.has[:n, col]
            & (state.used[:n, col] + amount <= state.capacity[:n, col])
            & (state.min_unit[:n, col] <= amount)
            & (state.max_unit[:n, col] >= amount)
            & (amount % state.step[:n, col] == 0))


def _traits_mask(state: FleetState, required: tuple[frozenset[str], ...],
                 forbidden: frozenset[str]) -> Mask:
    mask = np.ones(state.n, dtype=bool)
    for any_of in required:
        hit = np.zeros(state.n, dtype=bool)
        for name in any_of:
            hit |= state.has_trait(name)
        mask &= hit
    for name in forbidden:
        mask &= ~state.has_trait(name)
    return mask


def _group_filter(state: FleetState, g: RequestGroup, base: Mask) -> Mask:
    """Aggregates and in_tree: everything about a group except resources and traits."""
    n = state.n
    root = state.root[:n]
    mask = base.copy()
    for any_of in g.member_of:
        member = state.in_aggregates(any_of)
        mask &= member | member[root]
    if g.forbidden_aggregates:
        member = state.in_aggregates(g.forbidden_aggregates)
        mask &= ~(member | member[root])
    if g.in_tree is not None:
        rows = [state.row_of[r.id] for r in state.records if r is not None and r.uuid == g.in_tree]
        if not rows:
            return np.zeros(n, dtype=bool)
        mask &= root == root[rows[0]]
    return mask


class Search:
    """One query against one state snapshot (the caller holds the state's lock)."""

    def __init__(self, state: FleetState, req: CandidateRequest) -> None:
        self.state = state
        self.req = req
        n = state.n
        self.n = n
        self.root = state.root[:n]
        self.parent = state.parent[:n]
        alive = state.alive[:n].copy()
        if not req.nested:
            alive &= self.parent < 0
        root_ok = _traits_mask(state, (tuple(frozenset([t]) for t in req.root_required)),
                               req.root_forbidden) & alive
        self.root_ok = root_ok
        sharing = state.sharing[:n] & alive
        # A sharing provider is judged on its own; a tree's providers by their root.
        base = alive & (root_ok[self.root] | sharing)
        self.links = {s: m for s, m in state.sharing_links().items() if alive[s]}
        self.slots: list[_Slot] = []
        self.unsuffixed: RequestGroup | None = None
        for g in req.groups:
            filt = _group_filter(state, g, base)
            if g.suffix == "":
                self.unsuffixed = g
                for rc, amount in g.resources:
                    self.slots.append(_Slot("", {rc: amount}, filt & _fits(state, rc, amount)))
            else:
                mask = filt & _traits_mask(state, g.required, g.forbidden)
                for rc, amount in g.resources:
                    mask &= _fits(state, rc, amount)
                self.slots.append(_Slot(g.suffix, dict(g.resources), mask))

    # -- feasibility -----------------------------------------------------------------------

    def _reach(self, mask: Mask) -> tuple[Mask, Mask]:
        """Roots a mask reaches: (directly or via sharing, via sharing only)."""
        reach = np.zeros(self.n, dtype=bool)
        reach[self.root[mask]] = True
        shared = np.zeros(self.n, dtype=bool)
        for s, roots in self.links.items():
            if mask[s]:
                shared |= roots
        return reach | shared, shared

    def feasible_roots(self) -> tuple[npt.NDArray[np.int64], Mask]:
        ok = self.root_ok & (self.parent < 0)
        via_sharing = np.zeros(self.n, dtype=bool)
        for slot in self.slots:
            reach, shared = self._reach(slot.mask)
            ok &= reach
            via_sharing |= shared
        tree_size = self.state.tree_size[: self.n]
        simple = ok & (tree_size == 1) & ~via_sharing
        return np.flatnonzero(ok), simple

    # -- candidates ------------------------------------------------------------------------

    def candidates(self, limit: int | None = None) -> list[Candidate]:
        if not self.slots:
            return []
        roots, simple = self.feasible_roots()
        simple_ok = self._simple_checks(simple)
        out: list[Candidate] = []
        members = self._tree_members(roots[~simple[roots]]) if (~simple[roots]).any() else {}
        # A candidate made only of sharing providers can be reached from every tree they
        # serve; it is listed once. (Other candidates include a provider of their own tree
        # and cannot repeat across trees.)
        seen: set[frozenset[tuple[int, str, int]]] = set()
        sharing = self.state.sharing
        for r in roots.tolist():
            if simple[r]:
                if simple_ok[r]:
                    cand = self._single(r)
                    if sharing[r]:
                        key = _key(cand.allocations)
                        if key in seen:
                            continue
                        seen.add(key)
                    out.append(cand)
            else:
                for cand in self._enumerate(r, members.get(r, [r]), seen):
                    out.append(cand)
                    if limit is not None and len(out) >= limit:
                        break
            if limit is not None and len(out) >= limit:
                break
        return out

    def _single(self, r: int) -> Candidate:
        resources: dict[str, int] = {}
        mappings: dict[str, list[int]] = {}
        for slot in self.slots:
            for rc, amount in slot.resources.items():
                resources[rc] = resources.get(rc, 0) + amount
            mappings.setdefault(slot.suffix, [r])
        return Candidate({r: resources}, mappings)

    def _simple_checks(self, simple: Mask) -> Mask:
        """Checks for one-provider candidates, vectorised over every simple root."""
        ok = simple.copy()
        if not ok.any():
            return ok
        suffixed = [s for s in self.slots if s.suffix != ""]
        if self.req.group_policy == "isolate" and len({s.suffix for s in suffixed}) > 1:
            return np.zeros(self.n, dtype=bool)
        if self.unsuffixed is not None:
            ok &= _traits_mask(self.state, self.unsuffixed.required, self.unsuffixed.forbidden)
        totals: dict[str, int] = {}
        counts: dict[str, int] = {}
        for slot in self.slots:
            for rc, amount in slot.resources.items():
                totals[rc] = totals.get(rc, 0) + amount
                counts[rc] = counts.get(rc, 0) + 1
        st = self.state
        for rc, total in totals.items():
            if counts[rc] > 1:
                col = st.classes.index[rc]
                ok &= st.used[: self.n, col] + total <= st.capacity[: self.n, col]
        return ok

    def _tree_members(self, roots: npt.NDArray[np.int64]) -> dict[int, list[int]]:
        alive = self.state.alive[: self.n]
        wanted = np.zeros(self.n, dtype=bool)
        wanted[roots] = True
        rows = np.flatnonzero(alive & wanted[self.root])
        out: dict[int, list[int]] = {}
        for row, r in zip(rows.tolist(), self.root[rows].tolist(), strict=True):
            out.setdefault(r, []).append(row)
        return out

    def _enumerate(self, r: int, tree: list[int],
                   seen: set[frozenset[tuple[int, str, int]]]) -> Iterator[Candidate]:
        state = self.state
        options: list[list[int]] = []
        for slot in self.slots:
            opts = [row for row in tree if slot.mask[row]]
            opts += [s for s, roots in self.links.items() if slot.mask[s] and roots[r] and s not in opts]
            if not opts:
                return
            options.append(opts)
        local: set[frozenset[tuple[int, str, int]]] = set()
        sharing = state.sharing
        for combo in itertools.islice(itertools.product(*options), MAX_COMBINATIONS_PER_TREE):
            if not self.req.nested:
                own = {row for row in combo if not sharing[row] or row == r}
                if len(own) > 1:
                    continue
            if self.req.group_policy == "isolate":
                by_group: dict[str, set[int]] = {}
                for slot, row in zip(self.slots, combo, strict=True):
                    if slot.suffix:
                        by_group.setdefault(slot.suffix, set()).add(row)
                used_rows = [next(iter(v)) for v in by_group.values()]
                if len(set(used_rows)) != len(used_rows):
                    continue
            allocations: dict[int, dict[str, int]] = {}
            mappings: dict[str, list[int]] = {}
            for slot, row in zip(self.slots, combo, strict=True):
                res = allocations.setdefault(row, {})
                for rc, amount in slot.resources.items():
                    res[rc] = res.get(rc, 0) + amount
                rows = mappings.setdefault(slot.suffix, [])
                if row not in rows:
                    rows.append(row)
            if not self._unsuffixed_traits_ok(mappings.get("", [])):
                continue
            if not self._same_subtree_ok(mappings):
                continue
            if not self._merged_capacity_ok(allocations):
                continue
            allocations = {row: res for row, res in allocations.items() if res}
            key = _key(allocations)
            only_shared = all(sharing[row] and row != r for row in allocations)
            bucket = seen if only_shared else local
            if key in bucket:
                continue
            bucket.add(key)
            yield Candidate(allocations, mappings)

    def _unsuffixed_traits_ok(self, rows: list[int]) -> bool:
        g = self.unsuffixed
        if g is None or (not g.required and not g.forbidden):
            return True
        names: set[str] = set()
        for row in rows:
            rec = self.state.records[row]
            if rec is not None:
                names |= rec.traits
        return all(any_of & names for any_of in g.required) and not (g.forbidden & names)

    def _same_subtree_ok(self, mappings: dict[str, list[int]]) -> bool:
        for suffixes in self.req.same_subtree:
            rows = [row for sfx in suffixes for row in mappings.get(sfx, [])]
            if not rows:
                continue
            lines = {row: set(self.state.ancestors(row)) for row in rows}
            if not any(all(top in lines[row] for row in rows) for top in rows):
                return False
        return True

    def _merged_capacity_ok(self, allocations: dict[int, dict[str, int]]) -> bool:
        st = self.state
        for row, res in allocations.items():
            for rc, amount in res.items():
                col = st.classes.index[rc]
                if st.used[row, col] + amount > st.capacity[row, col]:
                    return False
        return True


def _key(allocations: dict[int, dict[str, int]]) -> frozenset[tuple[int, str, int]]:
    return frozenset((row, rc, a) for row, res in allocations.items() for rc, a in res.items())


def find_candidates(state: FleetState, req: CandidateRequest) -> list[Candidate]:
    return Search(state, req).candidates(req.limit)
