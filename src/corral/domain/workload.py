"""Workloads for ``corral simulate``: a CSV trace, or a synthetic generator.

A :class:`Workload` is a time-ordered list of events (an instance created with a shape
and a project, or an instance deleted), held as parallel lists so a million events stay
small. Shapes are :class:`~corral.domain.flavors.Flavor` values: a trace names a flavor
or gives ``vcpus``/``ram_mb``/``disk_gb``; the generator makes its own.

The generator's defaults come from the published Azure VM trace statistics (Azure
Public Dataset V1/V2 and their analysis notebooks; see docs/simulator.md): the vCPU mix,
memory per vCPU, a three-part lifetime mixture (short exponential, lognormal middle,
Pareto tail past eight days), deployment sizes drawn from the published CDF (VMs of a
deployment arrive together and share shape and project), and Poisson deployment
arrivals whose rate is scaled so that the demand at the end of the run is a chosen
share of the fleet. Seeded: the same parameters give the same events. Pure: no I/O
(the caller reads the file and passes its text).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.domain import errors
from corral.domain.flavors import Flavor

CREATE = "create"
DELETE = "delete"
#: The trace's columns; ``time``, ``event`` and ``instance`` are required, a create
#: needs ``flavor`` or ``vcpus`` and ``ram_mb`` (``disk_gb`` defaults to 0).
COLUMNS = ("time", "event", "instance", "flavor", "vcpus", "ram_mb", "disk_gb", "project")
REQUIRED_COLUMNS = ("time", "event", "instance")
DEFAULT_PROJECT = "default"


class TraceError(errors.InvalidInput):
    """A trace line the parser refuses; names the line (1 is the header) and column."""

    def __init__(self, line: int, column: str | None, message: str) -> None:
        where = f"line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"trace {where}: {message}", field=column)
        self.line = line
        self.column = column


@dataclass
class Workload:
    """Events in time order, as parallel lists.

    ``create[i]`` True is a boot of instance ``instance[i]`` with ``shapes[shape[i]]``
    in ``projects[project[i]]``; False deletes it (``shape`` and ``project`` then
    repeat the create's). Instances are numbered; ``names`` keeps a trace's ids.
    """

    time: list[float] = field(default_factory=list)
    create: list[bool] = field(default_factory=list)
    instance: list[int] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)
    project: list[int] = field(default_factory=list)
    shapes: list[Flavor] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time)

    @property
    def creates(self) -> int:
        return sum(self.create)


def shape_of(vcpus: int, ram_mb: int, disk_gb: int) -> Flavor:
    """An anonymous flavor for a trace line that gives sizes rather than a name."""
    return Flavor(id=f"{vcpus}c-{ram_mb}m-{disk_gb}g", name=f"{vcpus}c-{ram_mb}m-{disk_gb}g",
                  vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb)


# -- the CSV trace ---------------------------------------------------------------------------


def _int(value: str, line: int, column: str, low: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise TraceError(line, column, f"{value!r} is not a whole number") from None
    if n < low:
        raise TraceError(line, column, f"{n} is below {low}")
    return n


def parse_trace(text: str, flavors: Mapping[str, Flavor] | None = None) -> Workload:
    """Parse a CSV trace (header line first; columns in any order, see :data:`COLUMNS`).

    Times are seconds (any origin), non-decreasing. A create names a flavor of
    ``flavors`` (by name or id) or gives its sizes; a delete names a created instance.

    Raises:
        TraceError: naming the line and column of the first problem.
    """
    flavors = flavors or {}
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise TraceError(1, None, "the trace is empty (a header line is required)")
    names = [h.strip() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise TraceError(1, unknown[0], f"unknown column; columns are {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise TraceError(1, missing[0], "required column missing")
    if "flavor" not in names and not {"vcpus", "ram_mb"} <= set(names):
        raise TraceError(1, None, "a 'flavor' column or 'vcpus' and 'ram_mb' columns are required")
    col = {n: i for i, n in enumerate(names)}
    out = Workload()
    shape_index: dict[str, int] = {}  # by flavor id
    project_index: dict[str, int] = {}
    numbers: dict[str, int] = {}
    live: dict[int, tuple[int, int]] = {}
    last = -math.inf
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(names):
            raise TraceError(line, None, f"{len(row)} fields, the header has {len(names)}")

        def cell(name: str, row: list[str] = row) -> str:
            return row[col[name]].strip() if name in col else ""

        try:
            when = float(cell("time"))
        except ValueError:
            raise TraceError(line, "time", f"{cell('time')!r} is not a number") from None
        if not math.isfinite(when):
            raise TraceError(line, "time", "must be finite")
        if when < last:
            raise TraceError(line, "time", f"{when:g} is before the previous line's {last:g} "
                             "(the trace must be in time order)")
        last = when
        kind = cell("event").lower()
        ident = cell("instance")
        if not ident:
            raise TraceError(line, "instance", "an instance id is required")
        if kind == CREATE:
            number = len(out.names)
            if ident in numbers and numbers[ident] in live:
                raise TraceError(line, "instance", f"{ident!r} is created twice")
            numbers[ident] = number
            out.names.append(ident)
            flavor_name = cell("flavor")
            if flavor_name:
                found = flavors.get(flavor_name)
                if found is None:
                    raise TraceError(line, "flavor", f"unknown flavor {flavor_name!r}")
                shape = found
            else:
                if not cell("vcpus") or not cell("ram_mb"):
                    raise TraceError(line, "flavor" if "flavor" in col else "vcpus",
                                     "a create needs a flavor or vcpus and ram_mb")
                shape = shape_of(_int(cell("vcpus"), line, "vcpus", 1),
                                 _int(cell("ram_mb"), line, "ram_mb", 1),
                                 _int(cell("disk_gb") or "0", line, "disk_gb", 0))
            s_i = shape_index.setdefault(shape.id, len(out.shapes))
            if s_i == len(out.shapes):
                out.shapes.append(shape)
            project = cell("project") or DEFAULT_PROJECT
            p_i = project_index.setdefault(project, len(out.projects))
            if p_i == len(out.projects):
                out.projects.append(project)
            live[number] = (s_i, p_i)
        elif kind == DELETE:
            number = numbers.get(ident, -1)
            if number not in live:
                raise TraceError(line, "instance", f"{ident!r} is deleted but not alive")
            s_i, p_i = live.pop(number)
        else:
            raise TraceError(line, "event", f"{kind!r} is not 'create' or 'delete'")
        out.time.append(when)
        out.create.append(kind == CREATE)
        out.instance.append(number)
        out.shape.append(s_i)
        out.project.append(p_i)
    return out


def format_trace(workload: Workload) -> str:
    """The workload as a CSV trace (sizes, not flavor names), as parse_trace reads it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("time", "event", "instance", "vcpus", "ram_mb", "disk_gb", "project"))
    for t, c, i, s, p in zip(workload.time, workload.create, workload.instance, workload.shape,
                             workload.project, strict=True):
        f = workload.shapes[s]
        name = workload.names[i] if workload.names else f"vm{i}"
        w.writerow((repr(t), CREATE if c else DELETE, name, f.vcpus, f.ram_mb, f.disk_gb,
                    workload.projects[p]))
    return buf.getvalue()


# -- the synthetic generator -------------------------------------------------------------------

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


def flavors_by_key(flavors: Iterable[Flavor]) -> dict[str, Flavor]:
    """{name: flavor, id: flavor} for resolving a trace's flavor column."""
    out: dict[str, Flavor] = {}
    for f in flavors:
        out[f.id] = f
        out[f.name] = f
    return out
