"""What the fleet policy's options mean to the hosts and the scheduler: the overcommit
defaults a host falls back to (:func:`defaults_of`) and the host table's policy
(:func:`policy_of`). Pure functions of :class:`~corral.config.Settings`, below the
services so that the live scheduler and the simulator (corral.simulation, which the CLI
runs without any storage) build their hosts from one definition.
"""

from __future__ import annotations

from corral.config import Settings
from corral.domain.overcommit import Defaults
from corral.scheduler.hosts import Policy
from corral.scheduler.weighers import WEIGHERS


def defaults_of(settings: Settings) -> Defaults:
    return Defaults(cpu_allocation_ratio=settings.cpu_allocation_ratio,
                    ram_allocation_ratio=settings.ram_allocation_ratio,
                    disk_allocation_ratio=settings.disk_allocation_ratio,
                    reserved_host_memory_mb=settings.reserved_host_memory_mb)


def policy_of(settings: Settings) -> Policy:
    """The defaults a host falls back to when its aggregates say nothing."""
    return Policy(strategy=settings.strategy,
                  max_instances_per_host=settings.max_instances_per_host,
                  multipliers={w: float(getattr(settings, f"{w}_weight_multiplier"))
                               for w in WEIGHERS})
