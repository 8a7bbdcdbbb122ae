"""The best weighed hosts without weighing every candidate: exactly :func:`weigh`'s
answer, found by bounding blocks of hosts.

A host's score is a sum of parts, one per weigher, each ``(x - low) / (high - low)``
times the weigher's multiplier, where ``low`` and ``high`` are the extremes of the raw
values over the candidates. Every one of those floating-point steps (subtracting or
dividing by a constant, multiplying by a constant, adding) is monotone, even rounded:
a larger raw value never gives a smaller part, nor a larger part a smaller sum. So the
score computed, with the very same operations, from a block's largest raw values
(smallest, for a weigher with a negative multiplier) is at least the score of every
host of that block. The decision:

1. finds each weigher's ``low`` and ``high`` over the candidates exactly, from the
   blocks' extremes (a block whose hosts are all candidates gives its own; the others
   are read only while they could still hold the extreme);
2. bounds every block's best score, and weighs the candidates of the blocks in order
   of their bound until the ``top``-th best score found beats every bound left (ties
   go to the lower host index, as :func:`corral.scheduler.runner.best_of` breaks them);
3. weighs every candidate from the columns (:func:`every`: one gather per weigher)
   when the bounds are too loose to stop within :data:`MAX_BLOCKS` blocks (many hosts
   that are not candidates hold the blocks' extremes: pack on a fleet where full
   hosts are everywhere), and leaves it to :func:`corral.scheduler.runner.weigh` when
   a weigher has no column (:attr:`Weigher.columnar`) or a multiplier differs
   between hosts (aggregates overriding it, pack and spread mixed).

The scores, parts and order are bit for bit the exhaustive ones (the property tests
compare them); only the number of hosts weighed changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from corral.scheduler.index import Column
from corral.scheduler.plugin import Weigher
from corral.scheduler.query import FilterContext, Floats, Ints, Mask

#: Blocks read to find an extreme, or weighed to find the best, before the decision
#: weighs every candidate instead (loose bounds: many blocks look as good as the best).
MAX_BLOCKS = 12


@dataclass(frozen=True)
class Part:
    """One weigher of a decision: its column and its normalisation."""

    name: str
    const: float
    column: Column
    low: float
    high: float

    def of(self, raw: Floats) -> Floats:
        """The weigher's part for ``raw`` (a new array): runner.weighted's steps with
        this decision's extremes, ``const * 0`` when every candidate is equal."""
        if self.high == self.low:
            zero: Floats = self.const * np.zeros(raw.size)
            return zero
        out = np.subtract(raw, self.low)
        np.divide(out, self.high - self.low, out=out)
        if self.const == -1.0:
            np.negative(out, out=out)
        elif self.const != 1.0:
            np.multiply(self.const, out, out=out)
        return out

    def bound(self) -> Floats:
        """Per block, a part at least that of every host of the block."""
        return self.of(self.column.high if self.const > 0 else self.column.low)


@dataclass(frozen=True)
class Blocks:
    """The candidates, cut into blocks."""

    size: int
    """Hosts per block."""
    passed: Mask
    """Candidates, padded to whole blocks."""
    shaped: Mask
    """The same, one row per block."""
    some: Mask
    """Blocks with a candidate."""
    whole: Mask
    """Blocks whose hosts are all candidates."""
    partial: Mask
    """Blocks with some candidates, not all."""

    @staticmethod
    def of(passed: Mask, blocks: int, size: int) -> Blocks:
        padded = np.zeros(blocks * size, dtype=bool)
        padded[:passed.size] = passed
        shaped = padded.reshape(blocks, size)
        some = np.asarray(shaped.any(axis=1), dtype=bool)
        whole = np.asarray(shaped.all(axis=1), dtype=bool)
        return Blocks(size, padded, shaped, some, whole, some & ~whole)

    def hosts(self, b: int) -> Ints:
        found: Ints = b * self.size + np.flatnonzero(self.shaped[b])
        return found


