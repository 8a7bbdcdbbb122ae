#!/usr/bin/env python3
"""What the event outbox and its relay cost, against a real 3-node RabbitMQ cluster.

1. Boots per second over HTTP (one ``corral serve`` process, SQLite, a seeded fleet,
   the lean load generator) with no broker configured (events only logged), with the
   relay publishing inside the server, and with the relay in a process of its own
   (``corral relay``), in turn, ``--rounds`` times each. Every booted instance writes one
   event; with a relay, a quorum queue is bound so the events are routed, and the run
   waits until the relay caught up. The server's CPU per boot and the relay process's
   are counted apart.
2. Events per second through the relay alone: ``--events`` committed up front, then a
   relay (in this process) publishes them all with confirms.

    bench/events.py --hosts 1000 --boots 2000 --rounds 2 --events 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import common
import scheduler as sched
from common import say, table
from scaleout import tree_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from integration import rabbit_cluster  # noqa: E402 - the tests' cluster (standard library)

from corral.config import Settings  # noqa: E402
from corral.domain.events import NewEvent  # noqa: E402
from corral.persistence import make_store  # noqa: E402
from corral.persistence.clock import utcnow  # noqa: E402
from corral.services import events as event_log  # noqa: E402
from corral.services.relay import Relay  # noqa: E402


def bind_queue(url: str, exchange: str) -> None:
    """A durable quorum queue taking every event of ``exchange`` (so none is returned)."""
    async def declare() -> None:
        connection = await aio_pika.connect(url, timeout=10)
        async with connection:
            channel = await connection.channel()
            ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC,
                                                durable=True)
            queue = await channel.declare_queue(f"bench-{exchange}", durable=True,
                                                arguments={"x-queue-type": "quorum"})
            await queue.bind(ex, routing_key="#")
    asyncio.run(declare())


def pending(url: str) -> int:
    store = make_store(url)
    try:
        with store.read() as repo:
            return repo.pending_summary()[0]
    finally:
        store.dispose()


#: Where the relay runs in each mode (None: no broker configured, events only logged).
MODES = {"off (events only logged)": None, "in the server": "serve",
         "own process (corral relay)": "process"}


def corral_env(workdir: Path, brokers: list[str], exchange: str, relay: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_DATA_DIR=str(workdir / "data"), CORRAL_HOST_DOWN_AFTER_S=str(sched.DAY_S),
               CORRAL_LOG_FORMAT="json", CORRAL_LOG_LEVEL="warning")
    if relay:
        env.update(CORRAL_BROKER_URLS=",".join(brokers), CORRAL_EXCHANGE=exchange,
                   CORRAL_RELAY_IN_SERVE=str(relay == "serve").lower())
    return env


def serve(url: str, workdir: Path, env: dict[str, str]) -> common.Service:
    port = common.free_port()
    return common._spawn("corral", [sys.executable, "-m", "corral.cli.main", "--database-url",
                                    url, "serve", "--host", "127.0.0.1", "--port", str(port)],
                         env, workdir, f"http://127.0.0.1:{port}")


def relay_process(url: str, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(workdir / "relay.log", "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "corral.cli.main", "--database-url",
                                 url, "relay"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                start_new_session=True)


def boots_per_second(template: Path, workdir: Path, boots: int, connections: int,
                     brokers: list[str], relay: str | None) -> tuple[float, float, float, float]:
    """(boots/s, the server's CPU milliseconds per boot (the relay's publishing included
    when it runs in the server), the relay process's CPU milliseconds per boot, seconds
    the relay needed after the last boot to catch up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "fleet.sqlite"
    shutil.copy(template, path)
    url = sched.sqlite_url(path)
    exchange = f"bench-{uuid.uuid4().hex[:6]}"
    if relay:
        bind_queue(brokers[0], exchange)
    env = corral_env(workdir, brokers, exchange, relay)
    svc = serve(url, workdir, env)
    own = relay_process(url, workdir, env) if relay == "process" else None
    try:
        common.run_lean(svc.url, sched.boot_requests(100, "warm"), connections, expect=(201,))
        while relay and pending(url):
            time.sleep(0.05)
        cpu0 = tree_cpu(svc.process.pid)
        relay0 = tree_cpu(own.pid) if own else 0.0
        load, _cpu = common.run_lean(svc.url, sched.boot_requests(boots, "vm"), connections,
                                     expect=(201,))
        ended = time.monotonic()
        while relay and pending(url) and time.monotonic() - ended < 120:
            time.sleep(0.05)
        lag = time.monotonic() - ended if relay else 0.0
        cpu_ms = (tree_cpu(svc.process.pid) - cpu0) * 1000 / boots
        relay_ms = (tree_cpu(own.pid) - relay0) * 1000 / boots if own else 0.0
    finally:
        svc.stop()
        if own:
            own.terminate()
            own.wait(30)
    return load.rps, cpu_ms, relay_ms, lag


