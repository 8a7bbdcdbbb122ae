"""What an explanation is made of (typed until it is stored or answered), and the
evidence a filter reads to describe the hosts it removed.

Every host removed is put in a :class:`Bucket`: the reason code of the filter that
removed it first, described twice: in operator words with figures (``message``, for
admins) and as a category with a count (``summary``, for project members).
:meth:`Explanation.as_dict` is the JSON the API answers and the decision records keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from corral.scheduler.query import FilterContext, Funnel, Ints, Mask

#: Hosts named per bucket (admins), and nearest misses shown.
NAMED_HOSTS = 20
NEAREST = 3

_UNITS = {"MEMORY_MB": ("MB", "RAM"), "VCPU": ("", "vCPUs"), "DISK_GB": ("GB", "disk")}


def amount_words(rc: str, n: int, adjective: str = "") -> str:
    """``n`` units of ``rc`` in operator words (``2048 MB free RAM``)."""
    unit, noun = _UNITS.get(rc, ("", rc))
    words = [str(n)] + ([unit] if unit else []) + ([adjective] if adjective else []) + [noun]
    return " ".join(words)


@dataclass(frozen=True)
class Bucket:
    """Hosts removed for one reason."""

    code: str
    filter: str
    hosts: int
    summary: str
    message: str
    host_names: list[str]
    constraint: str | None = None
    resource_class: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "filter": self.filter, "hosts": self.hosts,
                               "summary": self.summary, "message": self.message,
                               "host_names": self.host_names}
        if self.constraint is not None:
            out["constraint"] = self.constraint
        if self.resource_class is not None:
            out["resource_class"] = self.resource_class
        if self.figures:
            out["figures"] = self.figures
        return out


@dataclass(frozen=True)
class Shortfall:
    """What a nearest miss lacks of one class."""

    resource_class: str
    needed: int
    free: int
    short: int

    def as_dict(self) -> dict[str, Any]:
        return {"resource_class": self.resource_class, "needed": self.needed,
                "free": self.free, "short": self.short}


@dataclass(frozen=True)
class NearestMiss:
    """A host that came close: what it lacks, or the filter that removed it."""

    host: str
    message: str
    lacks: tuple[Shortfall, ...] | None = None
    failed: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host}
        if self.lacks is not None:
            out["lacks"] = [s.as_dict() for s in self.lacks]
        if self.failed is not None:
            out["failed"] = self.failed
        out["message"] = self.message
        return out


@dataclass(frozen=True)
class Explanation:
    """Why no host took a request (see docs/scheduler.md)."""

    code: str
    structural: bool
    funnel: list[dict[str, object]]
    buckets: list[Bucket]
    nearest_misses: list[NearestMiss]
    filter: str | None = None
    constraint: str | None = None
    resource_class: str | None = None
    unavailable: bool = False
    """No host was considered at all (the answer then says ``"constraint": null``)."""
    placed_before_refusal: int = 0
    """Instances of the same request placed before the one that did not fit."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON the API answers and the decision records keep."""
        detail: dict[str, Any] = {}
        if self.unavailable:
            detail["constraint"] = None
        if self.filter is not None:
            detail["filter"] = self.filter
        if self.constraint is not None:
            detail["constraint"] = self.constraint
        if self.resource_class is not None:
            detail["resource_class"] = self.resource_class
        return {"code": self.code, **detail,
                "kind": "structural" if self.structural else "transient",
                "retry_can_help": not self.structural,
                "funnel": self.funnel,
                "buckets": [b.as_dict() for b in self.buckets],
                "nearest_misses": [m.as_dict() for m in self.nearest_misses],
                **({"placed_before_refusal": self.placed_before_refusal}
                   if self.placed_before_refusal else {})}


def tree_figures(ctx: FilterContext, rc: str) -> tuple[Ints, Ints, Ints]:
    """Per host, over its tree: the most free units of ``rc`` on one provider, the
    largest max_unit, and the largest usable capacity (all 0 where the tree has none)."""
    st = ctx.state
    n = st.n
    col = st.classes.index.get(rc)
    zeros = np.zeros(ctx.hosts.n, dtype=np.int64)
    if col is None or col >= st.capacity.shape[1]:
        return zeros, zeros.copy(), zeros.copy()
    has = st.has[:n, col] & st.alive[:n]
    rows = np.flatnonzero(has)
    roots = st.root[:n][rows]
    out = []
    for values in (st.capacity[:n, col] - st.used[:n, col], st.max_unit[:n, col],
                   st.capacity[:n, col]):
        per_root = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(per_root, roots, values[rows])
        per_root[per_root == np.iinfo(np.int64).min] = 0
        out.append(ctx.count_at_hosts(per_root))
    return out[0], out[1], out[2]


class Evidence:
    """What a filter reads to explain the hosts it removed: the context, the funnel,
    and per class figures over each host's tree (computed once per explanation)."""

    def __init__(self, ctx: FilterContext, funnel: Funnel) -> None:
        self.ctx = ctx
        self.funnel = funnel
        self.hosts = ctx.hosts
        self._figures: dict[str, tuple[Ints, Ints, Ints]] = {}

    def figures(self, rc: str) -> tuple[Ints, Ints, Ints]:
        """Per host: (most free units on one provider, largest max_unit, largest capacity)."""
        if rc not in self._figures:
            self._figures[rc] = tree_figures(self.ctx, rc)
        return self._figures[rc]

    def bucket(self, code: tuple[str, str | None], name: str, mask: npt.NDArray[np.bool_],
               message: str, summary: str, resource_class: str | None = None,
               **figures: Any) -> Bucket:
        """The hosts of ``mask``, removed by filter ``name`` for ``code`` ((reason code,
        constraint))."""
        idx: Ints = np.flatnonzero(mask)
        return Bucket(code[0], name, int(idx.size), f"{idx.size} hosts: {summary}",
                      f"{idx.size} hosts: {message}",
                      [self.hosts.names[i] for i in idx[:NAMED_HOSTS]], code[1],
                      resource_class, figures)

    def removed_last(self, name: str, mask: Mask) -> list[NearestMiss]:
        """Nearest misses when no filter measures closeness: the first hosts ``name``
        removed."""
        return [NearestMiss(self.hosts.names[i], f"{self.hosts.names[i]}: removed by {name}",
                            failed=name)
                for i in np.flatnonzero(mask)[:NEAREST].tolist()]
