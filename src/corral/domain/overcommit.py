"""Overcommit: which allocation ratio and reserved memory apply to a host, and why.

Each of the four values (``cpu_allocation_ratio``, ``ram_allocation_ratio``,
``disk_allocation_ratio``, ``reserved_host_memory_mb``) resolves on its own, in order:
the value set on the host itself; else the smallest value among the host's aggregates'
metadata (ties go to the aggregate whose name sorts first, so the answer is stable);
else the configured default. The result carries its source (``host``,
``aggregate:<name>`` or ``default``) so operators can see where a figure came from.

:func:`host_inventories` turns a host's reported totals and its effective values into
the Placement inventories the scheduler claims against. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from corral.domain.capacity import MAX_INT, Inventory

CPU = "cpu_allocation_ratio"
RAM = "ram_allocation_ratio"
DISK = "disk_allocation_ratio"
RESERVED = "reserved_host_memory_mb"
#: The ratio keys, with the resource class each applies to.
RATIO_CLASSES: dict[str, str] = {CPU: "VCPU", RAM: "MEMORY_MB", DISK: "DISK_GB"}
#: Every key that resolves host -> aggregates -> default, in display order.
KEYS: tuple[str, ...] = (CPU, RAM, DISK, RESERVED)
#: The classes a host reports as plain numbers (vcpus, memory_mb, disk_gb).
BASE_CLASSES: tuple[str, ...] = ("VCPU", "MEMORY_MB", "DISK_GB")

HOST = "host"
DEFAULT = "default"
AGGREGATE_PREFIX = "aggregate:"


@dataclass(frozen=True, slots=True)
class Resolved:
    """One effective value and where it came from."""

    value: float
    source: str

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True, slots=True)
class Defaults:
    """The configured defaults (the last resort of the resolution)."""

    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512

    def get(self, key: str) -> float:
        value: float = getattr(self, key)
        return value


@dataclass(frozen=True, slots=True)
class Effective:
    """The four effective values of one host."""

    cpu_allocation_ratio: Resolved
    ram_allocation_ratio: Resolved
    disk_allocation_ratio: Resolved
    reserved_host_memory_mb: Resolved

    def get(self, key: str) -> Resolved:
        value: Resolved = getattr(self, key)
        return value

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {key: self.get(key).as_dict() for key in KEYS}


def resolve(host_value: float | None, aggregate_values: Iterable[tuple[str, float]],
            default: float) -> Resolved:
    """Resolve one value: the host's, else the smallest aggregate's, else the default.

    Args:
        host_value: set on the host, or None.
        aggregate_values: (aggregate name, value) for each of the host's aggregates
            whose metadata sets this key.
        default: the configured default.

    Returns:
        The value with its source: ``host``, ``aggregate:<name>`` or ``default``.
    """
    if host_value is not None:
        return Resolved(host_value, HOST)
    best: tuple[float, str] | None = None
    for name, value in aggregate_values:
        if best is None or (value, name) < best:
            best = (value, name)
    if best is not None:
        return Resolved(best[0], AGGREGATE_PREFIX + best[1])
    return Resolved(default, DEFAULT)


def resolve_all(host_values: Mapping[str, float | None],
                aggregate_values: Mapping[str, Iterable[tuple[str, float]]],
                defaults: Defaults) -> Effective:
    """Resolve every key of :data:`KEYS` (missing keys count as not set)."""
    found = {key: resolve(host_values.get(key), aggregate_values.get(key, ()), defaults.get(key))
             for key in KEYS}
    reserved = found[RESERVED]
    # Reserved memory is a whole number of MB wherever it came from.
    found[RESERVED] = Resolved(int(reserved.value), reserved.source)
    return Effective(**found)


def host_inventories(vcpus: int, memory_mb: int, disk_gb: int, effective: Effective,
                     extra: Mapping[str, Inventory] | None = None) -> dict[str, Inventory]:
    """The Placement inventories of a host under its effective values.

    A reported total of 0 means the host has none of that class (no inventory record,
    as an Ironic node with only a custom class). ``max_unit`` is the physical total, as
    Nova sets it: overcommit lets more instances share a host, never one instance have
    more vCPUs (or memory, or disk) than the host has, so a flavor larger than a host is
    a structural misfit whatever the ratios. Reserved memory larger than the host's
    memory is capped at its total (capacity 0) rather than making the inventory invalid.

    Args:
        vcpus, memory_mb, disk_gb: what the host reported.
        effective: its effective ratios and reserved memory.
        extra: further classes the host reported, kept as given.
    """
    out: dict[str, Inventory] = {}
    reserved = int(effective.reserved_host_memory_mb.value)
    for name, total, ratio_key in (("VCPU", vcpus, CPU), ("MEMORY_MB", memory_mb, RAM),
                                   ("DISK_GB", disk_gb, DISK)):
        if total <= 0:
            continue
        held = min(reserved, total) if name == "MEMORY_MB" else 0
        ratio = float(effective.get(ratio_key).value)
        out[name] = Inventory(
            total=total, reserved=held, min_unit=1,
            max_unit=min(total, MAX_INT), step_size=1,
            allocation_ratio=ratio)
    for name, record in sorted((extra or {}).items()):
        out[name] = record
    return out
