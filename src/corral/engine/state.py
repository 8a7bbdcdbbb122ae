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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from corral.domain import bounds
from corral.domain.capacity import Inventory, usable_capacity

TRAIT_SHARING = "MISC_SHARES_VIA_AGGREGATE"
#: How many row writes :meth:`FleetState.changed_since` can look back over.
CHANGE_LOG = 1 << 16

#: A provider's version: (generation, updated_at in microseconds, parent id, root id),
#: 0 for no parent. What the store's version reads return (persistence/snapshot.py).
Version = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One provider as a Python object: what :meth:`FleetState.apply` takes and
    :meth:`FleetState.record` rebuilds (the state keeps no such object)."""

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
    """(generation, updated_at microseconds, parent id or 0, root id), or () when unknown."""
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
    "min_unit": (np.int64, 1), "max_unit": (np.int64, 0), "step": (np.int64, 1),
    "total": (np.int32, 0), "reserved": (np.int32, 0), "ratio": (np.float64, 1.0),
}


def _grown(a: npt.NDArray[G], shape: tuple[int, ...], fill: float) -> npt.NDArray[G]:
    out = np.full(shape, fill, dtype=a.dtype)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out


def _bits_of(names: Iterable[str], index: dict[str, int], words: int) -> npt.NDArray[np.uint64]:
    out = np.zeros(words, dtype=np.uint64)
    for name in names:
        i = index[name]
        out[i // 64] |= np.uint64(1 << (i % 64))
    return out


def _names_of(words: npt.NDArray[np.uint64], names: Names) -> frozenset[str]:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    return frozenset(names.names[i] for i in np.flatnonzero(bits) if i < len(names))


class Records:
    """``state.records[row]``: the provider of a row built on demand (None when dead)."""

    def __init__(self, state: FleetState) -> None:
        self.state = state

    def __getitem__(self, row: int) -> ProviderRecord | None:
        return self.state.record(int(row))

    def __len__(self) -> int:
        return self.state.n

    def __iter__(self) -> Iterator[ProviderRecord | None]:
        return (self.state.record(row) for row in range(self.state.n))


class FleetState:
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
    min_unit: npt.NDArray[np.int64]
    max_unit: npt.NDArray[np.int64]
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
        self._alloc(64, 4, 1, 1)
        self.sharing_links_cache: dict[int, npt.NDArray[np.bool_]] | None = None
        self.children_count = np.zeros(0, dtype=np.int64)
        self.tree_size = np.zeros(0, dtype=np.int64)
        #: Moves whenever a provider takes or gives up a row (so cached row maps rebuild).
        self.layout = 0
        #: Moves by one for every row written (see :meth:`changed_since`).
        self.version = 0
        self._log = np.zeros(CHANGE_LOG, dtype=np.int64)
        #: Rows whose parent or root is not loaded yet (linked when it comes).
        self._dangling: set[int] = set()
        self.records = Records(self)

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
        for name, (_dtype, fill) in _ROW_COLUMNS.items():
            setattr(self, name, _grown(getattr(self, name), (new_rows,), fill))
        for name, (_dtype, fill2) in _CLASS_COLUMNS.items():
            setattr(self, name, _grown(getattr(self, name), (new_rows, k), fill2))
        self.trait_bits = _grown(self.trait_bits, (new_rows, tw), 0)
        self.agg_bits = _grown(self.agg_bits, (new_rows, aw), 0)

    # -- what changed ------------------------------------------------------------------------

    def _touch(self, row: int) -> None:
        self.version += 1
        self.stamp[row] = self.version
        self._log[self.version % CHANGE_LOG] = row

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
                self._touch(row)
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
        for rec in batch:
            row = self.row_of[rec.id]
            parent_id, root_id = self._tree_ids(rec)
            relink = relink or (parent_id, root_id) != (int(self.parent_id[row]),
                                                         int(self.root_id[row]))
            links = links or self.sharing[row] or TRAIT_SHARING in rec.traits
            self._write_row(row, rec, parent_id, root_id)
        if not relink:
            if links:
                self.sharing_links_cache = None
            return
        # Parents and roots are ids; resolve to rows once every record has a row (and
        # link the rows that waited for a provider loaded now).
        waiting = self._dangling
        self._dangling = set()
        for row in {*(self.row_of[r.id] for r in batch), *waiting}:
            if self.alive[row]:
                self._link(row)
        self.sharing_links_cache = None
        self.layout += 1
        n = self._n
        live = self.alive[:n]
        self.children_count = np.bincount(self.parent[:n][live & (self.parent[:n] >= 0)],
                                          minlength=n)
        self.tree_size = np.bincount(self.root[:n][live], minlength=n)

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
            self._touch(row)

    def _write_row(self, row: int, rec: ProviderRecord, parent_id: int, root_id: int) -> None:
        self.uuid_of[row] = rec.uuid
        self.row_of_uuid[rec.uuid] = row
        self.alive[row] = True
        self.ids[row] = rec.id
        self.generation[row] = rec.generation
        self.updated[row] = int(rec.version[1]) if len(rec.version) == 4 else 0  # type: ignore[call-overload]
        self.parent_id[row], self.root_id[row] = parent_id, root_id
        for name, (_dtype, fill) in _CLASS_COLUMNS.items():
            getattr(self, name)[row] = fill
        for name, inv in rec.inventories.items():
            col = self.classes.index[name]
            self.has[row, col] = True
            # A capacity past what the arrays hold (a ratio near Placement's 3.4e38) is
            # held at a ceiling no sum of 32-bit allocations reaches (domain/bounds.py).
            self.capacity[row, col] = min(inv.capacity, bounds.ENGINE_CAPACITY_MAX)
            self.min_unit[row, col] = inv.min_unit
            self.max_unit[row, col] = inv.max_unit
            self.step[row, col] = inv.step_size
            self.total[row, col] = inv.total
            self.reserved[row, col] = inv.reserved
            self.ratio[row, col] = inv.allocation_ratio
        for name, amount in rec.used.items():
            self.used[row, self.classes.index[name]] = amount
        self.trait_bits[row] = _bits_of(rec.traits, self.traits.index, self.trait_bits.shape[1])
        self.agg_bits[row] = _bits_of(rec.aggregates, self.aggregates.index,
                                      self.agg_bits.shape[1])
        self.sharing[row] = TRAIT_SHARING in rec.traits
        self.consumers[row] = rec.consumers
        self._touch(row)

    def claim(self, row: int, added: dict[str, int], consumers: int, generation: int,
              updated: int) -> None:
        """Add a committed claim's units and consumers to ``row`` at the version the
        claim left it (no tree, trait or inventory change: nothing else is touched)."""
        for rc, amount in added.items():
            self.used[row, self.classes.get(rc)] += amount
        self.consumers[row] += consumers
        self.generation[row] = generation
        self.updated[row] = updated
        self._touch(row)

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
            traits=_names_of(self.trait_bits[row], self.traits),
            aggregates=_names_of(self.agg_bits[row], self.aggregates),
            version=self.version_of(row), consumers=int(self.consumers[row]))

    def capacity_of(self, row: int, col: int) -> int:
        """The usable capacity of an inventory as written (not held at the arrays'
        ceiling): what a summary shows."""
        return usable_capacity(int(self.total[row, col]), int(self.reserved[row, col]),
                               float(self.ratio[row, col]))

    def traits_of(self, row: int) -> frozenset[str]:
        return _names_of(self.trait_bits[row], self.traits)

    # -- queries used by the search ---------------------------------------------------------

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
