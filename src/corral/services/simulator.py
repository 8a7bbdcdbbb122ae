"""What-if simulation: replay a workload against a fleet under several policies.

The fleet is a :class:`FleetSpec`: read from a YAML/JSON description
(:func:`parse_fleet`) or copied once from the database (:func:`read_live_fleet`; the
only read, nothing is ever written). For each policy (:func:`parse_policy`: pack or
spread, allocation ratios, reserved memory, host_subset_size, any scheduler setting)
the fleet is built in memory exactly as the live scheduler sees it: host inventories
from :func:`corral.domain.overcommit.host_inventories` under the policy's defaults, a
:class:`~corral.engine.state.FleetState` and a :class:`~corral.engine.hosts.HostTable`.
The workload is then replayed through :class:`corral.engine.simulation.Placer`, which
runs the live filter and weigher functions incrementally, and the final state is
measured (:class:`PolicyResult`). Outputs (JSON, CSV, plots) are written by
:mod:`corral.services.simulator_report`.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from corral.config import Settings
from corral.domain import errors
from corral.domain.capacity import Inventory
from corral.domain.flavors import Flavor
from corral.domain.hosts import DISABLED_TRAIT
from corral.domain.overcommit import KEYS, host_inventories
from corral.domain.workload import Workload
from corral.engine.hosts import AggregateInfo, HostInfo, HostTable
from corral.engine.simulation import Placer
from corral.engine.state import FleetState, ProviderRecord
from corral.persistence import Store
from corral.services.host_table import policy_of
from corral.services.hosts import HOST_NAMESPACE, defaults_of, effective_of, provider_uuid
from corral.services.scheduler import Ask, host_query_of

log = structlog.get_logger("corral.simulator")

#: The clock of a simulated fleet: every host that is up heartbeats "now".
SIM_NOW = 1_000_000.0
#: Classes measured per host (utilization, packing density, stranded capacity).
MEASURED = ("VCPU", "MEMORY_MB", "DISK_GB")
#: Samples of the time series (utilization, refusals, the heat map).
SAMPLES = 200
#: How many of the largest shapes "fits of largest" reports.
LARGEST = 3

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
    aggregates: dict[str, dict[str, str]] = {}
    for i, agg in enumerate(data.get("aggregates") or []):
        where = f"aggregates[{i}]"
        name = _need(agg, "name", where, str)
        metadata = agg.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise errors.InvalidInput(f"fleet: {where}.metadata must be a mapping",
                                      field=f"{where}.metadata")
        aggregates[name] = {str(k): str(v) for k, v in metadata.items()}
    groups = data.get("host_groups")
    if not isinstance(groups, list) or not groups:
        raise errors.InvalidInput("fleet: 'host_groups' must be a non-empty list",
                                  field="host_groups")
    hosts: list[HostSpec] = []
    for i, g in enumerate(groups):
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
        for k in range(count):
            hosts.append(HostSpec(
                name=f"{prefix}-{k:05d}", vcpus=shape["vcpus"], memory_mb=shape["memory_mb"],
                disk_gb=shape["disk_gb"], aggregates=tuple(sorted(set(aggs))),
                traits=frozenset(g.get("traits") or ()), enabled=bool(g.get("enabled", True)),
                up=bool(g.get("up", True)), overrides=overrides, extra=extra))
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


def read_live_fleet(store: Store, settings: Settings) -> FleetSpec:
    """Copy the live fleet once (one read transaction; nothing is written): hosts with
    their reports, own overcommit values, traits, aggregates, liveness and current
    usage, the aggregates' metadata, and the flavors."""
    from corral.services.flavors import list_flavors

    now = time.time()
    with store.read() as repo:
        rows = repo.host_rows()
        aggs = repo.aggregate_rows()
        metadata = repo.aggregate_metadata(a["id"] for a in aggs)
        agg_name = {a["id"]: a["name"] for a in aggs}
        of_host: dict[int, list[str]] = {}
        for host_id, agg_id in repo.memberships():
            of_host.setdefault(host_id, []).append(agg_name[agg_id])
        providers = {r["id"]: r for r in repo.provider_rows(
            [r["resource_provider_id"] for r in rows])}
    flavors = list_flavors(store)
    hosts = []
    for r in rows:
        p = providers.get(r["resource_provider_id"], {})
        invs: Mapping[str, Inventory] = p.get("inventories", {})
        beat = r["last_heartbeat"]
        fresh = beat is not None and now - beat.timestamp() <= settings.host_down_after_s
        hosts.append(HostSpec(
            name=r["name"], vcpus=r["vcpus"], memory_mb=r["memory_mb"], disk_gb=r["disk_gb"],
            aggregates=tuple(sorted(of_host.get(r["id"], []))),
            traits=frozenset(p.get("traits", ())) - {DISABLED_TRAIT}, enabled=r["enabled"],
            up=bool(fresh and not r["forced_down"]),
            overrides={k: float(r[k]) for k in KEYS if r[k] is not None},
            extra={rc: inv.total for rc, inv in invs.items() if rc not in MEASURED},
            used=dict(p.get("used", {})), instances=int(p.get("consumers", 0))))
    log.info("simulator_fleet_read", hosts=len(hosts), aggregates=len(aggs))
    return FleetSpec(tuple(hosts), {agg_name[a]: m for a, m in metadata.items()},
                     tuple(flavors), source="live")


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


