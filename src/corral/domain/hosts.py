"""Compute hosts and host aggregates: their records, rules and errors.

A host is a root resource provider plus what the scheduler needs: enabled or disabled
(with a reason), forced down, a last heartbeat, its own overcommit values and the
totals it reported. It is *down* when forced down or when its last heartbeat is older
than the configured interval (:func:`host_state`).

A host aggregate is a named set of hosts with free-form metadata; some keys have rules
(:func:`check_metadata_item`): the overcommit keys, ``availability_zone`` (a host may be
in one zone only), ``scheduler_strategy``, weigher multipliers, ``max_instances_per_host``
and ``filter_tenant_id*``. Other keys are free (flavor extra specs match them later).
Pure: the caller passes the clock.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from corral.domain import bounds, errors
from corral.domain.overcommit import (
    CPU,
    DISK,
    KEYS,
    RAM,
    RESERVED,
    Defaults,
    Effective,
    resolve_all,
)

#: Longest host name: a host's provider carries its name, and provider names stop at 200.
MAX_HOST_NAME = 200
#: Longest aggregate name, metadata key or value, and disabled reason.
MAX_TEXT = 255
#: Largest overcommit ratio accepted on a host or an aggregate.
MAX_RATIO = bounds.HOST_RATIO.high
#: The trait corral keeps on the provider of a disabled host (and only there).
DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
AVAILABILITY_ZONE = "availability_zone"
STRATEGIES = ("pack", "spread")
UP = "up"
DOWN = "down"
#: Fields an operator's change to a host may carry.
PATCHABLE = ("enabled", "disabled_reason", "forced_down", *KEYS)


# -- errors ----------------------------------------------------------------------------------

class HostNotFound(errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No host named {name!r} found")
        self.host = name


class AggregateNotFound(errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No host aggregate named {name!r} found")
        self.aggregate = name


class HostNotInAggregate(errors.NotFound):
    def __init__(self, aggregate: str, host: str) -> None:
        super().__init__(f"Host {host!r} is not in aggregate {aggregate!r}")
        self.aggregate = aggregate
        self.host = host


class HostAlreadyInAggregate(errors.Conflict):
    def __init__(self, aggregate: str, host: str) -> None:
        super().__init__(f"Host {host!r} is already in aggregate {aggregate!r}")
        self.aggregate = aggregate
        self.host = host


class HostInUse(errors.Conflict):
    def __init__(self, host: str) -> None:
        super().__init__(f"Unable to delete host {host!r}: its resource provider has "
                         "allocations")
        self.host = host


class AggregateNotEmpty(errors.Conflict):
    def __init__(self, aggregate: str, hosts: list[str]) -> None:
        shown = ", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else "")
        super().__init__(f"Unable to delete aggregate {aggregate!r}: it still has "
                         f"{len(hosts)} host(s): {shown}")
        self.aggregate = aggregate
        self.hosts = hosts


class AvailabilityZoneConflict(errors.Conflict):
    """A host would end up in two availability zones."""

    def __init__(self, host: str, current: str, wanted: str, via: str) -> None:
        super().__init__(f"Host {host!r} is in availability zone {current!r} (aggregate "
                         f"{via!r}) and cannot also be in availability zone {wanted!r}")
        self.host = host
        self.current = current
        self.wanted = wanted
        self.aggregate = via


# -- records ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ResourceView:
    """One class of a host's inventory, with its usage."""

    total: int
    reserved: int
    allocation_ratio: float
    capacity: int
    used: int


@dataclass(frozen=True, slots=True)
class Host:
    """A host as the API and CLI show it."""

    name: str
    provider_uuid: str
    generation: int
    enabled: bool
    disabled_reason: str | None
    forced_down: bool
    last_heartbeat: datetime | None
    state: str
    availability_zone: str | None
    aggregates: list[str]
    traits: list[str]
    reported: dict[str, int]
    overrides: dict[str, float | None]
    effective: Effective
    resources: dict[str, ResourceView]
    created_at: datetime
    updated_at: datetime
    instances: int = 0
    """Live instances placed here (building, active, or being resized)."""
    failed_builds: int = 0
    """Builds that failed here since the last that succeeded (the build_failure weigher)."""


@dataclass(frozen=True, slots=True)
class Aggregate:
    name: str
    uuid: str
    metadata: dict[str, str]
    hosts: list[str]
    created_at: datetime
    updated_at: datetime

    @property
    def availability_zone(self) -> str | None:
        return self.metadata.get(AVAILABILITY_ZONE)


@dataclass(frozen=True, slots=True)
class HostRow:
    """A stored host (a row of ``hosts`` with its provider's uuid and generation)."""

    id: int
    name: str
    resource_provider_id: int
    provider_uuid: str
    generation: int
    enabled: bool
    disabled_reason: str | None
    forced_down: bool
    last_heartbeat: datetime | None
    cpu_allocation_ratio: float | None
    ram_allocation_ratio: float | None
    disk_allocation_ratio: float | None
    reserved_host_memory_mb: int | None
    vcpus: int
    memory_mb: int
    disk_gb: int
    failed_builds: int
    created_at: datetime
    updated_at: datetime

    def overrides(self) -> dict[str, float | None]:
        """The host's own overcommit values by key (None: not set on the host)."""
        return {CPU: self.cpu_allocation_ratio, RAM: self.ram_allocation_ratio,
                DISK: self.disk_allocation_ratio, RESERVED: self.reserved_host_memory_mb}

    def reported(self) -> dict[str, int]:
        """The totals the host reported (before ratios)."""
        return {"vcpus": self.vcpus, "memory_mb": self.memory_mb, "disk_gb": self.disk_gb}


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """A stored host aggregate (its metadata and members are read apart)."""

    id: int
    name: str
    uuid: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HostReport:
    """What a host says about itself (``PUT /v1/hosts/{name}``).

    ``traits``/``resources`` None: keep the provider's current ones.
    """

    vcpus: int
    memory_mb: int
    disk_gb: int
    traits: list[str] | None = None
    resources: dict[str, int] | None = None


