"""The scheduler at fleet scale: boots per second and decision latency, in process and over HTTP.

Three sections, each bounded (``--boots`` boots per configuration):

1. **In process** (SQLite file, no HTTP): a fleet of N compute hosts (1,000, 10,000,
   50,000) is written straight into the tables in bulk (the rows ``report_host`` would
   write: a root provider with VCPU / MEMORY_MB / DISK_GB inventories under the
   default ratios, and its ``hosts`` row), then ``instances.boot`` is called
   ``--boots`` times per strategy (spread, pack), each on its own copy of the seeded
   database. Every boot is cut into its parts, timed separately:
   - *read*: the scheduler's read transaction (engine refresh, host table, group reads);
   - *decision*: ``Scheduler._pick``, the filters and the weighers and the choice;
   - *claim*: the write transaction (allocations re-checked and written, instance and
     decision rows, commit);
   - *boot*: the whole ``instances.boot`` (flavor read, schedule, instance read back).
   The baseline, measured in the same run on the same hosts, is the obvious per-host
   Python loop (is the host up and enabled, does every class fit, is it under the
   instance cap, then the best free RAM) that a row-at-a-time scheduler runs.
2. **HTTP, one worker, SQLite**: ``corral serve`` on a copy of the seeded 1,000- and
   10,000-host databases; ``--clients`` client processes (httpx, keep-alive) send
   ``--http-boots`` POST /v1/instances; boots/s and latency p50/p99 under that load.
3. **HTTP, several workers, PostgreSQL**: the same with ``--workers`` (default 2 and 4)
   on a throwaway database on the server named by ``--postgresql-url`` /
   ``CORRAL_BENCH_POSTGRESQL_URL`` (dropped at exit).

Hosts are seeded with heartbeats spread over the last 30 s and ``host_down_after_s``
is raised to a day, so no host goes down while the benchmark runs.

    .venv/bin/python bench/scheduler.py                      # everything (~5 min)
    .venv/bin/python bench/scheduler.py --hosts 1000,10000 --skip-pg
    .venv/bin/python bench/scheduler.py --skip-http --profile 10000   # + cProfile of boots
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import cProfile
import gc
import math
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypedDict

import common
from common import say, table
from sqlalchemy import event, insert, select, update

from corral.config import Settings
from corral.config_fleet import defaults_of
from corral.domain.hosts import provider_uuid
from corral.domain.overcommit import host_inventories, resolve_all
from corral.logging import configure_logging
from corral.persistence import Store, make_store
from corral.persistence import tables as t
from corral.persistence.clock import utcnow
from corral.services import flavors as flavor_svc
from corral.services import instances
from corral.services.audit_log import local_actor
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler

LOCAL = local_actor("bench")


class Flavor(TypedDict):
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


Strategy = Literal["spread", "pack"]
FLAVOR: Flavor = {"name": "m1.medium", "vcpus": 2, "ram_mb": 4096, "disk_gb": 40}
PROJECT = "bench-project"
#: Host shapes (vcpus, memory_mb, disk_gb), one host in four the large one.
SMALL, LARGE = (32, 131072, 1000), (64, 262144, 2000)
DAY_S = 86400

# -- seeding ---------------------------------------------------------------------------


def shape(i: int) -> tuple[int, int, int]:
    return LARGE if i % 4 == 3 else SMALL


def upgrade(url: str) -> None:
    """``corral db upgrade``: schema and the standard resource classes and traits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    common._run([sys.executable, "-m", "corral.cli.main", "--database-url", url,
                 "db", "upgrade"], env=env)


