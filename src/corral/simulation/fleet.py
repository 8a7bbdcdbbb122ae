"""The simulator's fleets: a YAML/JSON description (:func:`parse_fleet`) or a copy of the
live fleet (read by corral.services.live_fleet for ``GET /v1/simulation/fleet``; its
wire form is corral.simulation.wire), and the in-memory FleetState and HostTable built
from one exactly as the live scheduler sees its hosts (:func:`build`), under a policy's
settings. Nothing here reads storage: the CLI runs it on the operator's machine."""

from __future__ import annotations

import uuid as uuidlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.config import Settings
from corral.config_fleet import defaults_of, policy_of
from corral.domain import errors
from corral.domain.capacity import Inventory
from corral.domain.flavors import Flavor
from corral.domain.hosts import DISABLED_TRAIT, HOST_NAMESPACE, effective_of, provider_uuid
from corral.domain.overcommit import KEYS, host_inventories
from corral.engine.records import ProviderRecord
from corral.engine.state import FleetState
from corral.scheduler.hosts import AggregateInfo, HostInfo, HostTable

#: The clock of a simulated fleet: every host that is up heartbeats "now".
SIM_NOW = 1_000_000.0
#: Classes measured per host (utilization, packing density, stranded capacity).
MEASURED = ("VCPU", "MEMORY_MB", "DISK_GB")

# -- the fleet -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HostSpec:
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    aggregates: tuple[str, ...] = ()
    traits: frozenset[str] = frozenset()
    enabled: bool = True
    up: bool = True
    overrides: Mapping[str, float] = field(default_factory=dict)
    """The host's own overcommit values (KEYS), which win over aggregates and defaults."""
    extra: Mapping[str, int] = field(default_factory=dict)
    """Other resource classes, {class: total}."""
    used: Mapping[str, int] = field(default_factory=dict)
    """Usage already there (a live copy), kept for the whole run."""
    instances: int = 0


@dataclass(frozen=True)
class FleetSpec:
    hosts: tuple[HostSpec, ...]
    aggregates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    flavors: tuple[Flavor, ...] = ()
    source: str = "file"


