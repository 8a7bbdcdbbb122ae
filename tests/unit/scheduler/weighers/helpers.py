"""Weighing a hand-built fleet with one weigher alone (every other multiplier 0)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corral.scheduler.hosts import AggregateInfo, Policy
from corral.scheduler.runner import Weights, weigh
from corral.scheduler.weighers import WEIGHERS

from ..fleet import Fleet, query


def alone(name: str, multiplier: float = 1.0, strategy: str = "spread") -> Policy:
    """A policy where only weigher ``name`` counts."""
    return Policy(strategy=strategy, multipliers={w: (multiplier if w == name else 0.0)
                                                  for w in WEIGHERS})


def ranked(fleet: Fleet, **kw: Any) -> tuple[list[str], Weights]:
    """The hosts best first, and the weights."""
    ctx = fleet.ctx(query({"VCPU": 1}, **kw))
    weights = weigh(ctx, np.arange(fleet.table.n, dtype=np.int64))
    return [fleet.names[i] for i in weights.hosts], weights


__all__ = ["AggregateInfo", "alone", "ranked"]
