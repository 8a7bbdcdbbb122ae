"""What every benchmark shares: the two services under test, fleets, and HTTP load.

- ``Databases``: throwaway PostgreSQL databases on the configured server, dropped at exit.
- ``start_corral``: ``corral db upgrade`` + ``corral serve --workers N`` on 127.0.0.1.
- ``start_placement``: the real OpenStack Placement 16.0.0 (the baseline) in its own
  virtualenv (built with pip on first use), ``placement-manage db sync``, and its WSGI
  app under gunicorn with N workers on 127.0.0.1, noauth2, on its own database.
- ``Fleet`` / ``load_fleet``: the same fleet written into either service through the
  Placement HTTP API, in parallel client processes.
- ``measure``: p50/p95 latency and requests/s of one request, from client processes.

Everything listens on loopback only, every wait is bounded, and every process started
here is stopped (its whole process group) when the benchmark exits.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PLACEMENT_VERSION = "16.0.0"
DEFAULT_PG = "postgresql+psycopg://corral@127.0.0.1:55432/corral"
START_TIMEOUT = 60.0
ADMIN = {"x-auth-token": "admin"}

# -- output ---------------------------------------------------------------------------


def say(*parts: object) -> None:
    print(*parts, flush=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a plain, aligned table (also valid Markdown)."""
    cells = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    say("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    say("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        say("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def ratio(baseline: float, ours: float) -> str:
    """How many times better ours is than the baseline (for a time: baseline / ours)."""
    if ours <= 0 or baseline <= 0 or math.isnan(baseline) or math.isnan(ours):
        return "n/a"
    return f"{baseline / ours:.1f}x"


def machine_facts() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="Small fleets and few requests: a smoke run of a minute or two.")
    p.add_argument("--postgresql-url", default=os.environ.get(
        "CORRAL_BENCH_POSTGRESQL_URL", os.environ.get("CORRAL_TEST_POSTGRESQL_URL", DEFAULT_PG)),
        help="A PostgreSQL server to create throwaway databases on "
             "(env CORRAL_BENCH_POSTGRESQL_URL; default %(default)s).")
    p.add_argument("--no-placement", action="store_true",
                   help="Measure corral only (no baseline, so no ratios).")
    return p


# -- processes ------------------------------------------------------------------------

_started: list[Service] = []


def _stop_all() -> None:
    for svc in reversed(_started):
        svc.stop()


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def rss_mb(self) -> tuple[float, float]:
        """(resident now, peak resident) of the service's own process, in MB (Linux; nan
        elsewhere). With one worker that process is the server itself."""
        return rss_mb(self.process.pid)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process ``pid`` in MB, from /proc (nan when unreadable)."""
    found = {"VmRSS": float("nan"), "VmHWM": float("nan")}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _spawn(name: str, cmd: list[str], env: dict[str, str], workdir: Path, url: str,
           ready: Callable[[int], bool] = lambda status: status == 200) -> Service:
    """Start ``cmd`` and wait until GET ``url``/ answers a status ``ready`` accepts."""
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                   start_new_session=True)
    svc = Service(name, url, process, log_path)
    _started.append(svc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if ready(httpx.get(url + "/", timeout=2.0).status_code):
                return svc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    svc.stop()
    raise SystemExit(f"{name} did not answer GET / within {START_TIMEOUT}s; its log:\n"
                     f"{svc.log()}")


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 600) -> None:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                         f"{done.stdout.decode(errors='replace')[-3000:]}\n"
                         f"{done.stderr.decode(errors='replace')[-3000:]}")


# -- databases ------------------------------------------------------------------------


class Databases:
    """Throwaway databases on one PostgreSQL server, all dropped at exit."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []
        atexit.register(self.drop_all)

    def create(self, prefix: str) -> str:
        """A new empty database; returns its URL (corral's psycopg driver)."""
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.names:
            self.names.remove(name)

    def drop_all(self) -> None:
        for name in list(self.names):
            with contextlib.suppress(Exception), self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.clear()
        self.admin.dispose()


def psycopg2_url(url: str) -> str:
    """The same database for Placement (SQLAlchemy through psycopg2)."""
    return make_url(url).set(drivername="postgresql+psycopg2").render_as_string(
        hide_password=False)


# -- corral ---------------------------------------------------------------------------


def start_corral(db_url: str, workers: int, workdir: Path) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_DATA_DIR"] = str(workdir / "data")
    cli = [sys.executable, "-m", "corral.cli.main", "--database-url", db_url]
    _run([*cli, "db", "upgrade"], env=env)
    port = free_port()
    return _spawn("corral", [*cli, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], env, workdir,
                  f"http://127.0.0.1:{port}")


# -- OpenStack Placement (the baseline) ------------------------------------------------

PLACEMENT_CONF = """\
[DEFAULT]
debug = False
use_stderr = True
# Per-request INFO lines off, as corral serves without an access log.
default_log_levels = placement.requestlog=WARN,routes=WARN,oslo_policy=WARN,oslo_db=WARN,\
sqlalchemy=WARN,stevedore=WARN,keystonemiddleware=WARN,urllib3=WARN,iso8601=WARN

[api]
auth_strategy = noauth2

[placement_database]
connection = {connection}
max_pool_size = 10
max_overflow = 10
"""


def placement_venv() -> Path:
    """A virtualenv with Placement 16.0.0, psycopg2 and gunicorn; built with pip if needed.

    ``CORRAL_BENCH_PLACEMENT_VENV`` names one to use (what it lacks is installed into it);
    the default is bench/.venvs/placement (gitignored).
    """
    venv = Path(os.environ.get("CORRAL_BENCH_PLACEMENT_VENV", BENCH / ".venvs" / "placement"))
    python = venv / "bin" / "python"
    probe = ("import importlib.metadata as m, gunicorn, psycopg2, placement; "
             f"assert m.version('openstack-placement') == '{PLACEMENT_VERSION}'")
    if python.exists() and subprocess.run([str(python), "-c", probe],
                                          capture_output=True).returncode == 0:
        return venv
    say(f"building the Placement {PLACEMENT_VERSION} virtualenv in {venv} (pip)...")
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(python), "-m", "pip", "install", "-q", f"openstack-placement=={PLACEMENT_VERSION}",
          "psycopg2-binary", "gunicorn"], timeout=1200)
    return venv


