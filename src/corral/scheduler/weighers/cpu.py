"""Weigher ``cpu``: free vCPUs on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import FreeUnits


class Cpu(FreeUnits):
    name = "cpu"
    rank = 20
    help = "Weight of free vCPUs (as for memory)."
    resource_class = "VCPU"


WEIGHER = Cpu()
