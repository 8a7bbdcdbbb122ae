"""The full check's comparison: which providers the engine holds at another version than
the store, and which it holds that are gone, reading as little as it can.

The database adds up every provider's version per bucket of :data:`BUCKET` consecutive
ids (its count, the sums of ids, generations, parent and root ids, the latest
``updated_at``: one aggregate statement, a few hundred rows for 100,000 providers) and
the engine adds up its own columns the same way. Only the buckets that differ are read
provider by provider and compared exactly. A claim the engine adopted left it at the
version the store holds, so in steady operation no bucket differs and the check turns
no row of the store into a Python object: the thread that runs it, outside the engine's
lock, hardly holds the interpreter (the reads of 100,000 versions took it in slices of
5 ms and more, which the boots beside it waited on). When many buckets differ (the
first load), every version is read at once, as before.

A change that leaves a bucket's sums and latest time as they were (a generation down
by as much as another's went up, at no later time) would go unseen until something else
in the bucket moves; a provider's generation only grows, so it takes a provider
deleted and another created in the same bucket at the same generation, sum of ids and
time, which ids that only grow do not allow.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from corral.engine.state import FleetState
from corral.services.stores import SnapshotStore

#: Consecutive provider ids added up together.
BUCKET = 512
#: Past this share of the buckets differing, every version is read at once.
READ_ALL_SHARE = 0.25

Table = npt.NDArray[np.int64]


def engine_buckets(st: FleetState, width: int = BUCKET) -> Table:
    """:meth:`provider_version_buckets` of what the engine holds (its live rows)."""
    n = st.n
    rows = np.flatnonzero(st.alive[:n])
    bucket = st.ids[rows] // width
    # No sort: each call below is one pass that holds the interpreter for a millisecond
    # or so at 100,000 providers. Sums of up to ``width`` ids, generations or tree ids
    # stay far below 2**53, where float64 counts exactly.
    count = np.bincount(bucket)
    found = np.flatnonzero(count)
    out = np.zeros((found.size, 7), dtype=np.int64)
    out[:, 0], out[:, 1] = found, count[found]
    for col, values in ((2, st.ids), (3, st.generation), (4, st.parent_id), (5, st.root_id)):
        out[:, col] = np.bincount(bucket, weights=values[rows], minlength=count.size)[found]
    latest = np.full(count.size, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, bucket, st.updated[rows])
    out[:, 6] = latest[found]
    return out


def differences(st: FleetState, repo: SnapshotStore) -> tuple[list[int], list[int]]:
    """Ids of the providers whose version in the store differs from the engine's or that
    it does not hold, and of those it holds that are gone (safe without the engine's
    lock: a row written meanwhile is judged again under it)."""
    theirs = repo.provider_version_buckets(BUCKET)
    mine = engine_buckets(st, BUCKET)
    moved = sorted({r[0] for r in {*map(tuple, theirs.tolist())} ^ {*map(tuple, mine.tolist())}})
    if not moved:
        return [], []
    if len(moved) > READ_ALL_SHARE * max(len(theirs), len(mine)):
        return compare(st, repo.provider_version_table())
    ranges = [(b * BUCKET, (b + 1) * BUCKET) for b in moved]
    return compare(st, repo.provider_version_table(ranges), np.array(moved) * BUCKET)


def compare(st: FleetState, table: Table, starts: npt.NDArray[np.int64] | None = None
            ) -> tuple[list[int], list[int]]:
    """:func:`differences` against ``table`` (provider_version_table), of every
    provider, or (``starts``) of the buckets starting at those ids only."""
    n = st.n
    columns = (st.ids, st.generation, st.updated, st.parent_id, st.root_id)
    rows = np.flatnonzero(st.alive[:n])
    if starts is not None:
        rows = rows[np.isin(st.ids[rows] // BUCKET * BUCKET, starts)]
    held = np.column_stack([c[:n][rows] for c in columns])
    held = held[np.argsort(held[:, 0], kind="stable")]
    ids = table[:, 0]
    at = np.searchsorted(held[:, 0], ids)
    at_ok = np.minimum(at, max(len(held) - 1, 0))
    same = np.zeros(len(ids), dtype=bool)
    if len(held):
        same = (at < len(held)) & (held[at_ok] == table).all(axis=1)
    gone = ~np.isin(held[:, 0], ids, assume_unique=True)
    return ids[~same].tolist(), held[gone, 0].tolist()