def _need(data: Mapping[str, Any], key: str, where: str, kind: type, low: int | None = None
          ) -> Any:
    if key not in data:
        raise errors.InvalidInput(f"fleet: {where} needs {key!r}", field=f"{where}.{key}")
    value = data[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise errors.InvalidInput(f"fleet: {where}.{key} must be a whole number, got {value!r}",
                                  field=f"{where}.{key}")
    if kind is int and low is not None and value < low:
        raise errors.InvalidInput(f"fleet: {where}.{key} must be at least {low}",
                                  field=f"{where}.{key}")
    if kind is not int and not isinstance(value, kind):
        raise errors.InvalidInput(f"fleet: {where}.{key} must be a {kind.__name__}",
                                  field=f"{where}.{key}")
    return value


def parse_fleet(data: Any) -> FleetSpec:
    """A fleet description (parsed YAML or JSON) as a FleetSpec. See docs/simulator.md.

    Raises:
        InvalidInput: naming the first bad field (``host_groups[2].count``).
    """
    if not isinstance(data, Mapping):
        raise errors.InvalidInput("fleet: the file must hold a mapping with 'host_groups'")
    aggregates = _aggregates(data)
    groups = data.get("host_groups")
    if not isinstance(groups, list) or not groups:
        raise errors.InvalidInput("fleet: 'host_groups' must be a non-empty list",
                                  field="host_groups")
    hosts: list[HostSpec] = []
    for i, g in enumerate(groups):
        hosts.extend(_host_group(i, g, aggregates))
    names = Counter(h.name for h in hosts)
    dup = [n for n, c in names.items() if c > 1]
    if dup:
        raise errors.InvalidInput(f"fleet: host name {dup[0]!r} comes twice (group names must "
                                  "differ)", field="host_groups")
    flavors = tuple(Flavor(id=str(f.get("id", f["name"])), name=str(f["name"]),
                           vcpus=int(f["vcpus"]), ram_mb=int(f["ram_mb"]),
                           disk_gb=int(f.get("disk_gb", 0)),
                           extra_specs={str(k): str(v) for k, v in
                                        (f.get("extra_specs") or {}).items()})
                    for f in data.get("flavors") or [])
    return FleetSpec(tuple(hosts), aggregates, flavors)


def _aggregates(data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The fleet's aggregates: {name: metadata}."""
    aggregates: dict[str, dict[str, str]] = {}
    for i, agg in enumerate(data.get("aggregates") or []):
        where = f"aggregates[{i}]"
        name = _need(agg, "name", where, str)
        metadata = agg.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise errors.InvalidInput(f"fleet: {where}.metadata must be a mapping",
                                      field=f"{where}.metadata")
        aggregates[name] = {str(k): str(v) for k, v in metadata.items()}
    return aggregates


def _host_group(i: int, g: Any, aggregates: dict[str, dict[str, str]]) -> list[HostSpec]:
    """The hosts of ``host_groups[i]`` (its zone, if any, added to ``aggregates``)."""
    where = f"host_groups[{i}]"
    if not isinstance(g, Mapping):
        raise errors.InvalidInput(f"fleet: {where} must be a mapping", field=where)
    prefix = str(g.get("name", f"group{i}"))
    count = _need(g, "count", where, int, 1)
    ram = g.get("memory_mb", g.get("ram_mb"))
    if ram is None and "ram_gb" in g:
        ram = int(g["ram_gb"]) * 1024
    shape = {"vcpus": g.get("vcpus"), "memory_mb": ram, "disk_gb": g.get("disk_gb", 0)}
    for key, value in shape.items():
        _need(shape, key, where, int, 0)
        del value
    aggs = list(g.get("aggregates") or [])
    zone = g.get("zone")
    if zone is not None:
        aggregates.setdefault(str(zone), {})["availability_zone"] = str(zone)
        aggs.append(str(zone))
    for a in aggs:
        if a not in aggregates:
            raise errors.InvalidInput(f"fleet: {where} names unknown aggregate {a!r}",
                                      field=f"{where}.aggregates")
    overrides = {k: float(g[k]) for k in KEYS if g.get(k) is not None}
    extra = {str(k): int(v) for k, v in (g.get("resources") or {}).items()}
    return [HostSpec(name=f"{prefix}-{k:05d}", vcpus=shape["vcpus"],
                     memory_mb=shape["memory_mb"], disk_gb=shape["disk_gb"],
                     aggregates=tuple(sorted(set(aggs))),
                     traits=frozenset(g.get("traits") or ()),
                     enabled=bool(g.get("enabled", True)), up=bool(g.get("up", True)),
                     overrides=overrides, extra=extra)
            for k in range(count)]


def aggregate_uuid(name: str) -> str:
    return str(uuidlib.uuid5(HOST_NAMESPACE, "aggregate:" + name))


def build(fleet: FleetSpec, settings: Settings) -> tuple[FleetState, HostTable]:
    """The fleet as the live scheduler would hold it under ``settings``."""
    defaults = defaults_of(settings)
    records, infos = [], []
    for i, h in enumerate(fleet.hosts):
        aggs = {a: fleet.aggregates.get(a, {}) for a in h.aggregates}
        row = {k: h.overrides.get(k) for k in KEYS}
        effective = effective_of(row, aggs, defaults)
        extra = {rc: Inventory(total=n, max_unit=n) for rc, n in h.extra.items() if n > 0}
        invs = host_inventories(h.vcpus, h.memory_mb, h.disk_gb, effective, extra)
        traits = h.traits | ({DISABLED_TRAIT} if not h.enabled else frozenset())
        uuid = provider_uuid(h.name)
        records.append(ProviderRecord(
            id=i + 1, uuid=uuid, generation=1, parent_id=None, root_id=i + 1,
            inventories=invs, used=dict(h.used), traits=frozenset(traits),
            aggregates=frozenset(aggregate_uuid(a) for a in h.aggregates),
            consumers=h.instances))
        infos.append(HostInfo(id=i + 1, name=h.name, provider_uuid=uuid, enabled=h.enabled,
                              forced_down=not h.up, heartbeat=SIM_NOW if h.up else None,
                              failed_builds=0, effective=effective, aggregates=h.aggregates))
    state = FleetState()
    state.apply(records)
    table = HostTable(infos, [AggregateInfo(n, m) for n, m in fleet.aggregates.items()],
                      policy_of(settings))
    return state, table


def usable_capacity(fleet: FleetSpec, settings: Settings) -> dict[str, float]:
    """Usable units per class over the enabled hosts (what the generator scales to)."""
    state, table = build(fleet, settings)
    rows = table.rows(state)[table.enabled]
    return {rc: float(state.capacity[rows, col].sum())
            for rc, col in state.classes.index.items()}