def start_placement(db_url: str, workers: int, workdir: Path) -> Service:
    """Configure, migrate and serve Placement on ``db_url`` (an empty database)."""
    workdir.mkdir(parents=True, exist_ok=True)
    venv = placement_venv()
    (workdir / "placement.conf").write_text(
        PLACEMENT_CONF.format(connection=psycopg2_url(db_url)))
    env = {**os.environ, "OS_PLACEMENT_CONFIG_DIR": str(workdir)}
    _run([str(venv / "bin" / "placement-manage"), "--config-file",
          str(workdir / "placement.conf"), "db", "sync"], env=env)
    port = free_port()
    return _spawn("placement", [
        str(venv / "bin" / "gunicorn"), "--workers", str(workers), "--bind",
        f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning",
        "placement.wsgi.api:application"], env, workdir, f"http://127.0.0.1:{port}")


@dataclass
class Pair:
    """corral and Placement side by side, each on its own fresh database."""

    services: dict[str, Service] = field(default_factory=dict)
    db_urls: dict[str, str] = field(default_factory=dict)

    def stop(self, dbs: Databases) -> None:
        for name, svc in self.services.items():
            svc.stop()
            dbs.drop(self.db_urls[name])


def start_pair(dbs: Databases, workers: int, with_placement: bool, tag: str) -> Pair:
    pair = Pair()
    workdir = Path(tempfile.mkdtemp(prefix=f"corral-bench-{tag}-"))
    atexit.register(shutil.rmtree, workdir, True)
    pair.db_urls["corral"] = dbs.create("corral_bench")
    pair.services["corral"] = start_corral(pair.db_urls["corral"], workers, workdir / "corral")
    if with_placement:
        pair.db_urls["placement"] = dbs.create("placement_bench")
        pair.services["placement"] = start_placement(
            pair.db_urls["placement"], workers, workdir / "placement")
    return pair


# -- client processes -----------------------------------------------------------------

Request = tuple[str, str, Any, str]  # method, path, json body (or None), microversion


def _client_worker(base: str, requests: list[Request], expect: tuple[int, ...],
                   out: Any, barrier: Any) -> None:
    latencies: list[float] = []
    failures: list[str] = []
    with httpx.Client(base_url=base, headers=ADMIN, timeout=300.0) as client:
        barrier.wait(120)  # every client connected and ready: the clock starts now
        started = time.time()
        for method, path, body, version in requests:
            headers = {"openstack-api-version": f"placement {version}"}
            t0 = time.perf_counter()
            resp = client.request(method, path, json=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if resp.status_code not in expect and len(failures) < 5:
                failures.append(f"{method} {path} -> {resp.status_code}: {resp.text[:300]}")
        ended = time.time()
    out.put((latencies, failures, started, ended))


@dataclass
class Load:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else float("nan")

    def pct(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, math.ceil(q / 100 * len(data)) - 1))
        return data[k] * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


