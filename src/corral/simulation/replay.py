"""What-if simulation: replay a workload against a fleet under several policies.

The fleet is a :class:`~corral.simulation.fleet.FleetSpec` (``fleet.py``): read
from a YAML/JSON description or copied once from the database (the only read, nothing
is ever written). For each policy (:func:`parse_policy`: pack or
spread, allocation ratios, reserved memory, host_subset_size, any scheduler setting)
the fleet is built in memory exactly as the live scheduler sees it: host inventories
from :func:`corral.domain.overcommit.host_inventories` under the policy's defaults, a
:class:`~corral.engine.state.FleetState` and a :class:`~corral.scheduler.hosts.HostTable`.
The workload is then replayed through :class:`corral.scheduler.placer.Placer`, which
runs the live filter and weigher functions incrementally, and the final state is
measured (:class:`PolicyResult`). Outputs (JSON, CSV, plots) are written by
:mod:`corral.simulation.report`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from corral.config import Settings
from corral.domain import errors
from corral.domain.flavors import Flavor
from corral.domain.workload import Workload
from corral.scheduler.placer import Placer
from corral.scheduler.runner import Ask, host_query_of
from corral.simulation.fleet import MEASURED, SIM_NOW, FleetSpec, build

log = structlog.get_logger("corral.simulator")

#: Samples of the time series (utilization, refusals, the heat map).
SAMPLES = 200
#: How many of the largest shapes "fits of largest" reports.
LARGEST = 3

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
    run = _Replay(placer, workload, result, check_every)
    initial = placer.used.copy()
    every = max(1, len(workload) // samples)
    measured = [(rc, cols[rc]) for rc in MEASURED if rc in cols]
    heat_rows: list[npt.NDArray[np.float32]] = []
    tick = 0
    clock = time.perf_counter
    boot, leave = run.boot, run.leave
    started = clock()
    for i, (create, inst, shape, project) in enumerate(zip(
            workload.create, workload.instance, workload.shape, workload.project, strict=True)):
        if create:
            boot(i, inst, shape, project)
        else:
            leave(inst, shape)
        if i % every == 0 or i == len(workload) - 1:
            _sample(result, placer, measured, workload.time[i], run.boots - run.placed,
                    heat_rows)
        tick += 1
        if progress is not None and tick >= 5000:
            progress(tick)
            tick = 0
    result.elapsed_s = clock() - started
    if progress is not None and tick:
        progress(tick)
    run.finish()
    result.heat = np.vstack(heat_rows) if heat_rows else result.heat
    _measure(result, placer, workload, measured, run.amounts, run.alive, initial)
    log.info("simulation_done", policy=policy.label, events=len(workload), boots=run.boots,
             placed=run.placed, elapsed_s=round(result.elapsed_s, 3))
    return result


class _Replay:
    """The boots and departures of one replay, applied to the Placer as they come."""

    def __init__(self, placer: Placer, workload: Workload, result: PolicyResult,
                 check_every: int) -> None:
        self.placer, self.workload, self.result = placer, workload, result
        self.check_every = check_every
        cols = placer.state.classes.index
        self.amounts: list[dict[int, int]] = []
        for flavor in workload.shapes:
            pr = host_query_of(Ask(flavor=flavor, project_id="", user_id="simulator"))
            self.amounts.append({cols[rc]: n for rc, n in pr.request.groups[0].resources
                                 if rc in cols})  # a class no host has: never placed anyway
        self.keys: dict[tuple[int, int], int] = {}
        self.where = [-1] * (max(workload.instance) + 1 if len(workload) else 0)
        self.alive = [0] * len(workload.shapes)
        self.latencies = np.zeros(max(1, workload.creates), dtype=np.float64)
        self.refused: Counter[str] = Counter()
        self.boots = self.placed = 0

    def boot(self, i: int, inst: int, shape: int, project: int) -> None:
        placer, result = self.placer, self.result
        k = self.keys.get((shape, project))
        if k is None:
            q = host_query_of(Ask(flavor=self.workload.shapes[shape],
                                  project_id=self.workload.projects[project],
                                  user_id="simulator"))
            k = self.keys[(shape, project)] = placer.key(shape, q)
        t0 = time.perf_counter()
        host = placer.decide(k)
        self.latencies[self.boots] = time.perf_counter() - t0
        if self.check_every and self.boots % self.check_every == 0:
            result.checked += 1
            problem = placer.check(k, host)
            if problem:
                result.mismatches.append(f"event {i}: {problem}")
        self.boots += 1
        result.decisions.append(host)
        if host >= 0:
            placer.place(host, self.amounts[shape])
            self.where[inst] = host
            self.alive[shape] += 1
            self.placed += 1
        else:
            r = placer.refusal(k)
            self.refused["/".join(x for x in (r.filter or "", r.code, r.resource_class or "")
                                  if x)] += 1

    def leave(self, inst: int, shape: int) -> None:
        host = self.where[inst]
        if host >= 0:
            self.placer.place(host, self.amounts[shape], -1)
            self.where[inst] = -1
            self.alive[shape] -= 1

    def finish(self) -> None:
        """Counts, refusals and decision latencies into the result."""
        result = self.result
        result.boots, result.placed = self.boots, self.placed
        result.refused_by = dict(self.refused.most_common())
        if self.boots:
            lat = self.latencies[:self.boots] * 1e6
            result.latency_us = {"p50": round(float(np.percentile(lat, 50)), 2),
                                 "p99": round(float(np.percentile(lat, 99)), 2),
                                 "mean": round(float(lat.mean()), 2)}


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
        fit = placer.fits(k)
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