# -- policies ------------------------------------------------------------------------------

#: Short names a policy may use for scheduler settings.
POLICY_KEYS = {"cpu_ratio": "cpu_allocation_ratio", "ram_ratio": "ram_allocation_ratio",
               "disk_ratio": "disk_allocation_ratio", "reserved_mb": "reserved_host_memory_mb",
               "subset": "host_subset_size", "max_instances": "max_instances_per_host"}


@dataclass(frozen=True)
class SimPolicy:
    label: str
    settings: Settings


def parse_policy(spec: str, base: Settings) -> SimPolicy:
    """``"pack"``, ``"spread,cpu_ratio=8,reserved_mb=2048,subset=2"``: a strategy and/or
    settings (short names of :data:`POLICY_KEYS` or any ``[scheduler]`` option). The
    ratios and reserved memory are the defaults a host falls back to, as in the live
    configuration (a host's or aggregate's own value still wins).

    Raises:
        InvalidInput: naming the bad item.
    """
    updates: dict[str, Any] = {}
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        if "=" not in item:
            if item not in ("pack", "spread"):
                raise errors.InvalidInput(f"policy {spec!r}: {item!r} is not pack, spread or "
                                          "key=value", field="policy")
            updates["strategy"] = item
            continue
        key, value = (x.strip() for x in item.split("=", 1))
        key = POLICY_KEYS.get(key, key)
        if key not in Settings.model_fields or key in ("data_dir", "database_url"):
            raise errors.InvalidInput(f"policy {spec!r}: unknown key {key!r}", field="policy")
        updates[key] = value
    try:
        settings = Settings.model_validate({**base.model_dump(), **updates})
    except ValueError as exc:
        raise errors.InvalidInput(f"policy {spec!r}: {exc}", field="policy") from None
    return SimPolicy(spec.strip() or base.strategy, settings)


# -- the run -------------------------------------------------------------------------------


@dataclass
class PolicyResult:
    label: str
    settings: dict[str, Any]
    boots: int = 0
    placed: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)
    """{"filter/code[/class]": boots refused}."""
    decisions: list[int] = field(default_factory=list)
    """Per create event, the chosen host (index into host_names) or -1."""
    host_names: list[str] = field(default_factory=list)
    packing_density: dict[str, float] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)
    empty_hosts: int = 0
    hosts: int = 0
    stranded: dict[str, int] = field(default_factory=dict)
    smallest: str | None = None
    fits_of_largest: dict[str, int] = field(default_factory=dict)
    compaction_hosts: int | None = None
    latency_us: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    events: int = 0
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    series_time: list[float] = field(default_factory=list)
    series_util: dict[str, list[float]] = field(default_factory=dict)
    series_refused: list[int] = field(default_factory=list)
    heat: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """Per sample (rows) and host (columns): the most used share of its vCPU and RAM."""

    @property
    def acceptance(self) -> float:
        return self.placed / self.boots if self.boots else 1.0

    def summary(self) -> dict[str, Any]:
        """Everything but the per-decision lists and the heat map (JSON-ready)."""
        return {
            "policy": self.label, "settings": self.settings, "events": self.events,
            "boots": self.boots, "placed": self.placed, "refused": self.boots - self.placed,
            "acceptance_rate": round(self.acceptance, 6), "refused_by": self.refused_by,
            "hosts": self.hosts, "empty_hosts": self.empty_hosts,
            "utilization": self.utilization, "packing_density": self.packing_density,
            "stranded": self.stranded, "smallest_shape": self.smallest,
            "fits_of_largest": self.fits_of_largest,
            "compaction_min_hosts": self.compaction_hosts,
            "decision_latency_us": self.latency_us, "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events / self.elapsed_s, 1) if self.elapsed_s else None,
            "checked_against_live_functions": self.checked, "mismatches": self.mismatches[:20],
        }


Progress = Callable[[int], None]


