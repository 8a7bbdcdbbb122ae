"""FleetState: every provider as one row of NumPy columns, and no Python object per row.

Per resource class (a column of 2-D arrays): usable capacity, used, min_unit, max_unit,
step_size, whether the provider has that inventory at all, and the inventory as written
(total, reserved, allocation ratio: what a summary shows and :meth:`FleetState.record`
rebuilds). Per row: the provider's id, generation, ``updated_at`` (integer microseconds)
and parent and root ids (together its *version*, what tells the engine a provider moved),
the tree as row indexes (parent, root), its consumers count. Traits and aggregates are
bitsets (rows of uint64 words). Only the uuids stay Python strings (with the uuid -> row
and id -> row maps).

Rows are stable per provider: an update rewrites the row in place, a new provider takes
a fresh row (arrays grow by doubling), a deleted one is marked dead. Every row written
moves :attr:`FleetState.version`; :meth:`FleetState.changed_since` names the rows written
after a version, so a reader keeping arrays of its own (the scheduler) updates a
handful of rows after a claim, not the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from corral.domain import bounds
from corral.domain.capacity import Inventory, usable_capacity
from corral.engine.records import (
    Names,
    ProviderRecord,
    Records,
    Version,
    names_of,
)
from corral.engine.trees import TreeQueries

TRAIT_SHARING = "MISC_SHARES_VIA_AGGREGATE"
#: Distinct trait sets kept decoded (see FleetState.traits_of).
TRAIT_SETS = 4096
#: How many row writes :meth:`FleetState.changed_since` can look back over.
CHANGE_LOG = 1 << 16

G = TypeVar("G", bound=np.generic)

#: A row's structure (:attr:`FleetState.structure`; its tree moves in ``_link``).
_STRUCTURE = ("alive", "sharing", "has", "min_unit", "max_unit", "step", "trait_bits",
              "agg_bits")

#: Per-row columns: name -> (dtype, fill of an unused row).
_ROW_COLUMNS: dict[str, tuple[type, int]] = {
    "alive": (np.bool_, 0), "ids": (np.int64, 0), "generation": (np.int64, 0),
    "updated": (np.int64, 0), "parent_id": (np.int64, 0), "root_id": (np.int64, 0),
    "parent": (np.int64, -1), "root": (np.int64, 0), "sharing": (np.bool_, 0),
    "consumers": (np.int64, 0), "stamp": (np.int64, 0),
}
#: Per (row, class) columns: name -> (dtype, fill where the provider has no inventory).
_CLASS_COLUMNS: dict[str, tuple[type, float]] = {
    "capacity": (np.int64, 0), "used": (np.int64, 0), "has": (np.bool_, 0),
    "min_unit": (np.int32, 1), "max_unit": (np.int32, 0), "step": (np.int64, 1),
    "total": (np.int32, 0), "reserved": (np.int32, 0), "ratio": (np.float64, 1.0),
}


def _grown(a: npt.NDArray[G], shape: tuple[int, ...], fill: float) -> npt.NDArray[G]:
    out = np.full(shape, fill, dtype=a.dtype)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out


class FleetState(TreeQueries):
    """The columnar fleet. Not thread-safe: callers hold a lock around use and refresh."""

    # Columns, set by _alloc and grown by _ensure_shape (declared for the type checker).
    alive: npt.NDArray[np.bool_]
    ids: npt.NDArray[np.int64]
    generation: npt.NDArray[np.int64]
    updated: npt.NDArray[np.int64]
    parent_id: npt.NDArray[np.int64]
    root_id: npt.NDArray[np.int64]
    parent: npt.NDArray[np.int64]
    root: npt.NDArray[np.int64]
    sharing: npt.NDArray[np.bool_]
    consumers: npt.NDArray[np.int64]
    stamp: npt.NDArray[np.int64]
    """The :attr:`version` at which each row was last written."""
    capacity: npt.NDArray[np.int64]
    used: npt.NDArray[np.int64]
    has: npt.NDArray[np.bool_]
    min_unit: npt.NDArray[np.int32]
    max_unit: npt.NDArray[np.int32]
    step: npt.NDArray[np.int64]
    total: npt.NDArray[np.int32]
    reserved: npt.NDArray[np.int32]
    ratio: npt.NDArray[np.float64]
    trait_bits: npt.NDArray[np.uint64]
    agg_bits: npt.NDArray[np.uint64]

    def __init__(self) -> None:
        self.classes = Names()
        self.traits = Names()
        self.aggregates = Names()
        self.row_of: dict[int, int] = {}          # provider id -> row
        self.row_of_uuid: dict[str, int] = {}     # provider uuid -> row
        self.uuid_of: list[str] = []
        self.free_rows: list[int] = []
        self._n = 0
        self._alloc(64, 1, 1, 1)
        self.sharing_links_cache: dict[int, npt.NDArray[np.bool_]] | None = None
        self.children_count = np.zeros(0, dtype=np.int64)
        self.tree_size = np.zeros(0, dtype=np.int64)
        #: Moves whenever a provider takes or gives up a row (so cached row maps rebuild).
        self.layout = 0
        #: Moves by one for every row written (see :meth:`changed_since`).
        self.version = 0
        #: Moves when a row's structure (not its usage) changes: alive, tree, sharing,
        #: unit rules, traits, aggregates.
        self.structure = 0
        self._log = np.zeros(CHANGE_LOG, dtype=np.int64)
        #: Rows whose parent or root is not loaded yet (linked when it comes).
        self._dangling: set[int] = set()
        self.records = Records(self)
        self._trait_sets: dict[bytes, frozenset[str]] = {}

    def _alloc(self, rows: int, classes: int, trait_words: int, agg_words: int) -> None:
        for name, (dtype, fill) in _ROW_COLUMNS.items():
            setattr(self, name, np.full(rows, fill, dtype=dtype))
        for name, (dtype, fill2) in _CLASS_COLUMNS.items():
            setattr(self, name, np.full((rows, classes), fill2, dtype=dtype))
        self.trait_bits = np.zeros((rows, trait_words), dtype=np.uint64)
        self.agg_bits = np.zeros((rows, agg_words), dtype=np.uint64)

    # -- shape management ----------------------------------------------------------------

    @property
    def rows(self) -> int:
        """Rows allocated (at least :attr:`n`)."""
        return int(self.alive.shape[0])

    @property
    def n(self) -> int:
        """Rows in use, dead ones included: row indexes are below it."""
        return self._n

    def _ensure_shape(self, rows: int, exact: bool = False) -> None:
        """Room for ``rows`` rows (doubling; ``exact``: that many) and every name."""
        new_rows = max(rows, self.rows) if exact else self.rows
        while new_rows < rows:
            new_rows *= 2
        k = max(self.capacity.shape[1], len(self.classes))
        tw = max(self.trait_bits.shape[1], (len(self.traits) + 63) // 64)
        aw = max(self.agg_bits.shape[1], (len(self.aggregates) + 63) // 64)
        if (new_rows, k, tw, aw) == (self.rows, self.capacity.shape[1],
                                     self.trait_bits.shape[1], self.agg_bits.shape[1]):
            return
        for name, (_dtype, fill) in _ROW_COLUMNS.items():
            setattr(self, name, _grown(getattr(self, name), (new_rows,), fill))
        for name, (_dtype, fill2) in _CLASS_COLUMNS.items():
            setattr(self, name, _grown(getattr(self, name), (new_rows, k), fill2))
        self.trait_bits = _grown(self.trait_bits, (new_rows, tw), 0)
        self.agg_bits = _grown(self.agg_bits, (new_rows, aw), 0)

    # -- what changed ------------------------------------------------------------------------

    def _touch(self, rows: npt.NDArray[np.int64]) -> None:
        """Count a write of each of ``rows`` (in order)."""
        at = np.arange(self.version + 1, self.version + 1 + len(rows), dtype=np.int64)
        self.version += len(rows)
        self.stamp[rows] = at
        self._log[at % CHANGE_LOG] = rows

    def changed_since(self, version: int) -> npt.NDArray[np.int64] | None:
        """Rows written after ``version`` (a value of :attr:`version` read earlier), in
        row order; None when more than CHANGE_LOG writes ago (recompute everything).

        A write is a provider loaded, changed, claimed against, deleted (its row is then
        dead) or relinked to a parent loaded after it. Rows at or past the ``n`` of the
        earlier read are new rows.
        """
        if version >= self.version:
            return np.zeros(0, dtype=np.int64)
        if self.version - version > CHANGE_LOG:
            return None
        at = np.arange(version + 1, self.version + 1) % CHANGE_LOG
        return np.unique(self._log[at])

    def written_since(self, version: int, row: int) -> bool:
        """Whether ``row`` was written after ``version``."""
        return bool(self.stamp[row] > version)

    # -- updates ---------------------------------------------------------------------------

    def apply(self, records: Iterable[ProviderRecord], removed: Iterable[int] = ()) -> None:
        """Upsert ``records`` and drop the providers whose ids are in ``removed``."""
        dropped = self._drop(removed)
        batch = list(records)
        for rec in batch:  # register names first so the arrays are sized once
            for name in (*rec.inventories, *rec.used):
                self.classes.get(name)
            for name in rec.traits:
                self.traits.get(name)
            for name in rec.aggregates:
                self.aggregates.get(name)
        new = [r for r in batch if r.id not in self.row_of]
        self._ensure_shape(self._n + len(new))
        for rec in new:
            row = self.free_rows.pop() if self.free_rows else self._n
            if row == self._n:
                self._n += 1
                self.uuid_of.append("")
            self.row_of[rec.id] = row
        relink = bool(new or dropped)
        links = relink
        if batch:
            rows = np.fromiter((self.row_of[r.id] for r in batch), dtype=np.int64,
                               count=len(batch))
            tree = np.array([self._tree_ids(r) for r in batch], dtype=np.int64)
            relink = relink or bool((tree[:, 0] != self.parent_id[rows]).any()
                                    or (tree[:, 1] != self.root_id[rows]).any())
            sharing, aggs = self.sharing[rows], self.agg_bits[rows]  # copies
            before = [getattr(self, name)[rows] for name in _STRUCTURE]
            self._write_rows(rows, batch, tree)
            if any(not np.array_equal(was, getattr(self, name)[rows])
                   for name, was in zip(_STRUCTURE, before, strict=True)):
                self.structure += 1
            links = (links or bool((sharing != self.sharing[rows]).any())
                     or (bool(self.sharing_links_cache)
                         and bool((aggs != self.agg_bits[rows]).any())))
        if links:
            self.sharing_links_cache = None
        if not relink:
            return
        # Parents and roots are ids; resolve to rows once every record has a row (and
        # link the rows that waited for a provider loaded now).
        waiting = self._dangling
        self._dangling = set()
        for row in {*(self.row_of[r.id] for r in batch), *waiting}:
            if self.alive[row]:
                self._link(row)
        self.layout += 1
        n = self._n
        live = self.alive[:n]
        self.children_count = np.bincount(self.parent[:n][live & (self.parent[:n] >= 0)],
                                          minlength=n)
        self.tree_size = np.bincount(self.root[:n][live], minlength=n)

    def _drop(self, removed: Iterable[int]) -> int:
        """Mark the rows of the providers ``removed`` dead; how many were held."""
        dropped = 0
        for pid in removed:
            row = self.row_of.pop(pid, None)
            if row is not None:
                dropped += 1
                self.row_of_uuid.pop(self.uuid_of[row], None)
                self.uuid_of[row] = ""
                self.alive[row] = False
                self._dangling.discard(row)
                self.free_rows.append(row)
                self._touch(np.array([row]))
                self.structure += 1
        return dropped

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in all (before loading a known number of
        providers: the arrays are then sized once, not doubled past the need)."""
        if rows > self.rows:
            self._ensure_shape(rows, exact=True)

    @staticmethod
    def _tree_ids(rec: ProviderRecord) -> tuple[int, int]:
        """(parent id or 0, root id) as the version holds them."""
        if len(rec.version) == 4:
            return int(rec.version[2] or 0), int(rec.version[3] or 0)  # type: ignore[call-overload]
        return rec.parent_id or 0, rec.root_id

    def _link(self, row: int) -> None:
        parent_id, root_id = int(self.parent_id[row]), int(self.root_id[row])
        parent = self.row_of.get(parent_id, -1) if parent_id else -1
        root = self.row_of.get(root_id, -1) if root_id and root_id != self.ids[row] else row
        if (parent_id and parent < 0) or root < 0:
            self._dangling.add(row)
            root = row if root < 0 else root
        if parent != self.parent[row] or root != self.root[row]:
            self.parent[row], self.root[row] = parent, root
            self._touch(np.array([row]))
            self.structure += 1

    def _write_rows(self, rows: npt.NDArray[np.int64], batch: list[ProviderRecord],
                    tree: npt.NDArray[np.int64]) -> None:
        """Write every column of ``rows`` from ``batch`` (a few array assignments for
        the whole batch, not one per provider and column)."""
        for rec in batch:  # the row int of row_of, shared (not one more object per row)
            row = self.row_of[rec.id]
            self.uuid_of[row] = rec.uuid
            self.row_of_uuid[rec.uuid] = row
        m = len(batch)
        self.alive[rows] = True
        self.ids[rows] = np.fromiter((r.id for r in batch), dtype=np.int64, count=m)
        self.generation[rows] = np.fromiter((r.generation for r in batch), dtype=np.int64,
                                            count=m)
        self.updated[rows] = np.fromiter(
            (int(r.version[1]) if len(r.version) == 4 else 0  # type: ignore[call-overload]
             for r in batch), dtype=np.int64, count=m)
        self.parent_id[rows], self.root_id[rows] = tree[:, 0], tree[:, 1]
        self.sharing[rows] = np.fromiter((TRAIT_SHARING in r.traits for r in batch),
                                         dtype=bool, count=m)
        self.consumers[rows] = np.fromiter((r.consumers for r in batch), dtype=np.int64,
                                           count=m)
        for name, (_dtype, fill) in _CLASS_COLUMNS.items():
            getattr(self, name)[rows] = fill
        classes = self.classes.index
        at: list[tuple[int, int]] = []
        values: list[tuple[int, int, int, int, int, int, float]] = []
        for row, rec in zip(rows.tolist(), batch, strict=True):
            for name, inv in rec.inventories.items():
                at.append((row, classes[name]))
                # A capacity past what the arrays hold (a ratio near Placement's 3.4e38)
                # is held at a ceiling no sum of 32-bit allocations reaches (bounds.py).
                values.append((min(inv.capacity, bounds.ENGINE_CAPACITY_MAX), inv.min_unit,
                               inv.max_unit, inv.step_size, inv.total, inv.reserved,
                               inv.allocation_ratio))
        if at:
            r, c = np.array(at, dtype=np.int64).T
            self.has[r, c] = True
            for name, column in zip(("capacity", "min_unit", "max_unit", "step", "total",
                                     "reserved", "ratio"), zip(*values, strict=True),
                                    strict=True):
                getattr(self, name)[r, c] = column
        used = [(row, classes[name], amount)
                for row, rec in zip(rows.tolist(), batch, strict=True)
                for name, amount in rec.used.items()]
        if used:
            r, c, amounts = np.array(used, dtype=np.int64).T
            self.used[r, c] = amounts
        for bits, names, attr in ((self.trait_bits, self.traits.index, "traits"),
                                  (self.agg_bits, self.aggregates.index, "aggregates")):
            bits[rows] = 0
            pairs = [(row, names[name]) for row, rec in zip(rows.tolist(), batch, strict=True)
                     for name in getattr(rec, attr)]
            if pairs:
                r, i = np.array(pairs, dtype=np.int64).T
                np.bitwise_or.at(bits, (r, i // 64),
                                 np.left_shift(np.uint64(1), (i % 64).astype(np.uint64)))
        self._touch(rows)

    def claim(self, row: int, added: dict[str, int], consumers: int, generation: int,
              updated: int) -> None:
        """Add a committed claim's units and consumers to ``row`` at the version the
        claim left it (no tree, trait or inventory change: nothing else is touched)."""
        for rc, amount in added.items():
            self.used[row, self.classes.get(rc)] += amount
        self.consumers[row] += consumers
        self.generation[row] = generation
        self.updated[row] = updated
        self._touch(np.array([row]))

    # -- reading one provider (cold paths) -----------------------------------------------

    def version_of(self, row: int) -> Version:
        return (int(self.generation[row]), int(self.updated[row]), int(self.parent_id[row]),
                int(self.root_id[row]))

    def record(self, row: int) -> ProviderRecord | None:
        """The provider of ``row`` as a Python object, built now (None: a dead row)."""
        if row < 0 or row >= self._n or not self.alive[row]:
            return None
        names = self.classes.names
        inventories = {}
        for col in np.flatnonzero(self.has[row]):
            inventories[names[col]] = Inventory(
                total=int(self.total[row, col]), reserved=int(self.reserved[row, col]),
                min_unit=int(self.min_unit[row, col]), max_unit=int(self.max_unit[row, col]),
                step_size=int(self.step[row, col]),
                allocation_ratio=float(self.ratio[row, col]))
        used = {names[col]: int(self.used[row, col]) for col in np.flatnonzero(self.used[row])}
        parent_id = int(self.parent_id[row])
        return ProviderRecord(
            id=int(self.ids[row]), uuid=self.uuid_of[row], generation=int(self.generation[row]),
            parent_id=parent_id or None, root_id=int(self.root_id[row]) or int(self.ids[row]),
            inventories=inventories, used=used,
            traits=self.traits_of(row),
            aggregates=names_of(self.agg_bits[row], self.aggregates),
            version=self.version_of(row), consumers=int(self.consumers[row]))

    def capacity_of(self, row: int, col: int) -> int:
        """The usable capacity of an inventory as written (not held at the arrays'
        ceiling): what a summary shows."""
        return usable_capacity(int(self.total[row, col]), int(self.reserved[row, col]),
                               float(self.ratio[row, col]))

    def traits_of(self, row: int) -> frozenset[str]:
        """The traits of ``row`` (decoded once per distinct set: a bit names the same
        trait for the state's life, so the decoded sets never go stale)."""
        key = self.trait_bits[row].tobytes()
        found = self._trait_sets.get(key)
        if found is None:
            if len(self._trait_sets) >= TRAIT_SETS:
                self._trait_sets.clear()
            found = self._trait_sets[key] = names_of(self.trait_bits[row], self.traits)
        return found