# -- rules -----------------------------------------------------------------------------------

def later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two heartbeats (None: never heard from)."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def host_state(forced_down: bool, last_heartbeat: datetime | None, now: datetime,
               down_after_s: float) -> str:
    """``up`` or ``down``: down when forced, never heard from, or silent too long."""
    if forced_down or last_heartbeat is None:
        return DOWN
    return DOWN if (now - last_heartbeat).total_seconds() > down_after_s else UP


def _check_text(value: str, field_name: str, what: str, longest: int = MAX_TEXT) -> None:
    if not 1 <= len(value) <= longest:
        raise errors.InvalidInput(
            f"{what} must be 1 to {longest} characters long (got {len(value)})", field=field_name)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise errors.InvalidInput(f"{what} must not contain control characters",
                                  field=field_name)


def check_host_name(name: str) -> None:
    _check_text(name, "name", "a host name", MAX_HOST_NAME)
    if "/" in name:
        raise errors.InvalidInput("a host name must not contain '/'", field="name")


def check_aggregate_name(name: str) -> None:
    _check_text(name, "name", "an aggregate name")
    if "/" in name:
        raise errors.InvalidInput("an aggregate name must not contain '/'", field="name")


def check_reason(reason: str, field_name: str = "disabled_reason") -> None:
    _check_text(reason, field_name, "a disabled reason")


def check_ratio(value: float, field_name: str) -> float:
    """A host's or an aggregate's ratio: finite, above 0, at most 1000."""
    return bounds.check_float(value, bounds.HOST_RATIO, field_name)


def check_count(value: int, field_name: str, low: int = 0) -> int:
    """A size or a count stored in a 32-bit column: from ``low`` to 2^31 - 1."""
    return bounds.check_int(value, bounds.IntRange(low, bounds.INT32_MAX), field_name)


def check_metadata_key(key: str) -> None:
    _check_text(key, f"metadata.{key}", "a metadata key")


def check_metadata_item(key: str, value: str) -> str:
    """Validate one metadata pair; returns the value as stored.

    Raises:
        InvalidInput: naming ``metadata.<key>`` and the rule broken.
    """
    where = f"metadata.{key}"
    check_metadata_key(key)
    _check_text(value, where, f"the value of {key}")
    if key in (CPU, RAM, DISK):
        bounds.parse_float(value, bounds.HOST_RATIO, where)
    elif key == RESERVED or key == "max_instances_per_host":
        bounds.parse_int(value, bounds.COUNT, where)
    elif key == "scheduler_strategy":
        if value not in STRATEGIES:
            raise errors.InvalidInput(
                f"scheduler_strategy must be one of {', '.join(STRATEGIES)} (got {value!r})",
                field=where)
    elif key.endswith("_weight_multiplier"):
        bounds.parse_float(value, bounds.WEIGHT_MULTIPLIER, where)
    elif (key == AVAILABILITY_ZONE or key.startswith("filter_tenant_id")) and not value.strip():
        raise errors.InvalidInput(f"{key} must not be blank", field=where)
    return value


def overcommit_value(key: str, value: str) -> float:
    """The number an (already validated) overcommit metadata value stands for."""
    return float(int(value.strip())) if key == RESERVED else float(value)


def check_host_changes(changes: Mapping[str, object]) -> dict[str, object]:
    """The values of an operator's change to a host, checked (ratios as floats).

    Raises:
        InvalidInput: a field that cannot be changed or a bad value, naming the field.
    """
    values: dict[str, object] = {}
    for key, value in changes.items():
        if key not in PATCHABLE:
            raise errors.InvalidInput(f"{key} cannot be changed", field=key)
        if key in ("enabled", "forced_down"):
            if not isinstance(value, bool):
                raise errors.InvalidInput(f"{key} must be true or false", field=key)
        elif key == "disabled_reason":
            if value is not None:
                if not isinstance(value, str):
                    raise errors.InvalidInput("disabled_reason must be a string", field=key)
                check_reason(value)
        elif value is not None:
            if key == RESERVED:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise errors.InvalidInput(f"{key} must be a whole number", field=key)
                check_count(value, key)
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise errors.InvalidInput(f"{key} must be a number", field=key)
                value = check_ratio(float(value), key)
        values[key] = value
    return values


# -- identity and effective values (the live hosts and the simulator's) --------------------

#: Namespace of host provider UUIDs: uuid5(HOST_NAMESPACE, host name).
HOST_NAMESPACE = uuidlib.UUID("6f0c5a52-5d1e-5b8e-9c1f-636f7272616c")


def provider_uuid(name: str) -> str:
    """The UUID of a host's resource provider: the same for the same name, always."""
    return str(uuidlib.uuid5(HOST_NAMESPACE, name))


def effective_of(overrides: Mapping[str, float | None],
                 aggregates: Mapping[str, Mapping[str, str]], defaults: Defaults) -> Effective:
    """A host's effective values from its own values (:meth:`HostRow.overrides`; a key
    missing or None is not set) and its aggregates' metadata."""
    host_values: dict[str, float | None] = {}
    for key in KEYS:
        value = overrides.get(key)
        host_values[key] = None if value is None else float(value)
    from_aggregates = {
        key: [(name, overcommit_value(key, md[key]))
              for name, md in aggregates.items() if key in md]
        for key in KEYS}
    return resolve_all(host_values, from_aggregates, defaults)