def seed(url: str, n: int, settings: Settings) -> float:
    """Write ``n`` hosts (and the flavor) in bulk, as ``report_host`` would; seconds taken.

    The inventories come from the same function the hosts service uses
    (``host_inventories`` under the configured default ratios), so the engine sees
    exactly what ``PUT /v1/hosts/{name}`` would have written.
    """
    started = time.perf_counter()
    upgrade(url)
    store = make_store(url)
    effective = resolve_all({}, {}, defaults_of(settings))
    now = utcnow()
    rng = random.Random(n)
    try:
        with store.write() as repo:
            conn = repo.conn
            class_ids = repo.resource_class_ids(["VCPU", "MEMORY_MB", "DISK_GB"])
            names = [f"cn{i:06d}" for i in range(n)]
            for start in range(0, n, 5000):
                chunk = names[start:start + 5000]
                conn.execute(insert(t.resource_providers), [
                    {"uuid": provider_uuid(name), "name": name, "generation": 1,
                     "root_provider_id": None, "parent_provider_id": None,
                     "created_at": now, "updated_at": now} for name in chunk])
            rp = t.resource_providers
            conn.execute(update(rp).where(rp.c.root_provider_id.is_(None))
                         .values(root_provider_id=rp.c.id))
            ids = {name: pid for name, pid in conn.execute(select(rp.c.name, rp.c.id))}
            inv_rows: list[dict[str, Any]] = []
            host_rows: list[dict[str, Any]] = []
            for i, name in enumerate(names):
                vcpus, memory_mb, disk_gb = shape(i)
                for rc, inv in host_inventories(vcpus, memory_mb, disk_gb, effective).items():
                    inv_rows.append({
                        "resource_provider_id": ids[name], "resource_class_id": class_ids[rc],
                        "total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
                        "max_unit": inv.max_unit, "step_size": inv.step_size,
                        "allocation_ratio": inv.allocation_ratio,
                        "created_at": now, "updated_at": now})
                host_rows.append({
                    "name": name, "resource_provider_id": ids[name], "enabled": True,
                    "disabled_reason": None, "forced_down": False,
                    "last_heartbeat": now - timedelta(seconds=rng.uniform(0, 30)),
                    "vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb,
                    "failed_builds": 0, "revision": 0, "created_at": now, "updated_at": now})
            for rows, tbl in ((inv_rows, t.inventories), (host_rows, t.hosts)):
                for start in range(0, len(rows), 5000):
                    conn.execute(insert(tbl), rows[start:start + 5000])
    finally:
        store.dispose()
    flavor_store = make_store(url)
    try:
        flavor_svc.create_flavor(flavor_store, actor=LOCAL, flavor_id="bench-flavor", **FLAVOR)
    finally:
        flavor_store.dispose()
    return time.perf_counter() - started


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# -- timing --------------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    """Percentile ``q`` of ``samples`` (seconds), in milliseconds."""
    if not samples:
        return float("nan")
    data = sorted(samples)
    k = min(len(data) - 1, max(0, math.ceil(q / 100 * len(data)) - 1))
    return data[k] * 1000


@dataclass
class Parts:
    """Per-boot durations (seconds) of each part of a boot."""

    read: list[float] = field(default_factory=list)
    decision: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    schedule: list[float] = field(default_factory=list)
    boot: list[float] = field(default_factory=list)
    statements: int = 0
    """SQL statements sent during the measured boots."""

    def decide_and_claim(self) -> list[float]:
        return [d + c for d, c in zip(self.decision, self.claim, strict=True)]


class TimedStore:
    """The store, timing each read and write transaction of the scheduler."""

    def __init__(self, store: Store, parts: Parts) -> None:
        self.store = store
        self.parts = parts
        self.engine = store.engine

    @property
    def backend(self) -> str:
        return self.store.backend

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        started = time.perf_counter()
        with self.store.read() as repo:
            yield repo
        self.parts.read.append(time.perf_counter() - started)

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        started = time.perf_counter()
        with self.store.write() as repo:
            yield repo
        self.parts.claim.append(time.perf_counter() - started)