def run_requests(base: str, requests: Sequence[Request], clients: int,
                 expect: tuple[int, ...] = (200, 201, 204)) -> Load:
    """Send ``requests`` from ``clients`` processes (round-robin split); fail on a bad status.

    The clock runs from the moment every client process is ready (a shared barrier) to
    the last response, so process start-up is not counted.
    """
    ctx = multiprocessing.get_context("spawn")
    out: Any = ctx.Queue()
    clients = max(1, min(clients, len(requests)))
    chunks = [list(requests[i::clients]) for i in range(clients)]
    barrier = ctx.Barrier(clients)
    procs = [ctx.Process(target=_client_worker, args=(base, chunk, expect, out, barrier),
                         daemon=True) for chunk in chunks]
    for p in procs:
        p.start()
    latencies: list[float] = []
    failures: list[str] = []
    starts, ends = [], []
    try:
        for _ in procs:
            lat, fail, started, ended = out.get(timeout=3600)
            latencies.extend(lat)
            failures.extend(fail)
            starts.append(started)
            ends.append(ended)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    if failures:
        raise SystemExit("unexpected responses:\n" + "\n".join(failures[:10]))
    return Load(len(latencies), max(ends) - min(starts), latencies)


def _encode(host: str, request: Request) -> bytes:
    method, path, body, version = request
    payload = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nhost: {host}\r\nx-auth-token: admin\r\n"
            f"openstack-api-version: placement {version}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _lean_connection(host: str, port: int, requests: list[bytes],
                           expect: tuple[int, ...], latencies: list[float],
                           failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for raw in requests:
            t0 = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            status = int(head[9:12])
            if status not in expect and len(failures) < 5:
                failures.append(f"{raw[:40]!r} -> {status}: {body[:300]!r}")
    finally:
        writer.close()


def _lean_worker(base: str, requests: list[Request], connections: int,
                 expect: tuple[int, ...], out: Any) -> None:
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    encoded = [_encode(f"{host}:{port}", r) for r in requests]
    latencies: list[float] = []
    failures: list[str] = []

    async def run() -> tuple[float, float]:
        started = time.time()
        await asyncio.gather(*(_lean_connection(host, port, encoded[i::connections], expect,
                                                latencies, failures)
                               for i in range(connections)))
        return started, time.time()

    cpu0 = time.process_time()
    started, ended = asyncio.run(run())
    out.put((latencies, failures, started, ended, time.process_time() - cpu0))


def run_lean(base: str, requests: Sequence[Request], connections: int,
             expect: tuple[int, ...] = (200, 201, 204)) -> tuple[Load, float]:
    """Send ``requests`` over ``connections`` keep-alive connections from one process.

    A load generator that costs the server's machine as little as possible: requests are
    encoded before the clock starts, and one asyncio process drives every connection with
    raw sockets (one request in flight per connection). Returns the load and the CPU
    seconds the generator itself used, so a report can say what the server was left.
    """
    return drive(_lean_worker, (base, list(requests), connections, expect))


def drive(worker: Any, args: tuple[Any, ...]) -> tuple[Load, float]:
    """Run a load generator ``worker(*args, out)`` in a spawned process: the load, and the
    CPU seconds the generator used (an unexpected response ends the benchmark)."""
    ctx = multiprocessing.get_context("spawn")
    out: Any = ctx.Queue()
    proc = ctx.Process(target=worker, args=(*args, out), daemon=True)
    proc.start()
    try:
        latencies, failures, started, ended, cpu = out.get(timeout=3600)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if failures:
        raise SystemExit("unexpected responses:\n" + "\n".join(failures[:10]))
    return Load(len(latencies), ended - started, latencies), cpu


def measure(base: str, request: Request, *, sequential: int, concurrent: int,
            clients: int) -> tuple[Load, Load]:
    """(one client: latency, ``clients`` clients: throughput) of one request."""
    run_requests(base, [request] * 3, 1)  # warm-up: caches, connections, engine load
    alone = run_requests(base, [request] * sequential, 1)
    loaded = run_requests(base, [request] * concurrent, clients)
    return alone, loaded


# -- fleets ---------------------------------------------------------------------------

AGG_NAMESPACE = uuid.UUID("3d3a0a8e-2f9b-4c1e-8a47-0c2b5d7e9f10")


@dataclass
class Provider:
    uuid: str
    name: str
    parent: str | None = None
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)
    aggregates: list[str] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)


@dataclass
class Fleet:
    name: str
    providers: list[Provider]

    def __len__(self) -> int:
        return len(self.providers)


