"""Filter ``resources``: every class of the flavor fits under the effective ratios and
reserved amounts, honouring min/max unit and step (the candidates engine decides,
nested trees and sharing providers included).

Its explanation splits the hosts it removed by the first class that does not fit:
never (the amount exceeds every provider's max_unit), not now (too few free units),
or no arrangement of the tree fits; its nearest misses are the hosts short of least.
"""

from __future__ import annotations

import numpy as np

from corral.domain import scheduling as s
from corral.scheduler.explanation import (
    NEAREST,
    Bucket,
    Evidence,
    NearestMiss,
    Shortfall,
    amount_words,
)
from corral.scheduler.plugin import Filter, Room
from corral.scheduler.query import FilterContext, Ints, Mask, feasible

_RATIO_KEY = {"VCPU": "cpu_allocation_ratio", "MEMORY_MB": "ram_allocation_ratio",
              "DISK_GB": "disk_allocation_ratio"}


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value == int(value) else f"{value:g}"


def _config_words(ctx: FilterContext, rc: str, idx: Ints) -> str:
    """The ratios (and reserved memory) the hosts ``idx`` apply to ``rc``."""
    key = _RATIO_KEY.get(rc)
    if key is None:
        return ""
    hosts = ctx.hosts.hosts
    ratios = sorted({hosts[i].effective.get(key).value for i in idx.tolist()})
    words = f" under ratio {_ratio(ratios[0])}" if len(ratios) == 1 else \
        f" under ratios {_ratio(ratios[0])} to {_ratio(ratios[-1])}"
    if rc == "MEMORY_MB":
        reserved = sorted({int(hosts[i].effective.get("reserved_host_memory_mb").value)
                           for i in idx.tolist()})
        words += (f" and {reserved[0]} MB reserved" if len(reserved) == 1
                  else f" and {reserved[0]} to {reserved[-1]} MB reserved")
    return words


class Resources(Filter):
    name = "resources"
    rank = 60
    reason = (s.NO_CAPACITY, None)
    usage = True

    def mask(self, ctx: FilterContext) -> Mask:
        return feasible(ctx)

    def buckets(self, ev: Evidence, removed: Mask) -> list[Bucket]:
        """By the first class that does not fit: never, then not now; then the rest."""
        left = removed.copy()
        out = []
        for rc, amount in ev.ctx.query.resources.items():
            free, max_unit, _capacity = ev.figures(rc)
            too_big = left & (max_unit < amount)
            if too_big.any():
                largest = int(max_unit[too_big].max())
                out.append(ev.bucket(
                    self.reason, self.name, too_big,
                    f"needs {amount_words(rc, amount)} on one provider; the largest allowed "
                    f"there is {amount_words(rc, largest)} (max_unit)",
                    f"cannot ever fit {rc}", rc, needed=amount, largest_max_unit=largest))
                left &= ~too_big
            short = left & (free < amount)
            if short.any():
                out.append(self._short(ev, short, rc, amount, free))
                left &= ~short
        if left.any():
            out.append(ev.bucket(
                self.reason, self.name, left,
                "every class fits on its own, but no single arrangement of the tree's "
                "providers satisfies the whole request (nested layout, request groups, "
                "group_policy or traits per group)",
                "no arrangement of resources fits"))
        return out

    def _short(self, ev: Evidence, short: Mask, rc: str, amount: int, free: Ints) -> Bucket:
        idx = np.flatnonzero(short)
        best = int(free[short].max())
        best_host = ev.hosts.names[int(idx[np.argmax(free[short])])]
        return ev.bucket(
            self.reason, self.name, short,
            f"needs {amount_words(rc, amount, 'free')}{_config_words(ev.ctx, rc, idx)}; "
            f"the best has {amount_words(rc, max(best, 0))}",
            f"not enough free {rc}", rc, needed=amount, best_free=max(best, 0),
            best_host=best_host)

    def ever(self, ev: Evidence) -> Mask | None:
        """Hosts whose tree could hold every class asked, were it empty."""
        ever = np.ones(ev.hosts.n, dtype=bool)
        for rc, amount in ev.ctx.query.resources.items():
            _free, max_unit, capacity = ev.figures(rc)
            ever &= (max_unit >= amount) & (capacity >= amount)
        return ever

    def nearest(self, ev: Evidence, removed: Mask) -> list[NearestMiss] | None:
        """The hosts short of least (summed over the classes, each relative to its
        amount)."""
        if not removed.any():
            return None
        idx = np.flatnonzero(removed)
        shortfall = np.zeros(idx.size)
        lacks: list[list[Shortfall]] = [[] for _ in idx]
        for rc, amount in ev.ctx.query.resources.items():
            free = ev.figures(rc)[0][idx]
            short = np.maximum(amount - free, 0)
            shortfall += short / max(amount, 1)
            for k in np.flatnonzero(short):
                lacks[k].append(Shortfall(rc, amount, int(max(free[k], 0)), int(short[k])))
        out = []
        for k in np.argsort(shortfall, kind="stable")[:NEAREST].tolist():
            what = "; ".join(f"{amount_words(x.resource_class, x.short)} short"
                             for x in lacks[k]) or "no single arrangement fits"
            name = ev.hosts.names[int(idx[k])]
            out.append(NearestMiss(name, f"{name}: {what}", lacks=tuple(lacks[k])))
        return out

    def room(self, room: Room) -> Mask:
        fits = (room.free >= room.amounts).all(axis=-1)
        return np.asarray(room.units_ok & fits, dtype=bool)

    def count(self, room: Room) -> Ints | None:
        fit = None
        for _rc, col, amount, _unit in room.asked:
            k = np.clip(room.free[:, col], 0, None) // amount
            fit = k if fit is None else np.minimum(fit, k)
        return fit

    def short_class(self, room: Room, hosts: Mask) -> str | None:
        """The class that the most of ``hosts`` lack first (in the request's order)."""
        left = hosts.copy()
        counts: dict[str, int] = {}
        for rc, col, amount, unit in room.asked:
            short = left & ~(unit & (room.free[:, col] >= amount))
            counts[rc] = int(short.sum())
            left &= ~short
        return max(counts, key=lambda c: counts[c]) if counts else None


FILTER = Resources()
