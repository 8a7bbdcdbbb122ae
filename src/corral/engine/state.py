"""FleetState: every provider as one row of NumPy columns.

Per resource class (a column of 2-D arrays): usable capacity, used, min_unit, max_unit,
step_size and whether the provider has that inventory at all. Traits and aggregates are
bitsets (rows of uint64 words). Trees are index arrays (parent, root). Rows are stable per
provider: an update rewrites the row in place, a new provider takes a fresh row (arrays
grow by doubling), a deleted one is marked dead. So refreshing after a claim touches a
handful of rows, not the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from corral.domain import bounds
from corral.domain.capacity import Inventory

TRAIT_SHARING = "MISC_SHARES_VIA_AGGREGATE"


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """Everything the engine needs to know about one provider."""

    id: int
    uuid: str
    generation: int
    parent_id: int | None
    root_id: int
    inventories: dict[str, Inventory] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()
    version: tuple[object, ...] = ()
    consumers: int = 0
    """How many consumers hold allocations here (a host's instance count)."""


class Names:
    """A growing name -> column index map."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def get(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found

    def __len__(self) -> int:
        return len(self.names)


G = TypeVar("G", bound=np.generic)


def _grow(a: npt.NDArray[G], rows: int, cols: int | None = None) -> npt.NDArray[G]:
    shape = (rows,) if a.ndim == 1 else (rows, cols if cols is not None else a.shape[1])
    out = np.zeros(shape, dtype=a.dtype)
    if a.ndim == 1:
        out[: a.shape[0]] = a
    else:
        out[: a.shape[0], : a.shape[1]] = a
    return out


class FleetState:
    """The columnar fleet. Not thread-safe: callers hold a lock around use and refresh."""

    def __init__(self) -> None:
        self.classes = Names()
        self.traits = Names()
        self.aggregates = Names()
        self.row_of: dict[int, int] = {}          # provider id -> row
        self.row_of_uuid: dict[str, int] = {}     # provider uuid -> row
        self.records: list[ProviderRecord | None] = []
        self.uuid_of: list[str] = []
        self.free_rows: list[int] = []
        self._alloc(64, 4, 1, 1)
        self.sharing_links_cache: dict[int, npt.NDArray[np.bool_]] | None = None
        self.children_count = np.zeros(0, dtype=np.int64)
        self.tree_size = np.zeros(0, dtype=np.int64)
        #: Moves whenever a provider takes or gives up a row (so cached row maps rebuild).
        self.layout = 0

    def _alloc(self, rows: int, classes: int, trait_words: int, agg_words: int) -> None:
        self.alive = np.zeros(rows, dtype=bool)
        self.parent = np.full(rows, -1, dtype=np.int64)
        self.root = np.zeros(rows, dtype=np.int64)
        self.capacity = np.zeros((rows, classes), dtype=np.int64)
        self.used = np.zeros((rows, classes), dtype=np.int64)
        self.has = np.zeros((rows, classes), dtype=bool)
        self.min_unit = np.ones((rows, classes), dtype=np.int64)
        self.max_unit = np.zeros((rows, classes), dtype=np.int64)
        self.step = np.ones((rows, classes), dtype=np.int64)
        self.trait_bits = np.zeros((rows, trait_words), dtype=np.uint64)
        self.agg_bits = np.zeros((rows, agg_words), dtype=np.uint64)
        self.sharing = np.zeros(rows, dtype=bool)
        self.consumers = np.zeros(rows, dtype=np.int64)

    # -- shape management ----------------------------------------------------------------

    @property
    def rows(self) -> int:
        return int(self.alive.shape[0])

    def _ensure_shape(self, rows: int) -> None:
        new_rows = self.rows
        while new_rows < rows:
            new_rows *= 2
        k = max(self.capacity.shape[1], len(self.classes))
        tw = max(self.trait_bits.shape[1], (len(self.traits) + 63) // 64)
        aw = max(self.agg_bits.shape[1], (len(self.aggregates) + 63) // 64)
        if (new_rows, k, tw, aw) == (self.rows, self.capacity.shape[1],
                                     self.trait_bits.shape[1], self.agg_bits.shape[1]):
            return
        for name in ("alive", "parent", "root", "sharing", "consumers"):
            arr = _grow(getattr(self, name), new_rows)
            if name == "parent":
                arr[self.rows:] = -1
            setattr(self, name, arr)
        for name in ("capacity", "used", "has", "max_unit"):
            setattr(self, name, _grow(getattr(self, name), new_rows, k))
        for name in ("min_unit", "step"):
            old = getattr(self, name)
            arr = np.ones((new_rows, k), dtype=np.int64)
            arr[: old.shape[0], : old.shape[1]] = old
            setattr(self, name, arr)
        self.trait_bits = _grow(self.trait_bits, new_rows, tw)
        self.agg_bits = _grow(self.agg_bits, new_rows, aw)

    # -- updates ---------------------------------------------------------------------------

    def apply(self, records: Iterable[ProviderRecord], removed: Iterable[int] = ()) -> None:
        """Upsert ``records`` and drop the providers whose ids are in ``removed``."""
        dropped = 0
        for pid in removed:
            row = self.row_of.pop(pid, None)
            if row is not None:
                dropped += 1
                self.row_of_uuid.pop(self.uuid_of[row], None)
                self.alive[row] = False
                self.records[row] = None
                self.free_rows.append(row)
        batch = list(records)
        for rec in batch:  # register names first so the arrays are sized once
            for name in (*rec.inventories, *rec.used):
                self.classes.get(name)
            for name in rec.traits:
                self.traits.get(name)
            for name in rec.aggregates:
                self.aggregates.get(name)
        new = [r for r in batch if r.id not in self.row_of]
        if new or dropped:
            self.layout += 1
        self._ensure_shape(len(self.records) + len(new))
        for rec in new:
            row = self.free_rows.pop() if self.free_rows else len(self.records)
            if row == len(self.records):
                self.records.append(None)
                self.uuid_of.append("")
            self.row_of[rec.id] = row
        for rec in batch:
            self._write_row(self.row_of[rec.id], rec)
        # Parents and roots are ids; resolve to rows once every record has a row.
        for rec in batch:
            row = self.row_of[rec.id]
            self.parent[row] = self.row_of.get(rec.parent_id, -1) if rec.parent_id else -1
            self.root[row] = self.row_of.get(rec.root_id, row)
        self.sharing_links_cache = None
        n = len(self.records)
        counts = np.bincount(self.parent[:n][self.alive[:n] & (self.parent[:n] >= 0)], minlength=n)
        self.children_count = counts
        self.tree_size = np.bincount(self.root[:n][self.alive[:n]], minlength=n)

    def _write_row(self, row: int, rec: ProviderRecord) -> None:
        self.records[row] = rec
        self.uuid_of[row] = rec.uuid
        self.row_of_uuid[rec.uuid] = row
        self.alive[row] = True
        self.capacity[row] = 0
        self.used[row] = 0
        self.has[row] = False
        self.min_unit[row] = 1
        self.max_unit[row] = 0
        self.step[row] = 1
        for name, inv in rec.inventories.items():
            col = self.classes.index[name]
            self.has[row, col] = True
            # A capacity past what the arrays hold (a ratio near Placement's 3.4e38) is
            # held at a ceiling no sum of 32-bit allocations reaches (domain/bounds.py).
            self.capacity[row, col] = min(inv.capacity, bounds.ENGINE_CAPACITY_MAX)
            self.min_unit[row, col] = inv.min_unit
            self.max_unit[row, col] = inv.max_unit
            self.step[row, col] = inv.step_size
        for name, amount in rec.used.items():
            self.used[row, self.classes.index[name]] = amount
        self.trait_bits[row] = 0
        for name in rec.traits:
            i = self.traits.index[name]
            self.trait_bits[row, i // 64] |= np.uint64(1 << (i % 64))
        self.agg_bits[row] = 0
        for name in rec.aggregates:
            i = self.aggregates.index[name]
            self.agg_bits[row, i // 64] |= np.uint64(1 << (i % 64))
        self.sharing[row] = TRAIT_SHARING in rec.traits
        self.consumers[row] = rec.consumers

    # -- queries used by the search ---------------------------------------------------------

    @property
    def n(self) -> int:
        return len(self.records)

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
