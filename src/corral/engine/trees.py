"""The search's questions of the fleet's columns: traits, aggregates, sharing links and
trees (a mixin of FleetState, which holds the columns)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from corral.engine.records import Names


class TreeQueries:
    """What the candidate search asks of FleetState's columns."""

    # The columns, FleetState's (declared for the type checker).
    traits: Names
    aggregates: Names
    trait_bits: npt.NDArray[np.uint64]
    agg_bits: npt.NDArray[np.uint64]
    alive: npt.NDArray[np.bool_]
    sharing: npt.NDArray[np.bool_]
    root: npt.NDArray[np.int64]
    parent: npt.NDArray[np.int64]
    sharing_links_cache: dict[int, npt.NDArray[np.bool_]] | None

    @property
    def n(self) -> int:
        raise NotImplementedError

    def has_trait(self, name: str) -> npt.NDArray[np.bool_]:
        i = self.traits.index.get(name)
        if i is None:
            return np.zeros(self.n, dtype=bool)
        word = self.trait_bits[: self.n, i // 64]
        return np.asarray((word & np.uint64(1 << (i % 64))) != 0, dtype=bool)

    def in_aggregates(self, uuids: Iterable[str]) -> npt.NDArray[np.bool_]:
        """Providers in any of ``uuids``."""
        mask = np.zeros(self.agg_bits.shape[1], dtype=np.uint64)
        for u in uuids:
            i = self.aggregates.index.get(u)
            if i is not None:
                mask[i // 64] |= np.uint64(1 << (i % 64))
        if not mask.any():
            return np.zeros(self.n, dtype=bool)
        return np.asarray((self.agg_bits[: self.n] & mask).any(axis=1), dtype=bool)

    def sharing_links(self) -> dict[int, npt.NDArray[np.bool_]]:
        """For each live sharing provider row: a mask of the tree roots it serves.

        A sharing provider serves a tree when it shares an aggregate with any provider
        of that tree.
        """
        if self.sharing_links_cache is not None:
            return self.sharing_links_cache
        links: dict[int, npt.NDArray[np.bool_]] = {}
        n = self.n
        for s in np.flatnonzero(self.sharing[:n] & self.alive[:n]):
            touching = (self.agg_bits[:n] & self.agg_bits[s]).any(axis=1) & self.alive[:n]
            touching[s] = False
            roots = np.zeros(n, dtype=bool)
            roots[self.root[:n][touching]] = True
            links[int(s)] = roots
        self.sharing_links_cache = links
        return links

    def subtree_of(self, row: int) -> npt.NDArray[np.bool_]:
        """Mask of ``row`` and all its descendants."""
        n = self.n
        mask = np.zeros(n, dtype=bool)
        mask[row] = True
        tree = np.flatnonzero((self.root[:n] == self.root[row]) & self.alive[:n])
        changed = True
        while changed:
            grow = tree[(~mask[tree]) & (self.parent[tree] >= 0)]
            grow = grow[mask[self.parent[grow]]]
            changed = grow.size > 0
            mask[grow] = True
        return mask

    def ancestors(self, row: int) -> list[int]:
        out = [row]
        while self.parent[out[-1]] >= 0:
            out.append(int(self.parent[out[-1]]))
        return out
