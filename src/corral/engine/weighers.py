"""Weighers: score the hosts that passed the filters; the best score wins.

Each weigher gives every candidate a raw value, normalised over the candidates to
[0, 1] as Nova does ((x - min) / (max - min); all 0 when every host is equal), then
multiplied by its multiplier, which is per host (an aggregate may override the
configured one: the smallest of its aggregates' values wins). The score is the sum.
Pack or spread is the sign of the free-resource weighers: spread prefers the most
free RAM, vCPU and disk, pack the least.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corral.domain import scheduling as s
from corral.engine.filters import FilterContext
from corral.engine.hosts import WEIGHERS

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Weights:
    """Scores of the candidate hosts (indexes into the HostTable), best first."""

    hosts: npt.NDArray[np.int64]
    total: Floats
    components: dict[str, Floats]
    """{weigher: multiplier x normalised value} per candidate, same order as ``hosts``."""


def free_at_hosts(ctx: FilterContext, rc: str, rows: npt.NDArray[np.int64]) -> Floats:
    """Free units of ``rc`` at provider ``rows`` (0 where a row has none, or is -1)."""
    st = ctx.state
    col = st.classes.index.get(rc)
    out = np.zeros(rows.size, dtype=np.float64)
    if col is None or col >= st.capacity.shape[1]:
        return out
    loaded = rows >= 0
    at = rows[loaded]
    free = st.capacity[:, col].take(at) - st.used[:, col].take(at)
    out[loaded] = np.where(st.has[:, col].take(at), free, 0)
    return out


_FREE = {"ram": "MEMORY_MB", "cpu": "VCPU", "disk": "DISK_GB"}


def _raw(ctx: FilterContext, name: str, hosts: npt.NDArray[np.int64],
         rows: npt.NDArray[np.int64]) -> Floats | None:
    """Each weigher's raw value for ``hosts`` (host indexes, at provider ``rows``); None
    when it cannot tell them apart (its policy is not asked for, no host failed)."""
    if name in _FREE:
        return free_at_hosts(ctx, _FREE[name], rows)
    if name == "num_instances":
        counts = np.where(rows >= 0, ctx.state.consumers.take(np.maximum(rows, 0)), 0)
        return counts.astype(np.float64)
    if name == "soft_affinity":
        on = ctx.query.group_policy == s.SOFT_AFFINITY
        return ctx.members[hosts].astype(np.float64) if on else None
    if name == "soft_anti_affinity":
        on = ctx.query.group_policy == s.SOFT_ANTI_AFFINITY
        return -ctx.members[hosts].astype(np.float64) if on else None
    if name == "build_failure":
        if not ctx.hosts.any_failed_builds:
            return None
        return -ctx.hosts.failed_builds[hosts].astype(np.float64)
    raise ValueError(f"unknown weigher {name}")


def normalise(values: Floats) -> Floats:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def weigh(ctx: FilterContext, candidates: npt.NDArray[np.int64],
          top: int | None = None) -> Weights:
    """Score ``candidates`` (host indexes) and return them best first (ties by name);
    with ``top``, only the best ``top`` of them (found without sorting the rest)."""
    total = np.zeros(candidates.size, dtype=np.float64)
    components: dict[str, Floats] = {}
    rows = ctx.rows[candidates]
    for name in WEIGHERS:
        const = ctx.hosts.weight_const[name]
        if const == 0.0:
            continue
        raw = _raw(ctx, name, candidates, rows)
        if raw is None:
            continue
        norm = normalise(raw)
        part = const * norm if const is not None else ctx.hosts.weights[name][candidates] * norm
        components[name] = part
        total += part
    keep = np.arange(candidates.size)
    if top is not None and top < candidates.size:
        # The top-th best score; every host scoring at least that is kept (ties), then
        # the few kept are sorted.
        cut = np.partition(-total, top - 1)[top - 1]
        keep = np.flatnonzero(-total <= cut)
    order = keep[np.lexsort((candidates[keep], -total[keep]))][:top]
    return Weights(candidates[order], total[order], {k: v[order] for k, v in components.items()})
