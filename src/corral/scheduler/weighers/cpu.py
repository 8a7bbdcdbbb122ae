"""Weigher ``cpu``: free vCPUs on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import Scored, Weigher
from corral.scheduler.query import Floats, Ints


class Cpu(Weigher):
    name = "cpu"
    rank = 20
    help = "Weight of free vCPUs (as for memory)."
    signed = True
    resource_class = "VCPU"

    def raw(self, view: Scored, hosts: Ints, rows: Ints) -> Floats | None:
        return view.free_units(self.resource_class, hosts, rows)


WEIGHER = Cpu()
