"""Scale-out on PostgreSQL: boots/s against server processes, and the database's ceiling.

One PostgreSQL database is seeded with a fleet (``--hosts``, default 10,000; the rows
``bench/scheduler.py`` seeds), then two sections run against it:

1. **Server processes** (``--servers``, default 1,2,4): that many ``corral serve``
   processes, one worker each, every one on its own port of 127.0.0.1, all on the same
   database. One lean load generator (one asyncio process, raw keep-alive sockets,
   requests encoded before the clock starts; ``bench/common.py``) spreads
   ``--connections`` connections round-robin over the servers and sends ``--boots``
   POST /v1/instances. Reported: boots/s, p50/p99, the claims that lost a race and
   were decided again (``corral_scheduler_retries_total{why="claim_conflict"}`` summed
   over the servers' /metrics), the CPU each server process spent per boot, and the CPU
   PostgreSQL's backends spent per boot (read from /proc: this machine runs both).
2. **The database's claim ceiling**: the claim's write transaction exactly as
   services/claims.py issues it (every statement of ``_commit``: the providers locked,
   usage and inventories read, consumer, allocations, generations, change feed, quota
   ledger, instance row, decision record), recorded at the driver from real boots in
   this process, then replayed by N connections (``--replay-connections``) from
   separate client processes that do nothing else (no decision, no HTTP, no
   SQLAlchemy: each statement is the recorded text and parameters on a bare psycopg
   cursor, with fresh consumer, instance and decision ids, and the provider
   generation compare-and-swap made against the generation the replay locked).
   Twice: every claim in one project (as the HTTP section boots) and claims spread
   over 16 projects (each connection its own projects). Reported: claim transactions/s,
   latency, and PostgreSQL backend CPU per transaction.

On a 2-core machine the server processes, PostgreSQL and the load generator share
the same two cores, so section 1's boots/s cannot grow with processes here; what the
run measures is what each part costs per boot. The last table DERIVES boots/s for N
server processes on separate machines: each process limited by its own CPU per boot
(one core: a worker runs Python under one lock), the whole limited by the database's
CPU per boot (measured in section 1 with every statement of a boot, reads included)
for a database server of ``--db-cores`` cores, and by the one-project claim rate
(section 2: claims of one project serialise on its quota rows).

    .venv/bin/python bench/scaleout.py                 # 10,000 hosts, 1/2/4 servers (~6 min)
    .venv/bin/python bench/scaleout.py --quick         # 2,000 hosts, fewer boots
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import re
import shutil
import tempfile
import time
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import httpx
import psycopg
from common import say, table
from scheduler import DAY_S, PROJECT, boot_requests, seed, start_serve
from sqlalchemy import event
from sqlalchemy.engine import make_url

from corral.config import Settings
from corral.logging import configure_logging
from corral.persistence import make_store
from corral.services import claims, instances
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler

TICK = os.sysconf("SC_CLK_TCK")
RETRIES = re.compile(r'^corral_scheduler_retries_total\{why="claim_conflict"\} (\S+)$', re.M)

# -- CPU accounting (/proc) --------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that were waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def tree_cpu(pid: int) -> float:
    """CPU of ``pid`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu_seconds(p)
        todo.extend(children.get(p, []))
    return total


def libpq(url: str) -> str:
    """The database URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Backends:
    """CPU of the PostgreSQL backend processes serving one database (on this machine)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(libpq(url), autocommit=True)

    def snapshot(self) -> dict[int, float]:
        """CPU seconds of each backend of this database now (this monitor excluded)."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()").fetchall()
        return {int(r[0]): cpu_seconds(int(r[0])) for r in rows}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU spent between two snapshots: a backend born in between counts whole (one
        that came and went in between is missed)."""
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        self.conn.close()


# -- section 1: server processes -----------------------------------------------------------


def _spread_worker(bases: list[str], requests: list[common.Request], connections: int,
                   out: Any) -> None:
    """The lean generator (bench/common.py) with its connections spread over servers."""
    targets = [httpx.URL(b) for b in bases]
    per_conn: list[tuple[str, int, list[bytes]]] = []
    for i in range(connections):
        url = targets[i % len(targets)]
        host, port = url.host, url.port or 80
        per_conn.append((host, port, [common._encode(f"{host}:{port}", r)
                                      for r in requests[i::connections]]))
    latencies: list[float] = []
    failures: list[str] = []

    async def run() -> tuple[float, float]:
        started = time.time()
        await asyncio.gather(*(common._lean_connection(h, p, reqs, (201,), latencies,
                                                        failures)
                               for h, p, reqs in per_conn))
        return started, time.time()

    cpu0 = time.process_time()
    started, ended = asyncio.run(run())
    out.put((latencies, failures, started, ended, time.process_time() - cpu0))


def run_spread(bases: list[str], requests: Sequence[common.Request],
               connections: int) -> tuple[common.Load, float]:
    return common.drive(_spread_worker, (bases, list(requests), connections))


def conflicts(bases: list[str]) -> float:
    total = 0.0
    for base in bases:
        text = httpx.get(base + "/metrics", headers=common.ADMIN, timeout=30).text
        total += sum(float(v) for v in RETRIES.findall(text))
    return total


@dataclass
class ServerRun:
    servers: int
    load: common.Load
    conflicts: float
    server_cpu: list[float]  # seconds per server process over the measured boots
    db_cpu: float
    generator_cpu: float
    loadavg: float
    idle_server: float  # CPU s/s of all server processes together with no boot
    idle_db: float  # CPU s/s of the database's backends with no boot

    def per_boot_ms(self, seconds: float) -> float:
        return seconds / self.load.count * 1000

    def marginal_ms(self, seconds: float, idle_rate: float) -> float:
        """CPU per boot beyond what the same time costs idle."""
        return max(0.0, seconds - idle_rate * self.load.seconds) / self.load.count * 1000


def run_servers(url: str, count: int, boots: int, connections: int, workdir: Path,
                backends: Backends, idle_s: float) -> ServerRun:
    services = [start_serve(url, 1, "spread", workdir / f"s{count}-{i}") for i in range(count)]
    bases = [s.url for s in services]
    try:
        for i, svc in enumerate(services):  # cold engine load of each process, off the clock
            common.run_requests(svc.url, boot_requests(30, f"warm-{count}-{i}"), 2,
                                expect=(201,))
        # Idle: what the processes and the database spend with no boot at all (engine
        # and host table refreshes), so that a boot's own cost can be told apart.
        idle0 = ([tree_cpu(s.process.pid) for s in services], backends.snapshot(),
                 time.perf_counter())
        time.sleep(idle_s)
        idle = (sum(tree_cpu(s.process.pid) for s in services) - sum(idle0[0]),
                Backends.spent(idle0[1], backends.snapshot()))
        idle_rate = (idle[0] / (time.perf_counter() - idle0[2]),
                     idle[1] / (time.perf_counter() - idle0[2]))
        before = conflicts(bases)
        cpu0 = [tree_cpu(s.process.pid) for s in services]
        db0 = backends.snapshot()
        load, gen_cpu = run_spread(bases, boot_requests(boots, f"vm{count}"), connections)
        db1 = backends.snapshot()
        cpu1 = [tree_cpu(s.process.pid) for s in services]
        lost = conflicts(bases) - before
    finally:
        for s in services:
            s.stop()
    return ServerRun(count, load, lost, [b - a for a, b in zip(cpu0, cpu1, strict=True)],
                     Backends.spent(db0, db1), gen_cpu, os.getloadavg()[0], *idle_rate)


# -- section 2: the claim transaction, recorded and replayed ------------------------------

Statement = tuple[bool, str, Any]  # (executemany, SQL as sent to psycopg, parameters)


@dataclass
class Recorded:
    """One claim transaction's statements and the ids it made (replaced on replay)."""

    project: str
    statements: list[Statement]
    fresh: set[str] = field(default_factory=set)


_LOCK = "SELECT resource_providers.id, resource_providers.uuid, resource_providers.generation"
_BUMP = "UPDATE resource_providers SET generation="
_CONSUMER = "INSERT INTO consumers "


def record_claims(url: str, settings: Settings, projects: list[str], per_project: int
                  ) -> list[Recorded]:
    """Boot in process and keep, for each boot, every statement of its claim's write
    transaction (``claims._commit``) as the driver received it."""
    recording: list[Statement] | None = None

    class Recorder(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
            if recording is not None:
                recording.append((False, str(query), params))
            return super().execute(query, params, **kw)

        def executemany(self, query: Any, params_seq: Any, **kw: Any) -> Any:
            params = list(params_seq)
            if recording is not None:
                recording.append((True, str(query), params))
            return super().executemany(query, params, **kw)

    store = make_store(url)
    event.listen(store.engine, "connect",
                 lambda conn, _rec: setattr(conn, "cursor_factory", Recorder))
    scheduler = Scheduler(store, settings, CandidateFinder(store))
    commit = claims._commit
    out: list[Recorded] = []

    def recorded_commit(sched: Scheduler, claimed: Any) -> Any:
        nonlocal recording
        recording = []
        try:
            return commit(sched, claimed)
        finally:
            statements, recording = recording, None
            fresh = {p.consumer for _c, d in claimed for p in d.placements}
            fresh |= {d.decision_id for _c, d in claimed}
            out.append(Recorded(claimed[0][0].project_id, statements + [(False, "COMMIT", None)],
                                fresh))

    claims._commit = recorded_commit  # type: ignore[assignment]
    try:
        for project in projects:  # first boot of a project creates its rows: not replayable
            boot_one(store, scheduler, project, f"first-{project}")
        out.clear()
        for k in range(per_project):
            for project in projects:
                boot_one(store, scheduler, project, f"rec-{project}-{k}")
    finally:
        claims._commit = commit
        store.dispose()
    return out


def boot_one(store: Any, scheduler: Scheduler, project: str, name: str) -> None:
    instances.boot(store, scheduler, instances.BootRequest(
        name=name, flavor="bench-flavor", project_id=project, user_id="scaleout"))


def _fresh_params(params: Any, names: dict[str, str]) -> Any:
    if isinstance(params, dict):
        return {k: _fresh_params(v, names) for k, v in params.items()}
    if isinstance(params, list):
        return [_fresh_params(v, names) for v in params]
    if isinstance(params, str):
        return names.get(params, params)
    return params


def replay_one(conn: psycopg.Connection[Any], tx: Recorded) -> None:
    """One recorded claim transaction with fresh ids, as the claim would issue it."""
    names = {old: str(uuidlib.uuid4()) for old in tx.fresh}
    generations: dict[int, int] = {}
    consumer_id: int | None = None
    cur = conn.cursor()
    for many, sql, params in tx.statements:
        if sql == "COMMIT":
            conn.commit()
            continue
        params = _fresh_params(params, names)
        if many:
            if consumer_id is not None:
                for row in params:
                    if "consumer_id" in row:
                        row["consumer_id"] = consumer_id
            cur.executemany(sql, params)
            continue
        if sql.startswith(_BUMP):
            seen = generations[params["pid"]]
            params.update(seen=seen, next=seen + 1)
        cur.execute(sql, params)
        if sql.startswith(_LOCK):
            generations.update((rp_id, gen) for rp_id, _u, gen in cur.fetchall())
        elif sql.startswith(_CONSUMER) and cur.description is not None:
            consumer_id = cur.fetchone()[0]  # type: ignore[index]


def _replay_worker(dsn: str, txs: list[Recorded], seconds: float, barrier: Any,
                   out: Any) -> None:
    conn = psycopg.connect(dsn, application_name="scaleout-replay")
    latencies: list[float] = []
    barrier.wait(600)  # every client connected: the parent reads the backends' CPU
    barrier.wait(600)  # then the clock starts
    cpu0 = time.process_time()
    started = time.time()
    deadline = time.perf_counter() + seconds
    k = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        replay_one(conn, txs[k % len(txs)])
        latencies.append(time.perf_counter() - t0)
        k += 1
    ended = time.time()
    out.put((latencies, started, ended, time.process_time() - cpu0))
    barrier.wait(600)  # the parent reads the backends' CPU before they go
    conn.close()


@dataclass
class ReplayRun:
    mode: str
    connections: int
    load: common.Load
    db_cpu: float
    client_cpu: float


def replay(url: str, txs: list[Recorded], connections: int, seconds: float, mode: str,
           backends: Backends) -> ReplayRun:
    """``connections`` client processes, each replaying its share for ``seconds``.

    Forked, not spawned: a spawned client would import corral again before it could
    start, which on a loaded machine takes longer than the run itself."""
    ctx = multiprocessing.get_context("fork")
    out: Any = ctx.Queue()
    barrier = ctx.Barrier(connections + 1)
    if mode == "one project":
        shares = [txs[i::connections] for i in range(connections)]
    else:  # each connection only its own projects: no two share a quota row
        projects = sorted({t.project for t in txs})
        shares = [[t for t in txs if projects.index(t.project) % connections == i]
                  for i in range(connections)]
    procs = [ctx.Process(target=_replay_worker,
                         args=(libpq(url), share, seconds, barrier, out), daemon=True)
             for share in shares]
    for p in procs:
        p.start()
    barrier.wait(600)
    db0 = backends.snapshot()
    barrier.wait(600)
    results = [out.get(timeout=seconds + 120) for _ in procs]
    db1 = backends.snapshot()
    barrier.wait(600)
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    latencies = [x for r in results for x in r[0]]
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    return ReplayRun(mode, connections, common.Load(len(latencies), elapsed, latencies),
                     Backends.spent(db0, db1), sum(r[3] for r in results))


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    p = common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, help="Fleet size (default 10000; --quick 2000).")
    p.add_argument("--servers", default="1,2,4", help="Server process counts (default %(default)s).")
    p.add_argument("--boots", type=int, help="Boots per server count (default 3000).")
    p.add_argument("--connections", type=int, default=16,
                   help="Connections of the load generator (default %(default)s).")
    p.add_argument("--replay-connections", default="1,2,4,8,16",
                   help="Client connections replaying claims (default %(default)s).")
    p.add_argument("--replay-seconds", type=float, default=8.0,
                   help="Seconds per replay run (default %(default)s).")
    p.add_argument("--record", type=int, default=1600,
                   help="Claim transactions recorded per mode (default %(default)s).")
    p.add_argument("--db-cores", type=int, default=16,
                   help="Cores of the database server the derivation assumes (default %(default)s).")
    p.add_argument("--idle-seconds", type=float, default=10.0,
                   help="Seconds the servers are watched with no boot (default %(default)s).")
    p.add_argument("--skip-servers", action="store_true")
    p.add_argument("--skip-replay", action="store_true")
    args = p.parse_args()
    configure_logging(level="warning")
    hosts = args.hosts or (2000 if args.quick else 10000)
    boots = args.boots or (600 if args.quick else 3000)
    record = 320 if args.quick else args.record
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-scaleout-"))
    atexit.register(shutil.rmtree, workdir, True)
    say(f"bench/scaleout.py on {common.machine_facts()}; load average "
        f"{os.getloadavg()[0]:.2f} at start")
    dbs = common.Databases(args.postgresql_url)
    url = dbs.create("corral_scaleout")
    settings = Settings(database_url=url, strategy="spread", host_down_after_s=DAY_S,
                        data_dir=str(workdir))
    took = seed(url, hosts, settings)
    say(f"seeded {hosts} hosts into PostgreSQL in {took:.1f} s")
    backends = Backends(url)
    server_runs: list[ServerRun] = []
    if not args.skip_servers:
        for count in [int(x) for x in args.servers.split(",") if x]:
            run = run_servers(url, count, boots, args.connections, workdir, backends,
                              args.idle_seconds)
            server_runs.append(run)
            say(f"  {count} server process(es): {run.load.rps:.0f} boots/s, p50 "
                f"{run.load.pct(50):.1f} ms, p99 {run.load.pct(99):.1f} ms, "
                f"{run.conflicts:.0f} claim conflicts")
        say(f"\n### 1. {hosts} hosts, POST /v1/instances spread over N `corral serve` "
            f"processes (1 worker each), {args.connections} connections (lean generator), "
            f"one PostgreSQL database\n")
        table(["servers", "boots", "boots/s", "p50 ms", "p99 ms", "claim conflicts",
               "server CPU ms/boot", "PostgreSQL CPU ms/boot", "idle: servers CPU %",
               "idle: PostgreSQL CPU %", "server ms/boot beyond idle",
               "PostgreSQL ms/boot beyond idle", "generator CPU ms/boot", "load avg"],
              [(r.servers, r.load.count, r.load.rps, r.load.pct(50), r.load.pct(99),
                int(r.conflicts), r.per_boot_ms(sum(r.server_cpu)), r.per_boot_ms(r.db_cpu),
                r.idle_server * 100, r.idle_db * 100,
                r.marginal_ms(sum(r.server_cpu), r.idle_server),
                r.marginal_ms(r.db_cpu, r.idle_db),
                r.per_boot_ms(r.generator_cpu), r.loadavg) for r in server_runs])
        say("(CPU from /proc: every server process with its children, and every PostgreSQL "
            "backend of the database; all on this machine's cores. Idle: the same processes "
            f"for {args.idle_seconds:.0f} s with no boot, after the warm-up)")

    replay_runs: list[ReplayRun] = []
    if not args.skip_replay:
        modes = {"one project": [PROJECT], "16 projects": [f"scaleout-{i}" for i in range(16)]}
        recorded = {mode: record_claims(url, settings, projects, record // len(projects))
                    for mode, projects in modes.items()}
        statements = sum(len(t.statements) for t in recorded["one project"]) / len(
            recorded["one project"])
        say(f"\nrecorded {sum(len(v) for v in recorded.values())} claim transactions "
            f"({statements:.0f} statements each, COMMIT included)")
        for mode, txs in recorded.items():
            for n in [int(x) for x in args.replay_connections.split(",") if x]:
                rr = replay(url, txs, n, args.replay_seconds, mode, backends)
                replay_runs.append(rr)
                say(f"  {mode}, {n} connections: {rr.load.rps:.0f} claims/s, p50 "
                    f"{rr.load.pct(50):.2f} ms, PostgreSQL CPU "
                    f"{rr.db_cpu / rr.load.count * 1000:.2f} ms/claim")
        say("\n### 2. The claim's write transaction replayed (no decision, bare psycopg "
            "clients, one process per connection)\n")
        table(["claims in", "connections", "claims/s", "p50 ms", "p99 ms",
               "PostgreSQL CPU ms/claim", "client CPU ms/claim"],
              [(r.mode, r.connections, r.load.rps, r.load.pct(50), r.load.pct(99),
                r.db_cpu / r.load.count * 1000, r.client_cpu / r.load.count * 1000)
               for r in replay_runs])

    if server_runs and replay_runs:
        derive(server_runs, replay_runs, args.db_cores)
    backends.close()
    dbs.drop(url)


def derive(server_runs: list[ServerRun], replay_runs: list[ReplayRun], db_cores: int) -> None:
    """DERIVED, not measured: N server processes on N machines, one database server.

    Each boot costs its own process and the database a fixed part, and every OTHER
    process a little more (it reads the claimed providers from the change feed before
    its next decision): CPU per boot is fitted as ``first + (N - 1) * slope`` from
    section 1's first and last server counts, for the servers (all processes together)
    and for the database.
    """
    first, last = server_runs[0], server_runs[-1]

    def fit(cost: Any) -> tuple[float, float]:
        base = cost(first)
        slope = ((cost(last) - base) / (last.servers - first.servers)
                 if last.servers > first.servers else 0.0)
        return base, max(0.0, slope)

    srv = fit(lambda r: r.marginal_ms(sum(r.server_cpu), r.idle_server))
    dbf = fit(lambda r: r.marginal_ms(r.db_cpu, r.idle_db))
    claim_ms = min(r.db_cpu / r.load.count * 1000 for r in replay_runs)
    one_project = max(r.load.rps for r in replay_runs if r.mode == "one project")
    say(f"\n### 3. DERIVED: N server processes on separate machines (one core each), one "
        f"PostgreSQL of {db_cores} cores\n")
    say(f"- servers, CPU per boot, all processes together: {srv[0]:.2f} ms + "
        f"{srv[1]:.2f} ms per other process (section 1, beyond idle)")
    say(f"- database, CPU per boot, every statement: {dbf[0]:.2f} ms + {dbf[1]:.2f} ms per "
        f"other process (section 1, beyond idle; the claim transaction alone, section 2: "
        f"{claim_ms:.2f} ms)")
    say(f"- claims of ONE project serialise on its quota rows: {one_project:.0f} claims/s "
        f"at best on this machine (section 2)")
    rows = []
    for n in (1, 2, 4, 8, 16, 32, 64):
        servers = n * 1000 / (srv[0] + (n - 1) * srv[1])
        database = db_cores * 1000 / (dbf[0] + (n - 1) * dbf[1])
        rows.append((n, servers, database, min(servers, database),
                     "servers" if servers < database else "database"))
    table(["server processes", "servers' boots/s", "database ceiling boots/s",
           "derived boots/s", "limited by"], rows)


if __name__ == "__main__":
    main()
