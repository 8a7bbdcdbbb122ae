"""Weigher ``ram``: free memory on the host (spread: more free wins; pack flips the sign)."""

from __future__ import annotations

from corral.scheduler.plugin import FreeUnits


class Ram(FreeUnits):
    name = "ram"
    rank = 10
    help = "Weight of free memory (spread: more free wins; pack flips the sign)."
    resource_class = "MEMORY_MB"


WEIGHER = Ram()
