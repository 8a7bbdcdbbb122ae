"""Candidate search: which providers (or provider trees plus sharing providers) can
satisfy a request, computed with vector operations over FleetState.

1. Each request group becomes boolean masks over provider rows: a suffixed group one
   mask (every class fits, its traits and aggregates match, on that one provider); the
   unsuffixed group one mask per class (traits are checked on the providers it ends up
   using, since its classes may come from different providers).
2. A tree is feasible when every mask reaches it: through one of its own providers, or a
   sharing provider in an aggregate with one of them. Feasible roots are found with a
   handful of array operations whatever the fleet size.
3. The per-slot choices of every feasible tree are joined as arrays, one row per
   combination (a relational join done with np.repeat), and filtered with vector
   operations: group_policy=isolate, same_subtree, the unsuffixed group's traits over
   the providers it uses, and capacity and max_unit where several groups land on one
   provider. Duplicates go by an order-free hash. Only the survivors become Python
   objects. A tree with more than JOIN_LIMIT_PER_TREE combinations is enumerated
   lazily instead, examining at most MAX_COMBINATIONS_PER_TREE of them (counted in
   ``Search.truncated_trees``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.engine.combinations import (
    Identity,
    combinations_to_examine,
    first_of_each,
    identity,
    merged_capacity_ok,
    refuse_past,
    same_subtree_ok,
    unsuffixed_traits_ok,
)
from corral.engine.masks import Mask, fits, group_filter, traits_mask
from corral.engine.request import Candidate, CandidateRequest, RequestGroup
from corral.engine.state import FleetState

#: Combinations examined per tree before the search moves on (bounds deep trees).
MAX_COMBINATIONS_PER_TREE = 10_000
#: Trees with more combinations than this are enumerated lazily, not joined as arrays.
JOIN_LIMIT_PER_TREE = MAX_COMBINATIONS_PER_TREE


@dataclass
class _Slot:
    """One choice to make: a suffixed group (all its classes), or one class of the
    unsuffixed group."""

    suffix: str
    resources: dict[str, int]
    mask: Mask
    confined: bool = False
    """The unsuffixed group names an in_tree: its providers then serve that tree only, so a
    sharing provider named there does not serve the trees it shares with (as Placement;
    a suffixed group's sharing provider still serves them)."""


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
        root_ok = traits_mask(state, (tuple(frozenset([t]) for t in req.root_required)),
                               req.root_forbidden) & alive
        self.root_ok = root_ok
        sharing = state.sharing[:n] & alive
        # A sharing provider is judged on its own; a tree's providers by their root.
        base = alive & (root_ok[self.root] | sharing)
        self.links = {s: m for s, m in state.sharing_links().items() if alive[s]}
        self.slots: list[_Slot] = []
        self.truncated_trees = 0
        self.unsuffixed: RequestGroup | None = None
        for g in req.groups:
            filt = group_filter(state, g, base)
            if g.suffix == "":
                self.unsuffixed = g
                for rc, amount in g.resources:
                    self.slots.append(_Slot("", {rc: amount}, filt & fits(state, rc, amount),
                                            confined=g.in_tree is not None))
            else:
                mask = filt & traits_mask(state, g.required, g.forbidden)
                for rc, amount in g.resources:
                    mask &= fits(state, rc, amount)
                self.slots.append(_Slot(g.suffix, dict(g.resources), mask))

    # -- feasibility -----------------------------------------------------------------------

    def _links(self, slot: _Slot) -> dict[int, Mask]:
        """Sharing providers that may serve other trees for this slot."""
        return {} if slot.confined else self.links

    def _reach(self, slot: _Slot) -> Mask:
        """Roots a slot reaches: through a provider of their tree or a sharing provider."""
        reach = np.zeros(self.n, dtype=bool)
        reach[self.root[slot.mask]] = True
        for s, roots in self._links(slot).items():
            if slot.mask[s]:
                reach |= roots
        return reach

    def feasible_roots(self) -> Mask:
        ok = self.root_ok & (self.parent < 0)
        for slot in self.slots:
            ok &= self._reach(slot)
        return ok

    # -- candidates ------------------------------------------------------------------------

    def candidates(self, limit: int | None = None,
                   max_combinations: int | None = None) -> list[Candidate]:
        """Every candidate, in provider order, deduplicated; at most ``limit``.

        The per-slot choices of every feasible tree are joined as arrays (one row per
        combination), filtered with vector operations, and only the survivors become
        Candidate objects. Trees whose combinations would exceed
        JOIN_LIMIT_PER_TREE are enumerated lazily instead.

        Raises:
            BadQuery: the candidates it could build, each counted once per slot it fills
                (engine/combinations.py), pass ``max_combinations``.
        """
        if not self.slots:
            return []
        feasible = self.feasible_roots()
        if not feasible.any():
            return []
        options = [self._options(slot, feasible) for slot in self.slots]
        sizes = np.ones(self.n, dtype=np.float64)
        for roots, _rows in options:
            sizes *= np.bincount(roots, minlength=self.n)
        if max_combinations is not None:
            work = combinations_to_examine(sizes[feasible], len(self.slots),
                                           MAX_COMBINATIONS_PER_TREE, limit)
            refuse_past(work, max_combinations)
        big = feasible & (sizes > JOIN_LIMIT_PER_TREE)
        if big.any():
            options = [(r[~big[r]], rows[~big[r]]) for r, rows in options]
        table_roots, picks = self._join(options)
        keep = self._filter(picks)
        table_roots, picks = table_roots[keep], [p[keep] for p in picks]
        order = first_of_each([(slot.suffix, slot.resources) for slot in self.slots],
                              self.n, picks)
        big_roots = np.flatnonzero(big).tolist()
        if not big_roots:
            if limit is not None:
                order = order[:limit]
            return self._candidates_at(picks, order)
        out: list[Candidate] = []
        seen = {identity(c) for c in self._candidates_at(picks, order)}
        members = self._tree_members(np.asarray(big_roots, dtype=np.int64))
        # Merge the vectorised results with the lazily enumerated big trees, in root order.
        pending = [(int(table_roots[i]), 0, int(i)) for i in order]
        pending += [(r, 1, r) for r in big_roots]
        pending.sort()
        for root, kind, ref in pending:
            if limit is not None and len(out) >= limit:
                break
            if kind == 0:
                out.extend(self._candidates_at(picks, np.asarray([ref])))
                continue
            for cand in self._enumerate(root, members.get(root, [root]), seen):
                out.append(cand)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def _options(self, slot: _Slot, feasible: Mask
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(root, row) pairs: who can fill a slot for each feasible tree, sorted by root."""
        mask = slot.mask
        own = np.flatnonzero(mask & feasible[self.root])
        roots = [self.root[own]]
        rows = [own]
        for s, served in self._links(slot).items():
            if mask[s]:
                r = np.flatnonzero(served & feasible)
                r = r[r != self.root[s]]  # its own tree already counts it
                roots.append(r)
                rows.append(np.full(r.shape[0], s, dtype=np.int64))
        all_roots = np.concatenate(roots).astype(np.int64)
        all_rows = np.concatenate(rows).astype(np.int64)
        order = np.lexsort((all_rows, all_roots))
        return all_roots[order], all_rows[order]

    def _join(self, options: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
              ) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
        """Per tree, the product of every slot's choices, as parallel arrays."""
        t_roots, first_rows = options[0]
        picks = [first_rows]
        for o_roots, o_rows in options[1:]:
            counts = np.bincount(o_roots, minlength=self.n)
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            k = counts[t_roots]
            rep = np.repeat(np.arange(t_roots.shape[0]), k)
            within = np.arange(rep.shape[0]) - np.repeat(np.cumsum(k) - k, k)
            chosen = o_rows[starts[t_roots][rep] + within]
            t_roots = t_roots[rep]
            picks = [p[rep] for p in picks] + [chosen]
        return t_roots, picks

    def _filter(self, picks: list[npt.NDArray[np.int64]]) -> Mask:
        """Which joined combinations (rows of ``picks``, one column per slot) hold."""
        keep = np.ones(picks[0].shape[0], dtype=bool)
        self._keep_tree_rules(picks, keep)
        self._keep_unsuffixed_traits(picks, keep)
        self._keep_merged_capacity(picks, keep)
        self._keep_same_subtree(picks, keep)
        return keep

    def _keep_tree_rules(self, picks: list[npt.NDArray[np.int64]], keep: Mask) -> None:
        if not self.req.nested:
            # Before 1.29 a candidate may not use two providers of one tree (any one
            # provider may serve, a child alone included; a sharing provider is a tree
            # of its own).
            for a, b in itertools.combinations(range(len(picks)), 2):
                keep &= (picks[a] == picks[b]) | (self.root[picks[a]] != self.root[picks[b]])
        if self.req.group_policy == "isolate":
            firsts: dict[str, int] = {}
            for i, slot in enumerate(self.slots):
                if slot.suffix:
                    firsts.setdefault(slot.suffix, i)
            idx = list(firsts.values())
            for a, b in itertools.combinations(idx, 2):
                keep &= picks[a] != picks[b]

    def _keep_unsuffixed_traits(self, picks: list[npt.NDArray[np.int64]], keep: Mask) -> None:
        st = self.state
        size = picks[0].shape[0]
        g = self.unsuffixed
        unsuffixed = [i for i, slot in enumerate(self.slots) if slot.suffix == ""]
        if g is not None and unsuffixed and (g.required or g.forbidden):
            for any_of in g.required:
                hit = np.zeros(size, dtype=bool)
                for name in any_of:
                    has = st.has_trait(name)
                    for i in unsuffixed:
                        hit |= has[picks[i]]
                keep &= hit
            for name in g.forbidden:
                has = st.has_trait(name)
                for i in unsuffixed:
                    keep &= ~has[picks[i]]

    def _keep_merged_capacity(self, picks: list[npt.NDArray[np.int64]], keep: Mask) -> None:
        st = self.state
        size = picks[0].shape[0]
        by_class: dict[str, list[tuple[int, int]]] = {}
        for i, slot in enumerate(self.slots):
            for rc, amount in slot.resources.items():
                by_class.setdefault(rc, []).append((i, amount))
        for rc, users in by_class.items():
            if len(users) < 2:
                continue
            col = st.classes.index[rc]
            for i, _amount in users:
                merged = np.zeros(size, dtype=np.int64)
                for j, amount_j in users:
                    merged += amount_j * (picks[j] == picks[i])
                row = picks[i]
                keep &= st.used[row, col] + merged <= st.capacity[row, col]
                # What several groups put on one provider is one allocation: max_unit
                # bounds the sum, as Placement checks.
                keep &= merged <= st.max_unit[row, col]

    def _keep_same_subtree(self, picks: list[npt.NDArray[np.int64]], keep: Mask) -> None:
        size = picks[0].shape[0]
        for suffixes in self.req.same_subtree:
            cols = [i for i, slot in enumerate(self.slots) if slot.suffix in suffixes]
            if len(cols) < 2:
                continue
            any_top = np.zeros(size, dtype=bool)
            for top in cols:
                all_below = np.ones(size, dtype=bool)
                for other in cols:
                    all_below &= self._is_ancestor_or_self(picks[top], picks[other])
                any_top |= all_below
            keep &= any_top

    def _is_ancestor_or_self(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> Mask:
        hit = a == b
        cur = b.copy()
        while True:
            up = cur >= 0
            if not up.any():
                return np.asarray(hit, dtype=bool)
            cur = np.where(up, self.parent[np.maximum(cur, 0)], -1)
            hit |= (cur == a) & (cur >= 0)

    def _candidates_at(self, picks: list[npt.NDArray[np.int64]],
                       index: npt.NDArray[np.int64]) -> list[Candidate]:
        """Build Candidate objects for the table rows in ``index`` (plain Python ints)."""
        columns = [p[index].tolist() for p in picks]
        slots = [(slot.suffix, list(slot.resources.items())) for slot in self.slots]
        out: list[Candidate] = []
        for combo in zip(*columns, strict=True):
            allocations: dict[int, dict[str, int]] = {}
            mappings: dict[str, list[int]] = {}
            for (suffix, resources), row in zip(slots, combo, strict=True):
                if resources:
                    res = allocations.get(row)
                    if res is None:
                        res = allocations[row] = {}
                    for rc, amount in resources:
                        res[rc] = res.get(rc, 0) + amount
                rows = mappings.get(suffix)
                if rows is None:
                    mappings[suffix] = [row]
                elif row not in rows:
                    rows.append(row)
            out.append(Candidate(allocations, mappings))
        return out

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
                   seen: set[Identity]) -> Iterator[Candidate]:
        options: list[list[int]] = []
        for slot in self.slots:
            opts = [row for row in tree if slot.mask[row]]
            opts += [s for s, roots in self._links(slot).items()
                     if slot.mask[s] and roots[r] and s not in opts]
            if not opts:
                return
            options.append(opts)
        total = 1
        for opts in options:
            total *= len(opts)
        if total > MAX_COMBINATIONS_PER_TREE:
            self.truncated_trees += 1
        for combo in itertools.islice(itertools.product(*options), MAX_COMBINATIONS_PER_TREE):
            if not self.req.nested:
                used = set(combo)
                if len({int(self.root[row]) for row in used}) != len(used):
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
            if not unsuffixed_traits_ok(self.state, self.unsuffixed, mappings.get("", [])):
                continue
            if not same_subtree_ok(self.state, self.req.same_subtree, mappings):
                continue
            if not merged_capacity_ok(self.state, allocations):
                continue
            allocations = {row: res for row, res in allocations.items() if res}
            # One set for every tree: a candidate made only of sharing providers is
            # reached from each tree they serve, their own included.
            key = identity(Candidate(allocations, mappings))
            if key in seen:
                continue
            seen.add(key)
            yield Candidate(allocations, mappings)


def find_candidates(state: FleetState, req: CandidateRequest) -> list[Candidate]:
    return Search(state, req).candidates(req.limit)
