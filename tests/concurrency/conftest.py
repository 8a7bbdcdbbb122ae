"""Two real ``corral serve`` processes on one database, and a fleet loaded over HTTP.

The servers come from the integration harness (``start_server``: own process group,
bounded start-up, killed at teardown). Each test gets two separate server processes
on 127.0.0.1 sharing the database of the ``store`` fixture, so it runs on SQLite and
PostgreSQL; client processes spread their requests over both.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.conftest import Server, start_server, store_url

from corral.persistence import Store

#: The fleet the races fight over: VCPU total 8 x allocation_ratio 2.5 = 20 usable each.
PROVIDERS = 3
VCPU_TOTAL = 8
VCPU_RATIO = 2.5
VCPU_USABLE = int(VCPU_TOTAL * VCPU_RATIO)


def placement_client(base: str, version: str = "latest") -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30.0, headers={
        "x-auth-token": "admin", "openstack-api-version": f"placement {version}"})


@pytest.fixture
def servers(store: Store, tmp_path: Path) -> Iterator[list[Server]]:
    """Two ``corral serve`` processes (one worker each) sharing the store's database."""
    started: list[Server] = []
    try:
        for i in range(2):
            # Hosts registered once must not count as down while a slow machine races.
            started.append(start_server(store_url(store), tmp_path / f"server{i}",
                                        env={"CORRAL_HOST_DOWN_AFTER_S": "86400"}))
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def fleet(servers: list[Server]) -> list[str]:
    """PROVIDERS providers with VCPU_USABLE usable VCPU each, created over HTTP."""
    uuids = []
    with placement_client(servers[0].placement) as api:
        for i in range(PROVIDERS):
            r = api.post("/resource_providers", json={"name": f"race-cn{i}"})
            assert r.status_code == 200, r.text
            rp = r.json()
            r = api.put(f"/resource_providers/{rp['uuid']}/inventories", json={
                "resource_provider_generation": rp["generation"],
                "inventories": {"VCPU": {"total": VCPU_TOTAL, "allocation_ratio": VCPU_RATIO}}})
            assert r.status_code == 200, r.text
            uuids.append(rp["uuid"])
    return uuids


#: The most racers may take, and how long after that their reports may take to arrive.
#: Racers do a fixed count of requests and finish in seconds on a quiet machine: this is
#: a guard against a stuck server, not a speed requirement (a loaded CI machine may take
#: many times longer, and must not fail for it).
RACE_SECONDS = 120.0
COLLECT_GRACE = 15.0


def race(target: Callable[..., None], per_racer: list[tuple[Any, ...]],
         seconds: float = RACE_SECONDS) -> list[dict[str, Any]]:
    """Run ``target(*args, barrier, queue, deadline)`` in one process per args tuple.

    Returns every record of every racer; fails the test if one of them raised or did
    not report within ``seconds`` (and a grace to collect). Leftover processes are killed.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(per_racer))
    results: Any = ctx.Queue()
    deadline = time.time() + seconds
    procs = [ctx.Process(target=target, args=(*args, barrier, results, deadline), daemon=True)
             for args in per_racer]
    for p in procs:
        p.start()
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        for _ in procs:
            try:
                wait = max(1.0, deadline + COLLECT_GRACE - time.time())
                kind, payload = results.get(timeout=wait)
            except queue_module.Empty:
                failures.append("a racer reported nothing before the deadline")
                break
            if kind == "ok":
                records.extend(payload)
            else:
                failures.append(payload)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
    assert not failures, "\n".join(failures)
    return records
