"""The live fleet on the wire: what ``GET /v1/simulation/fleet`` answers and what
``corral simulate --fleet live`` replays, so the CLI simulates on the operator's machine
without ever opening the database.

:func:`fleet_body` turns a :class:`FleetSpec` into JSON and :func:`fleet_of` turns it
back, field for field (hosts in order, traits sorted, every value's type checked), so a
simulation of the copy decides exactly as one of the fleet read in the server would.
A body that is not in this form is an :class:`~corral.domain.errors.InvalidInput`
naming the first bad field (``fleet.hosts[3].vcpus``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.domain import errors
from corral.domain.flavors import Flavor
from corral.simulation.fleet import FleetSpec, HostSpec

#: A flavor's fields on the wire (what a simulated boot asks for; not its timestamps).
FLAVOR_FIELDS = ("id", "name", "vcpus", "ram_mb", "disk_gb", "ephemeral_gb", "swap_mb",
                 "is_public", "description", "extra_specs")


def host_body(h: HostSpec) -> dict[str, Any]:
    return {"name": h.name, "vcpus": h.vcpus, "memory_mb": h.memory_mb, "disk_gb": h.disk_gb,
            "aggregates": list(h.aggregates), "traits": sorted(h.traits),
            "enabled": h.enabled, "up": h.up, "overrides": dict(h.overrides),
            "extra": dict(h.extra), "used": dict(h.used), "instances": h.instances}


def fleet_body(fleet: FleetSpec) -> dict[str, Any]:
    """``fleet`` as JSON."""
    return {"source": fleet.source, "hosts": [host_body(h) for h in fleet.hosts],
            "aggregates": {name: dict(md) for name, md in fleet.aggregates.items()},
            "flavors": [{f: getattr(flavor, f) if f != "extra_specs" else
                         dict(flavor.extra_specs) for f in FLAVOR_FIELDS}
                        for flavor in fleet.flavors]}


class _Reader:
    """Typed access to one JSON object, naming the field of anything wrong."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise errors.InvalidInput(f"{where} must be an object", field=where)
        self.data, self.where = data, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        where = f"{self.where}.{key}"
        if key not in self.data:
            if default is ...:
                raise errors.InvalidInput(f"{where} is missing", field=where)
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise errors.InvalidInput(f"{where} has the wrong type ({type(value).__name__})",
                                      field=where)
        return value

    def mapping(self, key: str, kind: type | tuple[type, ...]) -> dict[str, Any]:
        found = self.get(key, dict, {})
        for k, v in found.items():
            if not isinstance(v, kind) or isinstance(v, bool):
                where = f"{self.where}.{key}.{k}"
                raise errors.InvalidInput(f"{where} has the wrong type", field=where)
        return dict(found)

    def strings(self, key: str) -> list[str]:
        found = self.get(key, list, [])
        if not all(isinstance(v, str) for v in found):
            raise errors.InvalidInput(f"{self.where}.{key} must be a list of strings",
                                      field=f"{self.where}.{key}")
        return list(found)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _host(data: Any, where: str) -> HostSpec:
    r = _Reader(data, where)
    overrides = r.mapping("overrides", (int, float))
    return HostSpec(
        name=r.get("name", str), vcpus=r.get("vcpus", int), memory_mb=r.get("memory_mb", int),
        disk_gb=r.get("disk_gb", int), aggregates=tuple(r.strings("aggregates")),
        traits=frozenset(r.strings("traits")), enabled=r.get("enabled", bool),
        up=r.get("up", bool), overrides={k: float(v) for k, v in overrides.items()},
        extra=r.mapping("extra", int), used=r.mapping("used", int),
        instances=r.get("instances", int, 0))


def _flavor(data: Any, where: str) -> Flavor:
    r = _Reader(data, where)
    description = r.get("description", (str, type(None)), None)
    return Flavor(id=r.get("id", str), name=r.get("name", str), vcpus=r.get("vcpus", int),
                  ram_mb=r.get("ram_mb", int), disk_gb=r.get("disk_gb", int, 0),
                  ephemeral_gb=r.get("ephemeral_gb", int, 0), swap_mb=r.get("swap_mb", int, 0),
                  is_public=r.get("is_public", bool, True), description=description,
                  extra_specs=r.mapping("extra_specs", str))


def fleet_of(data: Any, where: str = "fleet") -> FleetSpec:
    """The FleetSpec of a :func:`fleet_body` answer.

    Raises:
        InvalidInput: naming the first field that is missing or of the wrong type.
    """
    r = _Reader(data, where)
    aggregates = r.get("aggregates", dict, {})
    return FleetSpec(
        hosts=tuple(_host(h, f"{where}.hosts[{i}]") for i, h in enumerate(r.get("hosts", list))),
        aggregates={name: _metadata(md, f"{where}.aggregates.{name}")
                    for name, md in aggregates.items()},
        flavors=tuple(_flavor(f, f"{where}.flavors[{i}]")
                      for i, f in enumerate(r.get("flavors", list, []))),
        source=r.get("source", str, "live"))


def _metadata(data: Any, where: str) -> dict[str, str]:
    if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
        raise errors.InvalidInput(f"{where} must map names to strings", field=where)
    return dict(data)