def instrument(scheduler: Scheduler, parts: Parts) -> None:
    """Time ``_pick`` (filters + weighers + choice) on this instance."""
    pick = scheduler._pick

    def timed_pick(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return pick(*args, **kwargs)
        finally:
            parts.decision.append(time.perf_counter() - started)

    scheduler._pick = timed_pick  # type: ignore[method-assign]


# -- the baseline --------------------------------------------------------------------------


def naive_hosts(scheduler: Scheduler) -> list[dict[str, Any]]:
    """The hosts as plain Python rows (what a row-at-a-time scheduler holds)."""
    table_ = scheduler.hosts.table
    assert table_ is not None
    state = scheduler.finder.state
    rows = table_.rows(state)
    out = []
    for i, info in enumerate(table_.hosts):
        rec = state.records[int(rows[i])]
        assert rec is not None
        out.append({"name": info.name, "enabled": info.enabled, "forced_down": info.forced_down,
                    "heartbeat": info.heartbeat, "instances": rec.consumers,
                    "max_instances": int(table_.max_instances[i]),
                    "inventories": {rc: (inv.capacity, inv.min_unit, inv.max_unit)
                                    for rc, inv in rec.inventories.items()},
                    "used": dict(rec.used)})
    return out


def naive_decision(hosts: list[dict[str, Any]], wanted: dict[str, int], strategy: str,
                   now: float, down_after: float) -> str | None:
    """Baseline: filter every host, one at a time, then keep the best free RAM."""
    best: str | None = None
    best_score = -math.inf
    sign = 1.0 if strategy == "spread" else -1.0
    for h in hosts:
        if not h["enabled"] or h["forced_down"] or h["heartbeat"] is None \
                or now - h["heartbeat"] > down_after or h["instances"] >= h["max_instances"]:
            continue
        fits = True
        for rc, amount in wanted.items():
            inv = h["inventories"].get(rc)
            if inv is None or not inv[1] <= amount <= inv[2] \
                    or h["used"].get(rc, 0) + amount > inv[0]:
                fits = False
                break
        if not fits:
            continue
        score = sign * (h["inventories"]["MEMORY_MB"][0] - h["used"].get("MEMORY_MB", 0))
        if score > best_score:
            best, best_score = h["name"], score
    return best


# -- section 1: in process -------------------------------------------------------------------


@dataclass
class InProcess:
    hosts: int
    strategy: str
    cold_s: float
    parts: Parts
    seconds: float
    naive: list[float]


def run_in_process(template: Path, n: int, strategy: Strategy, boots: int, workdir: Path,
                   profile: Path | None) -> InProcess:
    db = workdir / f"inproc-{n}-{strategy}.sqlite"
    shutil.copy(template, db)
    settings = Settings(database_url=sqlite_url(db), strategy=strategy,
                        host_down_after_s=DAY_S, data_dir=str(workdir))
    store = make_store(settings.effective_database_url)
    parts = Parts()
    counting = [False]

    def count(sql: str) -> None:
        if counting[0] and sql != "COMMIT":
            parts.statements += 1

    # Counted by the driver (hot statements bypass SQLAlchemy's events): every statement
    # SQLite runs, BEGIN included, COMMIT not.
    event.listen(store.engine, "connect",
                 lambda dbapi_conn, _record: dbapi_conn.set_trace_callback(count))
    scheduler = Scheduler(TimedStore(store, parts), settings, CandidateFinder(store))  # type: ignore[arg-type]
    instrument(scheduler, parts)

    def one(k: int) -> None:
        req = instances.BootRequest(name=f"vm-{k}", flavor="bench-flavor", project_id=PROJECT,
                                    user_id="bench-user")
        started = time.perf_counter()
        instances.boot(store, scheduler, req)
        parts.boot.append(time.perf_counter() - started)

    started = time.perf_counter()
    one(0)  # cold: loads the engine and the host table
    cold = time.perf_counter() - started
    for k in range(1, 21):  # warm-up
        one(k)
    for lst in (parts.read, parts.decision, parts.claim, parts.boot):
        lst.clear()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    counting[0] = True
    for k in range(boots):
        one(100 + k)
    counting[0] = False
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    seconds = time.perf_counter() - started
    # The baseline, on the same hosts as they are now (after the boots).
    hosts = naive_hosts(scheduler)
    wanted = {"VCPU": FLAVOR["vcpus"], "MEMORY_MB": FLAVOR["ram_mb"], "DISK_GB": FLAVOR["disk_gb"]}
    naive: list[float] = []
    for _ in range(max(5, min(50, 2_000_000 // n))):
        t0 = time.perf_counter()
        naive_decision(hosts, wanted, strategy, time.time(), DAY_S)
        naive.append(time.perf_counter() - t0)
    store.dispose()
    return InProcess(n, strategy, cold, parts, seconds, naive)


# -- sections 2 and 3: HTTP ------------------------------------------------------------------


def start_serve(url: str, workers: int, strategy: str, workdir: Path,
                python: str = sys.executable) -> common.Service:
    """``corral serve`` with ``python`` (another checkout's interpreter for an A/B run)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    # JSON logs, as a deployment ships them to a collector (one line per decision).
    env.update(CORRAL_DATA_DIR=str(workdir / "data"), CORRAL_STRATEGY=strategy,
               CORRAL_HOST_DOWN_AFTER_S=str(DAY_S), CORRAL_LOG_FORMAT="json")
    port = common.free_port()
    cli = [python, "-m", "corral.cli.main", "--database-url", url]
    return common._spawn("corral", [*cli, "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--workers", str(workers)], env, workdir,
                         f"http://127.0.0.1:{port}")


def boot_requests(count: int, tag: str) -> list[common.Request]:
    return [("POST", "/v1/instances", {"name": f"{tag}-{k}", "flavor": "bench-flavor",
                                       "project_id": PROJECT}, "1.0") for k in range(count)]


@dataclass
class HttpRun:
    backend: str
    workers: int
    hosts: int
    strategy: str
    load: common.Load
    label: str = "this checkout"
    machine_load: str = ""
    """The load average (1, 5, 15 min) when the run started."""
    rss_mb: float = float("nan")
    """The server's resident memory at the end of the run (one worker: the server)."""
    peak_mb: float = float("nan")


def run_http(url: str, backend: str, n: int, workers: int, strategy: str, boots: int,
             clients: int, workdir: Path, connections: int = 0,
             python: str = sys.executable, label: str = "this checkout") -> HttpRun:
    """Boots over HTTP from ``clients`` httpx processes, or (``connections`` > 0) from the
    lean generator: one asyncio process driving that many connections."""
    machine_load = common.load_average()
    svc = start_serve(url, workers, strategy, workdir, python)
    try:
        # Warm every worker (cold engine load) before the clock starts.
        common.run_requests(svc.url, boot_requests(max(20, 10 * workers * clients), "warm"),
                            clients, expect=(201,))
        if connections:
            load, _cpu = common.run_lean(svc.url, boot_requests(boots, "vm"), connections,
                                         expect=(201,))
        else:
            load = common.run_requests(svc.url, boot_requests(boots, "vm"), clients,
                                       expect=(201,))
        rss, peak = svc.rss_mb()
    finally:
        svc.stop()
    return HttpRun(backend, workers, n, strategy, load, label, machine_load, rss, peak)


# -- main ----------------------------------------------------------------------------------


def report_in_process(results: list[InProcess]) -> None:
    say("\n### 1. In process (SQLite file; ms per boot)\n")
    table(["hosts", "strategy", "cold load s", "decision p50", "decision p99", "claim p50",
           "claim p99", "decision+claim p50", "read p50", "boot p50", "boot p99", "boots/s",
           "SQL statements/boot",
           "decisions/s (decision only)", "naive loop p50", "decision vs naive"],
          [(r.hosts, r.strategy, r.cold_s, pct(r.parts.decision, 50), pct(r.parts.decision, 99),
            pct(r.parts.claim, 50), pct(r.parts.claim, 99), pct(r.parts.decide_and_claim(), 50),
            pct(r.parts.read, 50), pct(r.parts.boot, 50), pct(r.parts.boot, 99),
            len(r.parts.boot) / r.seconds, r.parts.statements / len(r.parts.boot),
            1 / statistics.median(r.parts.decision),
            pct(r.naive, 50), common.ratio(pct(r.naive, 50), pct(r.parts.decision, 50)))
           for r in results])


def report_http(results: list[HttpRun], title: str) -> None:
    say(f"\n### {title}\n")
    table(["server", "backend", "workers", "hosts", "strategy", "load avg at start", "boots",
           "boots/s", "p50 ms", "p99 ms", "server RSS MB (end)", "peak RSS MB"],
          [(r.label, r.backend, r.workers, r.hosts, r.strategy, r.machine_load, r.load.count,
            r.load.rps, r.load.pct(50), r.load.pct(99), r.rss_mb, r.peak_mb)
           for r in results])
    labels = list(dict.fromkeys(r.label for r in results))
    if len(labels) < 2:
        return
    say(f"\nRatios in the same run ({labels[0]} / {labels[1]}, medians of the rounds):\n")
    rows = []
    for key in dict.fromkeys((r.backend, r.workers, r.hosts, r.strategy) for r in results):
        mine = [r for r in results if (r.backend, r.workers, r.hosts, r.strategy) == key]
        ours = [r for r in mine if r.label == labels[0]]
        base = [r for r in mine if r.label == labels[1]]
        if not ours or not base:
            continue

        def med(runs: list[HttpRun], f: Any) -> float:
            return statistics.median(f(r) for r in runs)

        rows.append((*key, len(ours), med(ours, lambda r: r.load.rps),
                     med(base, lambda r: r.load.rps),
                     f"{med(ours, lambda r: r.load.rps) / med(base, lambda r: r.load.rps):.2f}x",
                     med(ours, lambda r: r.load.pct(50)), med(base, lambda r: r.load.pct(50)),
                     med(ours, lambda r: r.load.pct(99)), med(base, lambda r: r.load.pct(99)),
                     med(ours, lambda r: r.rss_mb), med(base, lambda r: r.rss_mb)))
    table(["backend", "workers", "hosts", "strategy", "rounds", f"boots/s {labels[0]}",
           f"boots/s {labels[1]}", "ratio", "p50 ms", "p50 ms base", "p99 ms", "p99 ms base",
           "RSS MB", "RSS MB base"], rows)


def strategy_of(name: str) -> Strategy:
    if name == "spread":
        return "spread"
    if name == "pack":
        return "pack"
    raise SystemExit(f"--strategies: {name!r} is neither spread nor pack")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="1000,10000,50000",
                   help="Fleet sizes for the in-process section (default %(default)s).")
    p.add_argument("--boots", type=int, default=2000,
                   help="Boots per in-process configuration (default %(default)s).")
    p.add_argument("--strategies", default="spread,pack")
    p.add_argument("--http-hosts", default="1000,10000",
                   help="Fleet sizes for the HTTP sections (default %(default)s).")
    p.add_argument("--http-boots", type=int, default=3000,
                   help="Boots per HTTP configuration (default %(default)s).")
    p.add_argument("--clients", type=int, default=4, help="Client processes (HTTP).")
    p.add_argument("--connections", type=int, default=16,
                   help="Connections of the lean load generator (one asyncio process, "
                   "requests encoded before the clock starts); 0: httpx client processes "
                   "(--clients) instead. Default %(default)s.")
    p.add_argument("--workers", default="2,4", help="Worker counts on PostgreSQL.")
    p.add_argument("--pg-hosts", default="10000",
                   help="Fleet sizes for the PostgreSQL section (default %(default)s).")
    p.add_argument("--pg-strategies", default="spread",
                   help="Strategies for the PostgreSQL section (default %(default)s).")
    p.add_argument("--against", default="", metavar="CHECKOUT",
                   help="A/B the HTTP SQLite section: also serve from this other checkout "
                   "(its .venv/bin/python), alternating with this one round by round, on "
                   "copies of the same database; prints the ratios of the same run.")
    p.add_argument("--rounds", type=int, default=1,
                   help="Runs per server and configuration in the HTTP SQLite section "
                   "(alternated with --against; default %(default)s).")
    p.add_argument("--skip-inproc", action="store_true")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-pg", action="store_true")
    p.add_argument("--profile", type=int, default=0, metavar="HOSTS",
                   help="cProfile the spread boots at this fleet size; print the top costs.")
    p.add_argument("--log-level", default="warning",
                   help="Log level in process (the server runs with its default, info).")
    p.add_argument("--postgresql-url", default=os.environ.get(
        "CORRAL_BENCH_POSTGRESQL_URL", os.environ.get("CORRAL_TEST_POSTGRESQL_URL",
                                                      common.DEFAULT_PG)))
    args = p.parse_args()
    configure_logging(level=args.log_level)
    sizes = [int(x) for x in args.hosts.split(",") if x]
    http_sizes = [int(x) for x in args.http_hosts.split(",") if x]
    strategies = [strategy_of(s) for s in args.strategies.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-scheduler-"))
    atexit.register(shutil.rmtree, workdir, True)
    settings = Settings(host_down_after_s=DAY_S, data_dir=str(workdir))
    say(f"bench/scheduler.py on {common.machine_facts()}")
    say(f"flavor {FLAVOR}; hosts 3 small {SMALL} : 1 large {LARGE} (vcpus, MB, GB)")

    templates: dict[int, Path] = {}

    def template(n: int) -> Path:
        if n not in templates:
            path = workdir / f"fleet-{n}.sqlite"
            took = seed(sqlite_url(path), n, settings)
            say(f"seeded {n} hosts into SQLite in {took:.1f} s")
            templates[n] = path
        return templates[n]

    if not args.skip_inproc:
        results = []
        for n in sizes:
            for strategy in strategies:
                prof = workdir / f"prof-{n}.out" if args.profile == n and \
                    strategy == strategies[0] else None
                gc.collect()
                r = run_in_process(template(n), n, strategy, args.boots, workdir, prof)
                say(f"  {n} hosts {strategy}: decision p50 {pct(r.parts.decision, 50):.2f} ms, "
                    f"claim p50 {pct(r.parts.claim, 50):.2f} ms, boot p50 "
                    f"{pct(r.parts.boot, 50):.2f} ms, {len(r.parts.boot) / r.seconds:.0f} boots/s")
                results.append(r)
                if prof:
                    say(f"\ncProfile of {args.boots} boots at {n} hosts ({strategy}), "
                        "by cumulative time:")
                    stats = pstats.Stats(str(prof), stream=sys.stdout)
                    stats.sort_stats("cumulative").print_stats(40)
                    stats.sort_stats("tottime").print_stats(25)
        report_in_process(results)

    if not args.skip_http:
        runs: list[HttpRun] = []
        servers = [("this checkout", sys.executable)]
        if args.against:
            other = Path(args.against).resolve()
            servers.append((f"{other.name}", str(other / ".venv" / "bin" / "python")))
        for n in http_sizes:
            for strategy in strategies:
                for rnd in range(args.rounds):
                    # Alternate who goes first, so neither always runs on a warmer machine.
                    order = servers if rnd % 2 == 0 else servers[::-1]
                    for label, python in order:
                        tag = f"http-{n}-{strategy}-{rnd}-{len(runs)}"
                        db = workdir / f"{tag}.sqlite"
                        shutil.copy(template(n), db)
                        runs.append(run_http(sqlite_url(db), "sqlite", n, 1, strategy,
                                             args.http_boots, args.clients, workdir / tag,
                                             args.connections, python, label))
                        db.unlink(missing_ok=True)
                        last = runs[-1]
                        say(f"  HTTP sqlite {n} hosts {strategy} [{label}]: "
                            f"{last.load.rps:.0f} boots/s, p50 {last.load.pct(50):.1f} ms, "
                            f"p99 {last.load.pct(99):.1f} ms, RSS {last.rss_mb:.0f} MB "
                            f"(load avg {last.machine_load})")
        load = (f"{args.connections} connections (lean generator)" if args.connections
                else f"{args.clients} clients")
        report_http(runs, f"2. HTTP POST /v1/instances, 1 worker, SQLite, {load}")

    if not args.skip_pg:
        dbs = common.Databases(args.postgresql_url)
        runs = []
        for n in [int(x) for x in args.pg_hosts.split(",") if x]:
            url = dbs.create("corral_bench")
            took = seed(url, n, settings)
            say(f"seeded {n} hosts into PostgreSQL in {took:.1f} s")
            for workers in [int(w) for w in args.workers.split(",") if w]:
                for strategy in [s for s in args.pg_strategies.split(",") if s]:
                    runs.append(run_http(url, "postgresql", n, workers, strategy,
                                         args.http_boots, args.clients,
                                         workdir / f"pg-{n}-{workers}-{strategy}",
                                         args.connections))
                    last = runs[-1]
                    say(f"  HTTP postgresql {n} hosts {workers} workers {strategy}: "
                        f"{last.load.rps:.0f} boots/s, p50 {last.load.pct(50):.1f} ms")
            dbs.drop(url)
        load = (f"{args.connections} connections (lean generator)" if args.connections
                else f"{args.clients} clients")
        report_http(runs, f"3. HTTP POST /v1/instances, PostgreSQL, {load}")


if __name__ == "__main__":
    main()
