"""Weigher ``disk``: free disk on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import FreeUnits


class Disk(FreeUnits):
    name = "disk"
    rank = 30
    help = "Weight of free disk (as for memory)."
    resource_class = "DISK_GB"


WEIGHER = Disk()
