"""Weigher ``ram``: free memory on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import Floats, Ints


class Ram(Weigher):
    name = "ram"
    rank = 10
    help = "Weight of free memory (spread: more free wins; pack flips the sign)."
    signed = True
    resource_class = "MEMORY_MB"

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        return view.free_units(self.resource_class, hosts, rows)


WEIGHER = Ram()
