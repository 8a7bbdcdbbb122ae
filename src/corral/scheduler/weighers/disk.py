"""Weigher ``disk``: free disk on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import Floats, Ints


class Disk(Weigher):
    name = "disk"
    rank = 30
    help = "Weight of free disk (as for memory)."
    signed = True
    resource_class = "DISK_GB"

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        return view.free_units(self.resource_class, hosts, rows)


WEIGHER = Disk()
