"""The synthetic workload generator of ``corral simulate`` (a trace is domain/workload.py).

Its defaults come from the published Azure VM trace statistics (Azure Public Dataset
V1/V2 and their analysis notebooks; see docs/simulator.md): the vCPU mix, memory per
vCPU, a three-part lifetime mixture (short exponential, lognormal middle, Pareto tail
past eight days), deployment sizes drawn from the published CDF (VMs of a deployment
arrive together and share shape and project), and Poisson deployment arrivals whose
rate is scaled so that the demand at the end of the run is a chosen share of the fleet.
Seeded: the same parameters give the same events. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from corral.domain import errors
from corral.domain.flavors import Flavor
from corral.domain.workload import Workload

#: Azure V1 public trace: share of VMs per vCPU count (1: 49 %, 2: 25 %, 4: 11 %, 8: 14 %),
#: with the ~1 % of larger VMs of the full data as 16.
AZURE_VCPU_MIX: tuple[tuple[int, float], ...] = ((1, 0.49), (2, 0.25), (4, 0.11), (8, 0.14),
                                                 (16, 0.01))
#: Memory per vCPU, mostly 2 to 4 GB (V2 buckets: 4-8 GB and 8-32 GB lead, over 1-2 vCPUs).
AZURE_RAM_PER_VCPU_MB: tuple[tuple[int, float], ...] = ((2048, 0.5), (4096, 0.4), (8192, 0.1))
#: VMs per deployment, CDF (V1: <=2: 44 %, <=3: 50 %, <=5: 59 %, <=10: 72 %, <=20: 83 %,
#: <=30: 90 %, <=50: 93 %); the rest up to 100.
AZURE_DEPLOYMENT_CDF: tuple[tuple[int, float], ...] = (
    (2, 0.44), (3, 0.50), (5, 0.59), (10, 0.72), (20, 0.83), (30, 0.90), (50, 0.93), (100, 1.0))


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """What the generator draws from; the defaults reproduce the Azure statistics.

    Lifetimes (hours) are a mixture: ``short_share`` exponential with mean
    ``short_mean_h``; ``long_share`` Pareto from ``long_min_h`` with index
    ``long_alpha`` (the tail past a week); the rest lognormal with median
    ``medium_median_h`` and shape ``medium_sigma``. With the defaults about 67 % of VMs
    live under 2 h, 88 % under a day and 8-9 % past 8 days (V1: 67 %, 88 %, 7-10 %).
    """

    events: int = 100_000
    load: float = 0.85
    """Mean demand at the end of the run, as a share of the fleet's usable vCPUs or
    memory, whichever is reached first (Protean runs at 85-90 % packing density)."""
    seed: int = 0
    vcpu_mix: tuple[tuple[int, float], ...] = AZURE_VCPU_MIX
    ram_per_vcpu_mb: tuple[tuple[int, float], ...] = AZURE_RAM_PER_VCPU_MB
    disk_gb_per_vcpu: int = 10
    deployment_cdf: tuple[tuple[int, float], ...] = AZURE_DEPLOYMENT_CDF
    short_share: float = 0.62
    short_mean_h: float = 0.5
    medium_median_h: float = 5.8
    medium_sigma: float = 1.26
    long_share: float = 0.08
    long_min_h: float = 192.0
    long_alpha: float = 1.5
    projects: int = 50

    def check(self) -> None:
        """Raises InvalidInput naming the first parameter out of range."""
        def bad(name: str, why: str) -> None:
            raise errors.InvalidInput(f"synthetic workload: {name} {why}", field=name)

        if self.events < 1:
            bad("events", "must be at least 1")
        if not 0 < self.load <= 10:
            bad("load", "must be above 0 and at most 10")
        for name, mix in (("vcpu_mix", self.vcpu_mix), ("ram_per_vcpu_mb", self.ram_per_vcpu_mb)):
            if not mix or any(v < 1 or w < 0 for v, w in mix) or sum(w for _v, w in mix) <= 0:
                bad(name, "needs positive sizes and weights")
        cdf = self.deployment_cdf
        if (not cdf or cdf[-1][1] != 1.0 or any(b[0] <= a[0] or b[1] < a[1]
                                                for a, b in zip(cdf, cdf[1:], strict=False))):
            bad("deployment_cdf", "must rise in size and share and end at 1.0")
        if not 0 <= self.short_share + self.long_share <= 1:
            bad("short_share", "plus long_share must be within 0..1")
        if min(self.short_mean_h, self.medium_median_h, self.medium_sigma, self.long_min_h,
               self.long_alpha) <= 0:
            bad("lifetime", "parameters must be positive")
        if self.projects < 1:
            bad("projects", "must be at least 1")


def _choice(rng: random.Random, mix: tuple[tuple[int, float], ...]) -> int:
    values = [v for v, _w in mix]
    return rng.choices(values, weights=[w for _v, w in mix])[0]


def lifetime_h(rng: random.Random, p: SyntheticParams) -> float:
    """One lifetime in hours from the three-part mixture."""
    u = rng.random()
    if u < p.short_share:
        return rng.expovariate(1.0 / p.short_mean_h)
    if u < p.short_share + p.long_share:
        return float(p.long_min_h * (1.0 - rng.random()) ** (-1.0 / p.long_alpha))
    return float(rng.lognormvariate(math.log(p.medium_median_h), p.medium_sigma))


def deployment_size(rng: random.Random, cdf: tuple[tuple[int, float], ...]) -> int:
    """VMs in one deployment: a CDF bucket, then uniform within it."""
    u = rng.random()
    low = 1
    for size, share in cdf:
        if u <= share:
            return rng.randint(low, size)
        low = size + 1
    return cdf[-1][0]


def generate(params: SyntheticParams, capacity: Mapping[str, float]) -> Workload:
    """A synthetic workload of ``params.events`` events for a fleet of ``capacity``
    ({"VCPU": usable vCPUs, "MEMORY_MB": usable MB}).

    The arrival rate is scaled (Little's law over the run's own horizon: a lifetime
    longer than the run counts as the run) so that the demand at the end of the run is
    ``params.load`` of the fleet in the dimension reached first. How many VMs arrive is
    chosen so that creates plus the deletes falling inside the run make ``events``.
    """
    params.check()
    rng = random.Random(params.seed)
    n = params.events
    deployments: list[tuple[int, int, int, int]] = []  # (size, vcpus, ram/vcpu, project)
    total = 0
    while total < n:
        size = min(deployment_size(rng, params.deployment_cdf), n - total)
        deployments.append((size, _choice(rng, params.vcpu_mix),
                            _choice(rng, params.ram_per_vcpu_mb), rng.randrange(params.projects)))
        total += size
    lifetimes = [lifetime_h(rng, params) * 3600.0 for _ in range(total)]
    ordered = sorted(lifetimes)
    prefix = [0.0]
    for t in ordered:
        prefix.append(prefix[-1] + t)

    def mean_life(horizon: float) -> float:  # E[min(L, horizon)]
        k = bisect.bisect_right(ordered, horizon)
        return (prefix[k] + horizon * (total - k)) / total

    mean_vcpus = sum(s * v for s, v, _r, _p in deployments) / total
    mean_ram = sum(s * v * r for s, v, r, _p in deployments) / total
    want = [(params.load * capacity.get("VCPU", 0.0), mean_vcpus),
            (params.load * capacity.get("MEMORY_MB", 0.0), mean_ram)]
    want = [(cap, size) for cap, size in want if cap > 0] or [(params.load * total, 1.0)]

    def rate_for(k: int) -> float:  # VMs per second, so that demand at the end is the load
        rate = k / ordered[-1]
        for _ in range(60):
            rate = min(cap / (size * mean_life(k / rate)) for cap, size in want)
        return rate

    def events_for(k: int) -> float:  # creates + the deletes expected inside the run
        horizon = k / rate_for(k)
        return k * (2.0 - mean_life(horizon) / horizon)

    low, high = 1, total
    while low < high:
        mid = (low + high) // 2
        if events_for(mid) >= n:
            high = mid
        else:
            low = mid + 1
    state = rng.getstate()
    while True:  # the estimate may fall a little short: add arrivals until it does not
        rng.setstate(state)
        out = _events(rng, params, deployments, lifetimes, low, rate_for(low))
        if len(out) >= n or low >= total:
            return _truncate(out, n)
        low = min(total, low + (n - len(out)) // 2 + 1)


def _events(rng: random.Random, p: SyntheticParams, deployments: list[tuple[int, int, int, int]],
            lifetimes: list[float], creates: int, rate: float) -> Workload:
    """The first ``creates`` VMs of ``deployments`` arriving at ``rate`` VMs per second."""
    dep_rate = rate * len(deployments) / len(lifetimes)
    events: list[tuple[float, int, int, int, int]] = []  # (time, create?, vm, shape, project)
    shapes: dict[tuple[int, int], int] = {}
    out = Workload(projects=[f"project-{k:03d}" for k in range(p.projects)])
    now = 0.0
    vm = 0
    for size, vcpus, ram, project in deployments:
        if vm >= creates:
            break
        now += rng.expovariate(dep_rate)
        key = (vcpus, ram)
        if key not in shapes:
            shapes[key] = len(out.shapes)
            name = f"az.{vcpus}x{vcpus * ram // 1024}"
            out.shapes.append(Flavor(id=name, name=name, vcpus=vcpus, ram_mb=vcpus * ram,
                                     disk_gb=vcpus * p.disk_gb_per_vcpu))
        s = shapes[key]
        for _ in range(min(size, creates - vm)):
            events.append((now, 1, vm, s, project))
            events.append((now + lifetimes[vm], 0, vm, s, project))
            vm += 1
    end = now
    # Deletes after the last arrival are outside the run; at equal times deletes go first.
    events = sorted(e for e in events if e[0] <= end)
    for t, c, i, s, pr in events:
        out.time.append(t)
        out.create.append(bool(c))
        out.instance.append(i)
        out.shape.append(s)
        out.project.append(pr)
    return out


def _truncate(w: Workload, n: int) -> Workload:
    if len(w) <= n:
        return w
    return Workload(time=w.time[:n], create=w.create[:n], instance=w.instance[:n],
                    shape=w.shape[:n], project=w.project[:n], shapes=w.shapes,
                    projects=w.projects, names=w.names)