def simulate(fleet: FleetSpec, workload: Workload, policy: SimPolicy, *,
             progress: Progress | None = None, check_every: int = 0, seed: int = 0,
             samples: int = SAMPLES) -> PolicyResult:
    """Replay ``workload`` against ``fleet`` under ``policy``.

    Args:
        progress: called with the number of events done since the last call.
        check_every: every this many boots, also run the live filters and weighers on
            the same state and record any disagreement (``mismatches``); 0: never.
        seed: the random source of host_subset_size > 1.
    """
    conf = policy.settings
    state, table = build(fleet, conf)
    placer = Placer(state, table, conf.filters, conf.host_subset_size, now=SIM_NOW,
                    down_after_s=float(conf.host_down_after_s), rng=random.Random(seed))
    cols = state.classes.index
    result = PolicyResult(policy.label, _policy_settings(conf), host_names=list(table.names),
                          hosts=table.n, events=len(workload))
    keys: dict[tuple[int, int], int] = {}
    amounts: list[dict[int, int]] = []
    for flavor in workload.shapes:
        pr = host_query_of(Ask(flavor=flavor, project_id="", user_id="simulator"))
        amounts.append({cols[rc]: n for rc, n in pr.request.groups[0].resources
                        if rc in cols})  # a class no host has: never placed anyway
    where = [-1] * (max(workload.instance) + 1 if len(workload) else 0)
    alive = [0] * len(workload.shapes)
    initial = placer.used.copy()
    latencies = np.zeros(max(1, workload.creates), dtype=np.float64)
    refused: Counter[str] = Counter()
    every = max(1, len(workload) // samples)
    measured = [(rc, cols[rc]) for rc in MEASURED if rc in cols]
    heat_rows: list[npt.NDArray[np.float32]] = []
    boots = placed = 0
    tick = 0
    clock = time.perf_counter
    decide, place = placer.decide, placer.place
    started = clock()
    for i, (create, inst, shape, project) in enumerate(zip(
            workload.create, workload.instance, workload.shape, workload.project, strict=True)):
        if create:
            k = keys.get((shape, project))
            if k is None:
                q = host_query_of(Ask(flavor=workload.shapes[shape],
                                      project_id=workload.projects[project],
                                      user_id="simulator"))
                k = keys[(shape, project)] = placer.key(shape, q)
            t0 = clock()
            host = decide(k)
            latencies[boots] = clock() - t0
            if check_every and boots % check_every == 0:
                result.checked += 1
                problem = placer.check(k, host)
                if problem:
                    result.mismatches.append(f"event {i}: {problem}")
            boots += 1
            result.decisions.append(host)
            if host >= 0:
                place(host, amounts[shape])
                where[inst] = host
                alive[shape] += 1
                placed += 1
            else:
                r = placer.refusal(k)
                refused["/".join(x for x in (r.filter or "", r.code, r.resource_class or "")
                                 if x)] += 1
        else:
            host = where[inst]
            if host >= 0:
                place(host, amounts[shape], -1)
                where[inst] = -1
                alive[shape] -= 1
        if i % every == 0 or i == len(workload) - 1:
            _sample(result, placer, measured, workload.time[i], boots - placed, heat_rows)
        tick += 1
        if progress is not None and tick >= 5000:
            progress(tick)
            tick = 0
    result.elapsed_s = clock() - started
    if progress is not None and tick:
        progress(tick)
    result.boots, result.placed = boots, placed
    result.refused_by = dict(refused.most_common())
    if boots:
        lat = latencies[:boots] * 1e6
        result.latency_us = {"p50": round(float(np.percentile(lat, 50)), 2),
                             "p99": round(float(np.percentile(lat, 99)), 2),
                             "mean": round(float(lat.mean()), 2)}
    result.heat = np.vstack(heat_rows) if heat_rows else result.heat
    _measure(result, placer, workload, measured, amounts, alive, initial)
    log.info("simulation_done", policy=policy.label, events=len(workload), boots=boots,
             placed=placed, elapsed_s=round(result.elapsed_s, 3))
    return result


def _policy_settings(conf: Settings) -> dict[str, Any]:
    keys = ("strategy", "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
            "reserved_host_memory_mb", "host_subset_size", "max_instances_per_host")
    return {k: getattr(conf, k) for k in keys}


def _sample(result: PolicyResult, placer: Placer, measured: Sequence[tuple[str, int]],
            when: float, refused: int, heat: list[npt.NDArray[np.float32]]) -> None:
    result.series_time.append(when)
    result.series_refused.append(refused)
    dominant = np.zeros(placer.table.n, dtype=np.float32)
    for rc, col in measured:
        cap = placer.capacity[:, col]
        total = float(cap.sum())
        result.series_util.setdefault(rc, []).append(
            float(placer.used[:, col].sum()) / total if total else 0.0)
        if rc in ("VCPU", "MEMORY_MB"):
            share = np.divide(placer.used[:, col], cap, out=np.zeros(cap.shape),
                              where=cap > 0).astype(np.float32)
            dominant = np.maximum(dominant, share)
    heat.append(dominant)


def _measure(result: PolicyResult, placer: Placer, workload: Workload,
             measured: Sequence[tuple[str, int]], amounts: Sequence[Mapping[int, int]],
             alive: Sequence[int], initial: npt.NDArray[np.int64]) -> None:
    """Packing density, empty hosts, stranded capacity, fits of the largest shapes and
    the compaction bound, on the final state."""
    used, cap, free = placer.used, placer.capacity, placer.free
    busy = placer.consumers > 0
    result.empty_hosts = int((~busy).sum())
    for rc, col in measured:
        total = float(cap[:, col].sum())
        result.utilization[rc] = round(float(used[:, col].sum()) / total, 6) if total else 0.0
        c = float(cap[busy, col].sum())
        result.packing_density[rc] = round(float(used[busy, col].sum()) / c, 6) if c else 0.0
    if not workload.shapes:
        return
    order = sorted(range(len(workload.shapes)), key=lambda s: _size(workload.shapes[s]))
    smallest = order[0]
    result.smallest = workload.shapes[smallest].name
    k = _any_key(placer, workload, smallest)
    if k is not None:
        blocked = placer.static[k] & ~placer.eligible[k]
        result.stranded = {rc: int(np.clip(free[blocked, col], 0, None).sum())
                           for rc, col in measured}
    for s in reversed(order[-LARGEST:]):
        k = _any_key(placer, workload, s)
        if k is None:
            continue
        fit = np.full(placer.table.n, np.iinfo(np.int64).max, dtype=np.int64)
        for col, amount in placer.key_data[k].asked:
            fit = np.minimum(fit, np.clip(free[:, col], 0, None) // amount)
        if placer.count_instances:
            fit = np.minimum(fit, np.clip(placer.max_instances - placer.consumers, 0, None))
        result.fits_of_largest[workload.shapes[s].name] = int(fit[placer.static[k]].sum())
    bound = compaction_bound(placer, amounts, alive, initial)
    # The run's own placement is a packing too: first-fit decreasing can do worse (it can
    # even fail on a nearly full fleet), and then what the run achieved is the bound.
    in_use = int(busy.sum())
    result.compaction_hosts = in_use if bound is None else min(bound, in_use)


def _size(f: Flavor) -> tuple[int, int, int]:
    return (f.vcpus, f.ram_mb, f.disk_gb)


def _any_key(placer: Placer, workload: Workload, shape: int) -> int | None:
    for (s, _p), k in placer.keys.items():
        if s == shape:
            return k
    return None


def compaction_bound(placer: Placer, amounts: Sequence[Mapping[int, int]],
                     alive: Sequence[int], initial: npt.NDArray[np.int64]) -> int | None:
    """The fewest hosts the final load fits on, by first-fit decreasing: instances
    largest first, into the enabled and up hosts taken largest first, honouring every
    class and max_instances_per_host (aggregates, zones and traits are not: it is a
    bound). Usage that was there before the run (a live copy) is one item per host.

    Args:
        amounts: per shape, {class column: units}.
        alive: per shape, instances alive at the end.
        initial: per host and class column, the usage before the run.

    Returns:
        The host count, or None when even first-fit decreasing cannot fit the load.
    """
    table = placer.table
    hosts = np.flatnonzero(table.enabled & ~table.forced_down)
    if hosts.size == 0:
        return None
    cap = placer.capacity[hosts]
    k = cap.shape[1]
    order = np.lexsort(tuple(-cap[:, c] for c in reversed(range(k))))
    free = cap[order].copy()
    limit = placer.max_instances[hosts][order].copy()
    scale = np.maximum(cap.mean(axis=0), 1)
    items: list[tuple[float, npt.NDArray[np.int64], int]] = []
    for shape, n in enumerate(alive):
        if n > 0:
            vec = np.zeros(k, dtype=np.int64)
            for col, amount in amounts[shape].items():
                vec[col] = amount
            items.append((float((vec / scale).sum()), vec, n))
    for h in np.flatnonzero((initial > 0).any(axis=1)):
        items.append((float((initial[h] / scale).sum()), initial[h].astype(np.int64), 1))
    items.sort(key=lambda t: t[0], reverse=True)
    opened = np.zeros(free.shape[0], dtype=bool)
    for _size, vec, n in items:
        fit = limit.copy()
        for c in np.flatnonzero(vec):
            fit = np.minimum(fit, free[:, c] // vec[c])
        fit = np.clip(fit, 0, None)
        cum = np.cumsum(fit)
        if cum[-1] < n:
            return None
        take = np.clip(n - (cum - fit), 0, fit)
        free -= take[:, None] * vec[None, :]
        limit -= take
        opened |= take > 0
    return int(opened.sum())