def _u(*parts: object) -> str:
    return str(uuid.uuid5(AGG_NAMESPACE, "/".join(map(str, parts))))


COMPUTE: dict[str, dict[str, Any]] = {"VCPU": {"total": 32, "allocation_ratio": 4.0},
           "MEMORY_MB": {"total": 131072, "reserved": 2048},
           "DISK_GB": {"total": 2000, "reserved": 50}}
NUMA: dict[str, dict[str, Any]] = {"VCPU": {"total": 16, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": 65536, "reserved": 1024}}
SHARED_DISK: dict[str, dict[str, Any]] = {"DISK_GB": {"total": 100000, "reserved": 100}}


def flat_fleet(n: int) -> Fleet:
    """``n`` compute hosts, each one provider with VCPU, MEMORY_MB and DISK_GB."""
    return Fleet(f"flat-{n}", [Provider(_u("flat", n, i), f"cn{i:05d}", inventories=COMPUTE)
                               for i in range(n)])


def nested_fleet(n: int, hosts_per_share: int = 50) -> Fleet:
    """About ``n`` providers: compute hosts as a root plus two NUMA children (VCPU and
    MEMORY_MB on the children, no local disk), their DISK_GB from sharing storage
    providers (one per ``hosts_per_share`` hosts, tied by an aggregate); one host in
    ten is a flat host with local disk."""
    providers: list[Provider] = []
    shares: list[Provider] = []
    i = 0
    while len(providers) + len(shares) < n:
        if i % 10 == 9:
            providers.append(Provider(_u("nested", n, i), f"cn{i:05d}", inventories=COMPUTE))
        else:
            share_no = i // hosts_per_share
            agg = _u("agg", n, share_no)
            if share_no == len(shares):
                shares.append(Provider(_u("share", n, share_no), f"ss{share_no:04d}",
                                       inventories=SHARED_DISK, aggregates=[agg],
                                       traits=["MISC_SHARES_VIA_AGGREGATE"]))
            root = Provider(_u("nested", n, i), f"cn{i:05d}", aggregates=[agg])
            providers.append(root)
            for numa in range(2):
                providers.append(Provider(_u("numa", n, i, numa), f"cn{i:05d}-numa{numa}",
                                          parent=root.uuid, inventories=NUMA))
        i += 1
    return Fleet(f"nested-{n}", providers + shares)


def _load_phase(base: str, requests: list[Request], clients: int) -> None:
    if requests:
        run_requests(base, requests, clients, expect=(200, 201))


def load_fleet(base: str, fleet: Fleet, clients: int = 4) -> float:
    """Write ``fleet`` through the HTTP API (Placement 1.20+ calls); returns seconds taken.

    Phases, each spread over ``clients`` processes: roots, children, inventories,
    aggregates, traits. Generations are known in advance (0 after create, +1 per write).
    """
    t0 = time.perf_counter()
    v = "1.20"
    roots = [p for p in fleet.providers if p.parent is None]
    children = [p for p in fleet.providers if p.parent is not None]
    for group in (roots, children):
        _load_phase(base, [("POST", "/resource_providers",
                            {"name": p.name, "uuid": p.uuid,
                             **({"parent_provider_uuid": p.parent} if p.parent else {})}, v)
                           for p in group], clients)
    gen = {p.uuid: 0 for p in fleet.providers}
    phase: list[Request] = []
    for p in fleet.providers:
        if p.inventories:
            phase.append(("PUT", f"/resource_providers/{p.uuid}/inventories",
                          {"resource_provider_generation": gen[p.uuid],
                           "inventories": p.inventories}, v))
            gen[p.uuid] += 1
    _load_phase(base, phase, clients)
    phase = []
    for p in fleet.providers:
        if p.aggregates:
            phase.append(("PUT", f"/resource_providers/{p.uuid}/aggregates",
                          {"resource_provider_generation": gen[p.uuid],
                           "aggregates": p.aggregates}, "1.19"))
            gen[p.uuid] += 1
    _load_phase(base, phase, clients)
    phase = []
    for p in fleet.providers:
        if p.traits:
            phase.append(("PUT", f"/resource_providers/{p.uuid}/traits",
                          {"resource_provider_generation": gen[p.uuid],
                           "traits": p.traits}, v))
    _load_phase(base, phase, clients)
    return time.perf_counter() - t0


def http_json(base: str, path: str, version: str = "latest",
              params: dict[str, str] | None = None) -> Any:
    r = httpx.get(base + path, params=params, timeout=600.0,
                  headers={**ADMIN, "openstack-api-version": f"placement {version}"})
    r.raise_for_status()
    return r.json()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0
