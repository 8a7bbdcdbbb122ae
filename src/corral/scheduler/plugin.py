"""The one shape of a filter and of a weigher.

A filter or weigher is one object in one module (``scheduler/filters/<name>.py``,
``scheduler/weighers/<name>.py``) that carries everything the rest of the scheduler
asks of it: its name, its settings, its mask (or raw score) over the host arrays, its
reason code and constraint, its words in explanations, and what capacity counting and
the simulator need. The runner, the explainer, capacity counting and the simulator's
Placer iterate over the registries (``scheduler/filters/__init__.py``,
``scheduler/weighers/__init__.py``) and never name a plugin. See docs/architecture.md,
"Adding a filter or a weigher".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from corral.domain import bounds
from corral.scheduler.explanation import Bucket, Evidence, NearestMiss
from corral.scheduler.hosts import HostTable
from corral.scheduler.index import Column
from corral.scheduler.query import FilterContext, Floats, HostQuery, Ints, Mask


@dataclass(frozen=True)
class Option:
    """A setting of the ``[scheduler]`` section that a plugin brings (config.py adds it
    to the settings, with these bounds, and hands its value to the scheduler)."""

    name: str
    help: str
    default: float
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Room:
    """The simulator's usage arrays, for filters that read usage (:attr:`Filter.room`).

    Either every host for one request (``free`` (hosts, classes), ``amounts``
    (classes,)) or one host for every request key (``free`` (classes,), ``amounts``
    (keys, classes)); the arithmetic broadcasts the same way.
    """

    free: Ints
    consumers: Ints | int
    max_instances: Ints | int
    amounts: Ints
    units_ok: Mask | bool
    """Where the unit rules (min_unit, max_unit, step_size) allow the amounts."""
    asked: Sequence[tuple[str, int, int, Mask]] = ()
    """Per class asked: (class, column, amount, where its unit rules allow it)."""


class Filter:
    """A filter: a boolean mask over the hosts; the funnel keeps the hosts every
    enabled filter so far kept. Subclass it, set the class attributes, implement
    :meth:`mask`, and describe what you remove with :meth:`words` (or :meth:`buckets`)."""

    name: ClassVar[str]
    rank: ClassVar[int]
    """Its place in the default order (the registry sorts by it; leave gaps)."""
    reason: ClassVar[tuple[str, str | None]]
    """(reason code, constraint) reported when it removes hosts (the constraint is None
    where a resource class is named instead)."""
    resource_class: ClassVar[str | None] = None
    """The (pseudo) resource class an explanation names when this filter left no host."""
    options: ClassVar[tuple[Option, ...]] = ()
    structural: ClassVar[bool] = False
    """Reads neither usage nor liveness: a host it removes stays removed until the fleet
    or the request changes (an explanation then says retrying will not help)."""
    liveness: ClassVar[bool] = False
    """Decides whether a host is usable at all (up, enabled): capacity counts only the
    capacity of hosts every such filter keeps."""
    usage: ClassVar[bool] = False
    """Reads usage (free units, instances): capacity counting counts it rather than
    filtering with it; the simulator keeps it current with :meth:`room`."""

    def mask(self, ctx: FilterContext) -> Mask:
        raise NotImplementedError

    def by_project(self, hosts: HostTable) -> bool:
        """Whether its mask over ``hosts`` may differ between projects (the simulator
        then sets up each project's requests apart)."""
        return False

    def words(self, query: HostQuery, hosts: HostTable) -> tuple[str, str]:
        """(operator words, member summary) for the hosts it removed."""
        return self.name, self.name

    def buckets(self, ev: Evidence, removed: Mask) -> list[Bucket]:
        """The hosts it removed, in one bucket or several (by cause)."""
        return [ev.bucket(self.reason, self.name, removed,
                          *self.words(ev.ctx.query, ev.hosts))]

    def ever(self, ev: Evidence) -> Mask | None:
        """The hosts that could ever pass, whatever the usage and liveness (None: any)."""
        return self.mask(ev.ctx) if self.structural else None

    def never(self, ev: Evidence, ever: Mask) -> bool:
        """Whether, of the hosts that could ever take the request (``ever``), none can
        for this filter's own reason (e.g. a full anti-affinity group)."""
        return False

    def nearest(self, ev: Evidence, removed: Mask) -> list[NearestMiss] | None:
        """The nearest misses among the hosts it removed, when it can measure closeness."""
        return None

    def emptied_class(self, buckets: Sequence[Bucket]) -> str | None:
        """The resource class named when this filter left no host."""
        return next((b.resource_class for b in buckets
                     if b.filter == self.name and b.resource_class), self.resource_class)

    def room(self, room: Room) -> Mask:
        """For a filter that reads usage: its mask from the simulator's arrays."""
        raise NotImplementedError(f"filter {self.name} reads no usage")

    def count(self, room: Room) -> Ints | None:
        """For a filter that reads usage: how many more instances of the request each
        host takes by its measure (None: it does not limit the count)."""
        return None

    def short_class(self, room: Room, hosts: Mask) -> str | None:
        """The class the simulator names when this filter left no host."""
        return self.resource_class


class Scored(Protocol):
    """What a weigher reads: the live FilterContext, or the simulator's Placer."""

    @property
    def hosts(self) -> HostTable: ...
    @property
    def query(self) -> HostQuery: ...
    @property
    def members(self) -> Ints: ...
    def free_units(self, rc: str, hosts: Ints, rows: Ints) -> Floats: ...
    def instances(self, hosts: Ints, rows: Ints) -> Floats: ...


class Weigher:
    """A weigher: a raw value per candidate host, normalised over the candidates to
    [0, 1] and multiplied by ``<name>_weight_multiplier`` (per host: an aggregate may
    override it) by the runner."""

    name: ClassVar[str]
    rank: ClassVar[int]
    """Its place in the summing order (the registry sorts by it)."""
    help: ClassVar[str]
    default: ClassVar[float] = 1.0
    low: ClassVar[float] = -bounds.WEIGHT_MULTIPLIER.high
    signed: ClassVar[bool] = False
    """The multiplier's sign follows the strategy (pack flips it)."""

    columnar: ClassVar[bool] = False
    """Implements :meth:`column` (else a decision with it weighs every candidate)."""

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        """The raw value of each of ``hosts`` (at provider ``rows``), a new array; None
        when it cannot tell them apart (its policy is not asked for)."""
        raise NotImplementedError

    def column(self, ctx: FilterContext) -> Column | None:
        """The raw value of every host of the table at once, with block bounds (what
        :meth:`raw` gives each host, bit for bit), for the decision that bounds blocks
        of hosts instead of weighing every candidate; None exactly when :meth:`raw`
        is. Only called when :attr:`columnar` and the context has an index."""
        raise NotImplementedError

    @property
    def option(self) -> Option:
        return Option(f"{self.name}_weight_multiplier", self.help, self.default, self.low,
                      bounds.WEIGHT_MULTIPLIER.high)


class FreeUnits(Weigher):
    """A weigher of the free units of one resource class on the host (spread: more free
    wins; pack flips the sign)."""

    signed = True
    columnar = True
    resource_class: ClassVar[str]

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        return view.free_units(self.resource_class, hosts, rows)

    def column(self, ctx: FilterContext) -> Column | None:
        return ctx.free_column(self.resource_class)


def weighted(raw: Floats, const: float | None, per_host: Floats, hosts: Ints) -> Floats | None:
    """A weigher's part of the score, in place on ``raw``: ``(x - min) / (max - min)``
    times the multiplier (``const``, or ``per_host`` at ``hosts`` when hosts differ).
    None when every value is equal (the part is then 0 everywhere)."""
    low, high = raw.min(), raw.max()
    if high == low:
        return None
    np.subtract(raw, low, out=raw)
    np.divide(raw, high - low, out=raw)
    if const is None:
        part: Floats = per_host[hosts] * raw
        return part
    if const == -1.0:
        np.negative(raw, out=raw)
    elif const != 1.0:  # times 1 is exact: skipped
        np.multiply(const, raw, out=raw)
    return raw