def extreme(col: Column, blocks: Blocks, high: bool) -> float | None:
    """The largest (``high``) or smallest raw value over the candidates, exactly (None:
    the blocks were too loose, see MAX_BLOCKS)."""
    bound = col.high if high else col.low
    sign = 1.0 if high else -1.0
    # In signed terms (larger is better): the best of the whole blocks is exact.
    if high:
        best = float(np.max(bound, where=blocks.whole, initial=-math.inf))
        reach = blocks.partial & (bound > best)
    else:
        best = -float(np.min(bound, where=blocks.whole, initial=math.inf))
        reach = blocks.partial & (bound < -best)
    if not reach.any():
        return sign * best
    open_ = np.flatnonzero(reach)
    order = open_[np.argsort(-sign * bound[open_], kind="stable")]
    for visited, b in enumerate(order.tolist()):
        if sign * float(bound[b]) <= best:
            break
        if visited >= MAX_BLOCKS:
            return None
        seg = col.values[b * blocks.size:(b + 1) * blocks.size][blocks.shaped[b]]
        best = max(best, sign * float(seg.max() if high else seg.min()))
    return sign * best


@dataclass(frozen=True)
class Best:
    """The ``top`` best candidates, best first, as runner.Weights holds them."""

    hosts: Ints
    total: Floats
    components: dict[str, Floats]


def columns_of(ctx: FilterContext, weighers: list[tuple[Weigher, float | None, Floats]]
               ) -> list[tuple[str, float, Column]] | None:
    """(weigher, multiplier, column) of each weigher that tells hosts apart (None: one
    has no column or per-host multipliers)."""
    out = []
    for w, const, _per_host in weighers:
        if const is None or not w.columnar:
            return None
        col = w.column(ctx)
        if col is not None:
            out.append((w.name, const, col))
    return out


def best(ctx: FilterContext, passed: Mask, top: int,
         weighers: list[tuple[Weigher, float | None, Floats]]) -> Best | None:
    """The ``top`` best of the hosts ``passed`` (a mask over the table), as
    runner.weigh ranks them (None: the caller weighs them, see the module)."""
    assert ctx.index is not None
    cols = columns_of(ctx, weighers)
    if cols is None:
        return None
    blocks = Blocks.of(passed, ctx.index.blocks, ctx.index.block)
    parts = []
    for name, const, col in cols:
        low, high = extreme(col, blocks, False), extreme(col, blocks, True)
        if low is None or high is None:
            return every(cols, passed, top)
        parts.append(Part(name, const, col, low, high))
    return bounded(parts, blocks, top) or every(cols, passed, top)


def every(cols: list[tuple[str, float, Column]], passed: Mask, top: int) -> Best:
    """Every candidate weighed from the columns (what the bounds could not spare)."""
    idx = np.flatnonzero(passed)
    total = np.zeros(idx.size)
    comps = {}
    for name, const, col in cols:
        raw = col.values.take(idx)
        part = Part(name, const, col, float(raw.min()), float(raw.max())).of(raw)
        comps[name] = part
        total += part
    keep = np.arange(idx.size)
    if top < idx.size:  # as runner.best_of: every host scoring at least the top-th best
        cut = np.partition(-total, top - 1)[top - 1]
        keep = np.flatnonzero(-total <= cut)
    keep = keep[np.lexsort((idx[keep], -total[keep]))][:top]
    return Best(idx[keep], total[keep], {k: v[keep] for k, v in comps.items()})


def bounded(parts: list[Part], blocks: Blocks, top: int) -> Best | None:
    """The best hosts by blocks in order of their bound (None: too many blocks)."""
    bound = np.zeros(blocks.some.size)
    for p in parts:
        bound += p.bound()
    bound[~blocks.some] = -np.inf
    order = np.lexsort((np.arange(bound.size), -bound))
    order = order[:int(np.count_nonzero(blocks.some))]
    hosts: list[Ints] = []
    totals: list[Floats] = []
    comps: list[list[Floats]] = []
    found = 0
    for visited, b in enumerate(order.tolist()):
        if found >= top:
            h, t = np.concatenate(hosts), np.concatenate(totals)
            kth = np.lexsort((h, -t))[top - 1]
            edge = float(bound[b])
            if edge < t[kth] or (edge == t[kth] and b * blocks.size > h[kth]):
                break
        if visited >= MAX_BLOCKS:
            return None
        idx = blocks.hosts(b)
        total = np.zeros(idx.size)
        mine = []
        for p in parts:
            part = p.of(p.column.values[idx])
            mine.append(part)
            total += part
        hosts.append(idx)
        totals.append(total)
        comps.append(mine)
        found += idx.size
    h, t = np.concatenate(hosts), np.concatenate(totals)
    keep = np.lexsort((h, -t))[:top]
    components = {p.name: np.concatenate([c[i] for c in comps])[keep]
                  for i, p in enumerate(parts)}
    return Best(h[keep], t[keep], components)
