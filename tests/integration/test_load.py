"""A bounded load test of a public service: one real server, abusive clients, a probe.

For :data:`ATTACK_S` seconds, threads of a process of their own send what issue 14
measured stalling or swelling the server (oversized bodies and headers, slow and idle
connections, heavy candidate queries), while a probe, every :data:`PROBE_EVERY_S`,
asks ``/healthz`` and boots an instance as another client. The server runs with the
default limits and the per-token rate limit on (:data:`RATE_PER_S`), as a public
endpoint should: the bounds make each heavy request short, the rate limit keeps one
token from sending them back to back. The bars: every probe
answered, the median of each kind under :data:`BAR_MS`, and the server's resident
memory under :data:`RSS_BAR_MB` throughout.

The median rather than the maximum or the 90th percentile (printed with it): the
attackers, the probe and the server share two cores with other work, and a probe may
wait on a scheduler none of them owns. Everything stops by itself: the attack after
ATTACK_S, every socket with a timeout.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.persistence import Store
from corral.services import demo

from .conftest import ServeFactory, Server

pytestmark = pytest.mark.slow

ATTACK_S = 25.0
PROBE_EVERY_S = 0.1
BAR_MS = 100.0
RSS_BAR_MB = 300.0
TOKENS = "probe=ops:demo:admin,mallory=mallory:evil:admin"
#: Each token's requests a second: the probe makes at most 5 boots a second, under it.
RATE_PER_S = 8


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Attack:
    """Abusive clients, each a thread looping until ``stop`` is set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sent = {"oversized_body": 0, "oversized_header": 0, "slow": 0, "idle": 0,
                     "heavy_query": 0, "heavy_answered": 0, "heavy_unexpected": 0}

    def connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return None

    def push(self, head: bytes, filler: bytes, total: int) -> None:
        """Send ``head`` then ``filler`` until ``total`` bytes or the server stops us."""
        sock = self.connect()
        if sock is None:
            return
        with sock:
            try:
                sock.sendall(head)
                for _ in range(total // len(filler)):
                    if self.stop.is_set():
                        return
                    sock.sendall(filler)
            except OSError:
                pass  # refused and closed: what the server should do

    def oversized_bodies(self) -> None:
        chunk = b"x" * 65536
        while not self.stop.is_set():
            self.push(b"POST /v1/instances HTTP/1.1\r\nhost: a\r\ncontent-type: application/json"
                      b"\r\ncontent-length: 400000000\r\n\r\n", chunk, 8 * 1024 * 1024)
            self.push(b"PUT /allocations/" + str(uuid.uuid4()).encode() + b" HTTP/1.1\r\n"
                      b"host: a\r\nx-auth-token: mallory\r\ncontent-type: application/json\r\n"
                      b"transfer-encoding: chunked\r\n\r\n", b"10000\r\n" + chunk + b"\r\n",
                      32 * 1024 * 1024)
            self.sent["oversized_body"] += 2

    def oversized_headers(self) -> None:
        while not self.stop.is_set():
            self.push(b"GET /v1/hosts HTTP/1.1\r\nhost: a\r\nx-big: ", b"y" * 65536,
                      100 * 1024 * 1024)
            self.sent["oversized_header"] += 1

    def slow_clients(self, count: int = 200) -> None:
        """Headers one byte at a time, each connection replaced when the server drops it."""
        socks: list[socket.socket | None] = [None] * count
        while not self.stop.is_set():
            for i in range(count):
                sock = socks[i]
                if sock is None:
                    sock = socks[i] = self.connect()
                    if sock is None:
                        continue
                    self.sent["slow"] += 1
                try:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nx-slow: " if self.sent["slow"] else b"a")
                    sock.sendall(b"a")
                except OSError:
                    sock.close()
                    socks[i] = None
            self.stop.wait(0.5)
        for sock in socks:
            if sock is not None:
                sock.close()

    def idle_connections(self, count: int = 800) -> None:
        """Connections that never send a byte, opened again as the server closes them."""
        while not self.stop.is_set():
            socks = [s for s in (self.connect() for _ in range(count)) if s is not None]
            self.sent["idle"] += len(socks)
            self.stop.wait(3.0)
            for sock in socks:
                sock.close()

    def heavy_queries(self, url: str) -> None:
        headers = {"x-auth-token": "mallory", "openstack-api-version": "placement 1.36"}
        # A target past max_url_bytes (1,600 groups); past max_request_groups (100);
        # past max_candidate_combinations (63 groups); within every bound, a heavy one
        # (8 groups: 4,400 group placements, 0.07 s alone). Any may meet the rate limit.
        queries = [(414, "VCPU", 1600), (400, "VCPU", 100), (400, "MEMORY_MB", 63),
                   (200, "MEMORY_MB", 8)]
        with httpx.Client(timeout=30.0, headers=headers) as client:
            while not self.stop.is_set():
                for expected, rc, n in queries:
                    query = "&".join(f"resources{i}={rc}:1" for i in range(1, n + 1))
                    with contextlib.suppress(httpx.HTTPError):
                        r = client.get(f"{url}/allocation_candidates?{query}&group_policy=none")
                        self.sent["heavy_query"] += 1
                        if r.status_code == 200:
                            self.sent["heavy_answered"] += 1
                        elif r.status_code not in (expected, 429):
                            self.sent["heavy_unexpected"] += 1

    def run(self, url: str, seconds: float, results: Any) -> None:
        """Every attack for ``seconds``, then what was sent into ``results``."""
        targets: list[Callable[[], None]] = [
            self.oversized_bodies, self.oversized_headers, self.slow_clients,
            self.idle_connections, lambda: self.heavy_queries(url)]
        threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for thread in threads:
            thread.start()
        self.stop.wait(seconds)
        self.stop.set()
        for thread in threads:
            thread.join(15)
        results.put(dict(self.sent))


def probe(server: Server, stop: threading.Event, latencies: dict[str, list[float]],
          failures: list[str]) -> None:
    """/healthz and a boot, alternately, every PROBE_EVERY_S, on a kept-alive client."""
    headers = {"x-auth-token": "probe"}
    with httpx.Client(base_url=server.url, timeout=10.0, headers=headers) as client:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            try:
                if n % 2:
                    r = client.get("/healthz")
                    kind, ok = "healthz", r.status_code == 200
                else:
                    r = client.post("/v1/instances", json={
                        "name": f"probe-{n}", "flavor": "m1.small", "project_id": "loadtest"})
                    kind, ok = "boot", r.status_code in (200, 201, 202)
            except httpx.HTTPError as exc:
                failures.append(f"{n}: {exc!r}")
                continue
            latencies[kind].append((time.perf_counter() - started) * 1000)
            if not ok:
                failures.append(f"{kind} {n}: {r.status_code} {r.text[:200]}")
            stop.wait(PROBE_EVERY_S)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# The bars are the edge's, the same code on both backends, asserted on SQLite. On
# PostgreSQL the boots' median under this attack was 131 ms on the shared machine (healthz
# 41 ms), over the bar (docs/operations.md): not met there yet.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_abusive_clients_do_not_stall_others_or_swell_the_server(store: Store,
                                                                serve: ServeFactory) -> None:
    demo.seed_demo(store, force=False)
    server = serve(store, env={
        "CORRAL_AUTH_STRATEGY": "tokens", "CORRAL_API_TOKENS": TOKENS,
        "CORRAL_HEADER_TIMEOUT_S": "2", "CORRAL_BODY_TIMEOUT_S": "2",
        "CORRAL_KEEPALIVE_TIMEOUT_S": "2", "CORRAL_AUDIT_INTERVAL_S": "0",
        # On, as on any public endpoint: it is what paces a flood of heavy requests.
        "CORRAL_RATE_LIMIT_PER_S": str(RATE_PER_S), "CORRAL_RATE_LIMIT_BURST": "10"})
    pid = server.process.pid  # one process: uvicorn serves in it without --workers
    # The attackers in a process of their own: the probe's timings are the server's,
    # not this interpreter's lock shared with a thousand sockets.
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    attacker = context.Process(target=Attack(int(server.url.rsplit(":", 1)[1])).run,
                               args=(server.url, ATTACK_S + 2, results), daemon=True)
    stop = threading.Event()
    latencies: dict[str, list[float]] = {"healthz": [], "boot": []}
    failures: list[str] = []
    rss = [rss_mb(pid)]
    attacker.start()
    time.sleep(1.0)  # the attack under way
    prober = threading.Thread(target=probe, args=(server, stop, latencies, failures), daemon=True)
    prober.start()
    deadline = time.monotonic() + ATTACK_S
    while time.monotonic() < deadline:
        rss.append(rss_mb(pid))
        time.sleep(0.25)
    stop.set()
    prober.join(15)
    sent = results.get(timeout=30)
    attacker.join(15)
    report = {kind: {"n": len(v), "median": round(statistics.median(v), 1),
                     "p90": round(percentile(v, 0.9), 1), "max": round(max(v), 1)}
              for kind, v in latencies.items() if v}
    print(f"\nattack: {sent}\nprobes (ms): {report}\nserver RSS: "
          f"{rss[0]:.0f} MB at start, {max(rss):.0f} MB at most")
    assert not failures, failures[:10]
    assert sent.pop("heavy_unexpected") == 0, sent  # each heavy query answered as bounded
    assert all(sent.values()), sent
    for kind in ("healthz", "boot"):
        assert report[kind]["n"] >= ATTACK_S / PROBE_EVERY_S / 8, report
        assert report[kind]["median"] < BAR_MS, report
    assert max(rss) < RSS_BAR_MB, f"{max(rss):.0f} MB"
    assert server.alive()
