"""Heartbeats at fleet scale: ingest throughput, and boots while 10,000 heartbeats/s arrive.

For each fleet size (``--hosts``, default 10,000 and 100,000 hosts, seeded in bulk into
SQLite by bench/scheduler.py's ``seed``), one ``corral serve`` process (one worker) on a
copy of the database, and:

1. **Ingest, single route**: ``--single`` POST /v1/hosts/{name}/heartbeat from the lean
   load generator (``--connections`` keep-alive connections): heartbeats/s.
2. **Ingest, bulk route**: POST /v1/hosts/heartbeats carrying ``--batch`` names each, as
   an agent aggregator sends them: heartbeats/s (names/s) and requests/s.
3. **Boots with and without heartbeats**: ``--boots`` POST /v1/instances from the lean
   generator, alone, then while a pacer process sends ``--rate`` heartbeats/s through
   the bulk route (``--batch`` names every batch/rate seconds), alternately
   ``--rounds`` times; boots/s of each and their ratio (the bar: within 10%).
4. **In process**: the host table at that size: a full load (s), a ``get`` with nothing
   new (us), applying one second of heartbeats from another process (ms), and its
   memory per host (tracemalloc, the table alone).

    .venv/bin/python bench/heartbeats.py                         # 10,000 and 100,000 hosts
    .venv/bin/python bench/heartbeats.py --hosts 10000 --boots 1000 --rounds 1
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import scheduler as sched_bench  # noqa: E402
from scaleout import tree_cpu  # noqa: E402

from corral.config import Settings  # noqa: E402
from corral.persistence import make_store  # noqa: E402
from corral.persistence.clock import utcnow  # noqa: E402
from corral.services import host_table  # noqa: E402

say = common.say


def names_of(n: int) -> list[str]:
    """The seeded hosts' names (bench/scheduler.py's seed)."""
    return [f"cn{i:06d}" for i in range(n)]


def single_requests(n: int, count: int) -> list[common.Request]:
    names = names_of(n)
    return [("POST", f"/v1/hosts/{names[(k * 7919) % n]}/heartbeat", None, "1.0")
            for k in range(count)]


def bulk_requests(n: int, count: int, batch: int) -> list[common.Request]:
    names = names_of(n)
    out: list[common.Request] = []
    for k in range(count):
        at = (k * batch) % n
        chunk = (names + names[:batch])[at:at + batch] if at + batch > n else \
            names[at:at + batch]
        out.append(("POST", "/v1/hosts/heartbeats", {"hosts": chunk}, "1.0"))
    return out


def _pacer(base: str, n: int, rate: int, batch: int, stop: Any, out: Any) -> None:
    """Send ``rate`` heartbeats/s as bulk requests of ``batch`` names until ``stop``."""
    names = names_of(n)
    interval = batch / rate
    sent = 0
    latencies: list[float] = []
    failures = 0
    with httpx.Client(base_url=base, headers=common.ADMIN, timeout=60.0) as client:
        started = time.monotonic()
        k = 0
        while not stop.is_set():
            due = started + k * interval
            wait = due - time.monotonic()
            if wait > 0:
                stop.wait(wait)
                continue
            at = (k * batch) % n
            chunk = [names[(at + j) % n] for j in range(batch)]
            t0 = time.perf_counter()
            r = client.post("/v1/hosts/heartbeats", json={"hosts": chunk})
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200 or r.json()["recorded"] != len(set(chunk)):
                failures += 1
            sent += len(chunk)
            k += 1
        seconds = time.monotonic() - started
    out.put((sent, seconds, latencies, failures))


class Pacer:
    """A process sending heartbeats at a steady rate while boots run."""

    def __init__(self, base: str, n: int, rate: int, batch: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.out: Any = ctx.Queue()
        self.proc = ctx.Process(target=_pacer, args=(base, n, rate, batch, self.stop,
                                                     self.out), daemon=True)

    def __enter__(self) -> Pacer:
        self.proc.start()
        time.sleep(1.0)  # steady before the boots start
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.result = self.out.get(timeout=120)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def over_http(db: Path, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    svc = sched_bench.start_serve(sched_bench.sqlite_url(db), 1, "spread", workdir)
    found: dict[str, Any] = {}
    try:
        # Cold engine and host table loads happen here, before any clock.
        common.run_lean(svc.url, sched_bench.boot_requests(20, "warm"), 4, expect=(201,))
        common.run_lean(svc.url, bulk_requests(n, 4, args.batch), 2, expect=(200,))
        load, _cpu = common.run_lean(svc.url, single_requests(n, args.single),
                                     args.connections, expect=(204,))
        found["single"] = load
        say(f"  {n} hosts: single route {load.rps:.0f} heartbeats/s, p50 {load.pct(50):.1f} ms,"
            f" p99 {load.pct(99):.1f} ms")
        bulk, _cpu = common.run_lean(svc.url, bulk_requests(n, args.bulk, args.batch),
                                     args.connections, expect=(200,))
        found["bulk"] = bulk
        say(f"  {n} hosts: bulk route ({args.batch} names) {bulk.rps * args.batch:.0f} "
            f"heartbeats/s ({bulk.rps:.0f} requests/s), p50 {bulk.pct(50):.1f} ms, "
            f"p99 {bulk.pct(99):.1f} ms")
        quiet: list[float] = []
        busy: list[float] = []
        paced: list[float] = []
        server = svc.process.pid
        for r in range(args.rounds):
            cpu0 = tree_cpu(server)
            load, _cpu = common.run_lean(svc.url, sched_bench.boot_requests(
                args.boots, f"q{r}"), args.boot_connections, expect=(201,))
            quiet.append(load.rps)
            cpu1 = tree_cpu(server)
            with Pacer(svc.url, n, args.rate, args.batch) as pacer:
                cpu2 = tree_cpu(server)
                load, _cpu = common.run_lean(svc.url, sched_bench.boot_requests(
                    args.boots, f"b{r}"), args.boot_connections, expect=(201,))
                cpu3 = tree_cpu(server)
            sent, seconds, lat, failures = pacer.result
            if failures:
                raise SystemExit(f"{failures} heartbeat requests failed")
            busy.append(load.rps)
            paced.append(sent / seconds)
            say(f"  {n} hosts round {r + 1}: boots/s {quiet[-1]:.0f} without, {busy[-1]:.0f} "
                f"with {paced[-1]:.0f} heartbeats/s (bulk p50 "
                f"{statistics.median(lat) * 1000:.1f} ms); server CPU per boot "
                f"{(cpu1 - cpu0) / args.boots * 1000:.2f} ms without, "
                f"{(cpu3 - cpu2) / args.boots * 1000:.2f} ms with (heartbeats included)")
        found.update(quiet=quiet, busy=busy, paced=paced)
    finally:
        svc.stop()
    return found


def in_process(db: Path, n: int, settings: Settings, rate: int) -> dict[str, float]:
    """The host table alone: load, an idle get, a second of others' heartbeats, memory."""
    store = make_store(sched_bench.sqlite_url(db))
    out: dict[str, float] = {}
    try:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        t0 = time.perf_counter()
        with store.read() as repo:
            cache = host_table.HostTableCache(settings, store)
            table = cache.get(repo)
        out["load_s"] = time.perf_counter() - t0
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        # What the table holds once built (the load's temporaries are gone).
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        out["bytes_per_host"] = grown / max(1, table.n)
        with store.read() as repo:
            cache.get(repo)
            t0 = time.perf_counter()
            for _ in range(1000):
                cache.get(repo)
            out["idle_get_us"] = (time.perf_counter() - t0) / 1000 * 1e6
        # One second of another process's heartbeats, then the next re-read.
        names = names_of(n)[:rate]
        with store.write() as repo:
            repo.record_heartbeats(names, utcnow())
        cache._beats_read = 0.0  # noqa: SLF001 - the once-a-second gate, opened now
        with store.read() as repo:
            t0 = time.perf_counter()
            cache.get(repo)
            out["apply_beats_ms"] = (time.perf_counter() - t0) * 1000
    finally:
        store.dispose()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="10000,100000", help="Fleet sizes (comma-separated).")
    p.add_argument("--single", type=int, default=6000, help="Single-route heartbeats sent.")
    p.add_argument("--bulk", type=int, default=200, help="Bulk requests sent.")
    p.add_argument("--batch", type=int, default=500, help="Names per bulk request.")
    p.add_argument("--connections", type=int, default=16, help="Connections (ingest).")
    p.add_argument("--boots", type=int, default=2000, help="Boots per run.")
    p.add_argument("--boot-connections", type=int, default=16)
    p.add_argument("--rate", type=int, default=10000,
                   help="Heartbeats/s sent while boots run (the fleet's 1 per host per 10 s"
                        " at 100,000 hosts).")
    p.add_argument("--rounds", type=int, default=2, help="Alternate runs without/with.")
    p.add_argument("--skip-http", action="store_true")
    args = p.parse_args()
    sizes = [int(s) for s in args.hosts.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-heartbeats-"))
    import atexit
    atexit.register(shutil.rmtree, workdir, True)
    settings = Settings(host_down_after_s=sched_bench.DAY_S, data_dir=str(workdir))
    say(f"bench/heartbeats.py on {common.machine_facts()}, load average "
        f"{os.getloadavg()[0]:.1f}")
    rows_http, rows_boot, rows_table = [], [], []
    for n in sizes:
        template = workdir / f"fleet-{n}.sqlite"
        took = sched_bench.seed(sched_bench.sqlite_url(template), n, settings)
        say(f"seeded {n} hosts into SQLite in {took:.1f} s")
        db = workdir / f"run-{n}.sqlite"
        shutil.copy(template, db)
        t = in_process(db, n, settings, args.rate)
        rows_table.append((n, t["load_s"], t["idle_get_us"], t["apply_beats_ms"],
                           t["bytes_per_host"]))
        if args.skip_http:
            continue
        shutil.copy(template, db)
        h = over_http(db, n, args, workdir / f"http-{n}")
        rows_http.append((n, h["single"].rps, h["single"].pct(50), h["bulk"].rps * args.batch,
                          h["bulk"].rps, h["bulk"].pct(50)))
        quiet, busy = statistics.median(h["quiet"]), statistics.median(h["busy"])
        rows_boot.append((n, quiet, busy, statistics.median(h["paced"]),
                          f"{busy / quiet:.2f}"))
    say(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    say("\n### Host table in process (SQLite)\n")
    common.table(["hosts", "full load s", "get, nothing new, us",
                  f"apply {args.rate} heartbeats ms", "bytes/host"], rows_table)
    if rows_http:
        say(f"\n### Heartbeat ingest over HTTP (1 worker, SQLite, {args.connections} "
            "connections)\n")
        common.table(["hosts", "single: heartbeats/s", "single p50 ms",
                      f"bulk ({args.batch}): heartbeats/s", "bulk requests/s",
                      "bulk p50 ms"], rows_http)
        say(f"\n### Boots/s with and without heartbeats (median of {args.rounds}, "
            f"{args.boot_connections} connections)\n")
        common.table(["hosts", "boots/s without", "boots/s with", "heartbeats/s sent",
                      "with / without"], rows_boot)


if __name__ == "__main__":
    main()
