"""Capacity at fleet scale: headroom of every flavor, utilization and stranded hosts.

A fleet of N compute hosts (1,000 and 10,000 by default) is seeded in bulk by
``bench/scheduler.py``'s ``seed()`` on a SQLite file, with a dozen flavors of different
shapes (one with an aggregate extra spec), and ``--boots`` instances booted through
``instances.boot`` (pack strategy, so usage is uneven). Then, timed in process:

- *cold*: the first headroom pass (loads the engine and the host table);
- *headroom*: every flavor, grouped by zone (``services.capacity.headroom``), median
  and p99 of ``--repeat`` passes;
- *headroom by host*: the same, grouped by host (the largest answer);
- *utilization*, *stranded* and the */metrics scrape pass* (``services.capacity.report``:
  headroom per zone and per aggregate, utilization and stranded in one pass).

    .venv/bin/python bench/capacity.py
    .venv/bin/python bench/capacity.py --hosts 10000 --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import say, table
from scheduler import DAY_S, PROJECT, seed, sqlite_url

from corral.config import Settings
from corral.logging import configure_logging
from corral.persistence import make_store
from corral.services import capacity, instances
from corral.services import flavors as flavor_svc
from corral.services.audit_log import local_actor
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler

LOCAL = local_actor("bench")

#: (name, vcpus, ram_mb, disk_gb, extra specs)
FLAVORS: list[tuple[str, int, int, int, dict[str, str]]] = [
    ("t1.nano", 1, 512, 1, {}), ("t1.small", 1, 2048, 20, {}), ("m1.large", 4, 8192, 80, {}),
    ("m1.xlarge", 8, 16384, 160, {}), ("c1.2xlarge", 16, 16384, 100, {}),
    ("r1.large", 2, 16384, 50, {}), ("r1.4xlarge", 16, 131072, 200, {}),
    ("g1.huge", 64, 262144, 1000, {}), ("d1.disk", 2, 4096, 900, {}),
    ("x1.odd", 3, 3000, 33, {}), ("p1.gold", 4, 8192, 40,
                                  {"aggregate_instance_extra_specs:tier": "gold"})]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def ms(samples: list[float], q: float) -> float:
    data = sorted(samples)
    return data[min(len(data) - 1, int(q / 100 * len(data)))] * 1000


def run(n: int, boots: int, repeat: int, workdir: Path) -> list[tuple[Any, ...]]:
    db = workdir / f"capacity-{n}.sqlite"
    settings = Settings(database_url=sqlite_url(db), strategy="pack", host_down_after_s=DAY_S,
                        data_dir=str(workdir))
    seed(settings.effective_database_url, n, settings)
    store = make_store(settings.effective_database_url)
    for name, vcpus, ram, disk, specs in FLAVORS:
        flavor_svc.create_flavor(store, actor=LOCAL, name=name, vcpus=vcpus, ram_mb=ram, disk_gb=disk,
                                 extra_specs=specs)
    scheduler = Scheduler(store, settings, CandidateFinder(store))
    mix = ["bench-flavor", "t1.nano", "t1.small", "m1.large", "r1.large", "x1.odd"]
    for k in range(boots):
        instances.boot(store, scheduler, instances.BootRequest(
            name=f"vm-{k}", flavor=mix[k % len(mix)], project_id=PROJECT, user_id="u"))
    cold_scheduler = Scheduler(store, settings, CandidateFinder(store))
    started = time.perf_counter()
    first = capacity.headroom(store, cold_scheduler)
    cold = time.perf_counter() - started
    flavors = len(first)
    rows = []
    for what, fn in (
            ("headroom, every flavor, by zone",
             lambda: capacity.headroom(store, scheduler)),
            ("headroom, every flavor, by host",
             lambda: capacity.headroom(store, scheduler, group_by="host")),
            ("utilization", lambda: capacity.utilization(store, scheduler)),
            ("stranded (top 10)", lambda: capacity.stranded(store, scheduler)),
            ("/metrics scrape pass", lambda: capacity.report(store, scheduler))):
        samples = timed(fn, repeat)
        rows.append((n, flavors, what, cold * 1000, statistics.median(samples) * 1000,
                     ms(samples, 99)))
    store.dispose()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="1000,10000")
    p.add_argument("--boots", type=int, default=500, help="Instances booted before timing.")
    p.add_argument("--repeat", type=int, default=10, help="Timed passes per measure.")
    args = p.parse_args()
    configure_logging(level="warning")
    rows = []
    with tempfile.TemporaryDirectory(prefix="corral-capacity-bench-") as tmp:
        for n in [int(x) for x in args.hosts.split(",") if x]:
            rows += run(n, args.boots, args.repeat, Path(tmp))
    say("\n### Capacity (in process, SQLite file; ms)\n")
    table(["hosts", "flavors", "measure", "cold first pass", "p50", "p99"], rows)


if __name__ == "__main__":
    main()