def relay_throughput(workdir: Path, brokers: list[str], count: int) -> float:
    """Events per second a relay publishes with confirms (``count`` waiting for it)."""
    path = workdir / "events.sqlite"
    sched.upgrade(sched.sqlite_url(path))
    store = make_store(sched.sqlite_url(path))
    exchange = f"bench-{uuid.uuid4().hex[:6]}"
    bind_queue(brokers[0], exchange)
    for start in range(0, count, 1000):
        with store.write() as repo:
            event_log.write(repo, [NewEvent(str(uuid.uuid4()), "bench.event", "thing",
                                            f"t{k % 100}", {"n": k}, utcnow())
                                   for k in range(start, min(count, start + 1000))])
    settings = Settings(data_dir=str(workdir), broker_urls=",".join(brokers), exchange=exchange)
    started = time.monotonic()
    thread = Relay(store, settings).start_thread()
    try:
        while True:
            with store.read() as repo:
                if not repo.pending_summary()[0]:
                    break
            time.sleep(0.02)
        return count / (time.monotonic() - started)
    finally:
        thread.stop()
        store.dispose()


def report_boots(args: argparse.Namespace, runs: dict[str, list[float]],
                 cpu: dict[str, list[float]], relay_cpu: list[float], lags: list[float]) -> None:
    off = statistics.median(runs[next(iter(MODES))])
    off_cpu = statistics.median(cpu[next(iter(MODES))])
    say(f"\n## Boots per second over HTTP ({args.hosts} hosts, {args.boots} boots, "
        f"{args.connections} connections, median of {args.rounds})\n")
    say("The broker's three nodes run on the same cores as the server and the load "
        "generator: boots/s with a relay also pays for the broker's own work. The "
        "server's CPU per boot (its process tree; the relay's publishing included when it "
        "runs in the server) is what the outbox costs the boot path.\n")
    rows = []
    for mode, rates in runs.items():
        rps, ms = statistics.median(rates), statistics.median(cpu[mode])
        rows.append((mode, ", ".join(f"{x:.0f}" for x in rates), f"{rps:.0f}",
                     f"{rps / off:.2f}x", f"{ms:.2f}", f"{ms / off_cpu:.2f}x"))
    table(["relay", "boots/s (each run)", "median", "vs off", "server CPU ms/boot",
           "vs off"], rows)
    say(f"\nThe relay process spent {statistics.median(relay_cpu):.2f} ms of CPU per boot's "
        f"event; a relay had published everything {max(lags):.2f} s after the last boot at "
        "most.")


def main() -> None:
    parser = common.base_parser(__doc__ or "")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--boots", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    why = rabbit_cluster.available()
    if why:
        raise SystemExit(why)
    work = Path(tempfile.mkdtemp(prefix="corral-bench-events-"))
    cluster = rabbit_cluster.Cluster(work / "rabbit")
    try:
        say(f"# Events: the outbox and the relay\n\n{common.machine_facts()}; "
            f"load average at start {common.load_average()}")
        started = time.monotonic()
        cluster.start()
        say(f"\n3-node RabbitMQ cluster up in {time.monotonic() - started:.1f} s")
        template = work / "template.sqlite"
        sched.seed(sched.sqlite_url(template), args.hosts, Settings())
        runs: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        relay_cpu: list[float] = []
        lags: list[float] = []
        for r in range(args.rounds):
            for k, (mode, where) in enumerate(MODES.items()):
                rps, cpu_ms, relay_ms, lag = boots_per_second(
                    template, work / f"mode{k}-{r}", args.boots, args.connections,
                    cluster.urls, where)
                runs[mode].append(rps)
                cpu[mode].append(cpu_ms)
                if where:
                    lags.append(lag)
                if where == "process":
                    relay_cpu.append(relay_ms)
        report_boots(args, runs, cpu, relay_cpu, lags)
        rate = relay_throughput(work, cluster.urls, args.events)
        say(f"\n## The relay alone\n\n{args.events} events published with confirms: "
            f"{rate:,.0f} events/s")
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
