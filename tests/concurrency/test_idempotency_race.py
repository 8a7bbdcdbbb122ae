"""One Idempotency-Key, several calls at once, and a server killed under a keyed boot.

Two ``corral serve`` processes share one database (SQLite or PostgreSQL: the ``store``
fixture). Client processes send the same keyed ``POST /v1/instances`` at the same
moment, alternating servers: the key is stored in the boot's transaction with a unique
(project, key), so exactly one boot commits and every other call replays its answer.

Then a server is killed with SIGKILL under a keyed boot and started again: a client
retrying with its key finds exactly one instance, whatever the kill interrupted.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.conftest import Server, start_server, store_url

from corral.persistence import Store

from .clients import BARRIER_TIMEOUT, HEADERS, PROJECT, REQUEST_TIMEOUT, _run
from .conftest import race
from .test_scheduler_race import add_flavor, add_hosts, v1_client

pytestmark = pytest.mark.slow

RACERS = 6
ROUNDS = 3
#: Budget of the race (starting six client processes on a busy machine is most of it).
RACE_SECONDS = 120.0


def keyed_booter(bases: list[str], flavor: str, rounds: int, seed: int,
                 barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """Round r: every racer sends the boot with key ``key-r`` at the same moment."""
    def body() -> list[dict[str, Any]]:
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT, headers=HEADERS)
                   for b in bases]
        for r in range(rounds):
            barrier.wait(BARRIER_TIMEOUT)
            if time.time() > deadline:
                break
            resp = clients[(r + seed) % len(clients)].post(
                "/v1/instances", headers={"Idempotency-Key": f"key-{r}"},
                json={"name": f"k{r}", "flavor": flavor, "project_id": PROJECT})
            records.append({"round": r, "status": resp.status_code, "body": resp.text,
                            "replayed": resp.headers.get("idempotent-replayed")})
        for c in clients:
            c.close()
        return records

    _run(queue, body)


def live(server: Server) -> list[dict[str, Any]]:
    with v1_client(server) as api:
        r = api.get("/v1/instances", params={"limit": 10000})
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["instances"]
        return found


def test_calls_racing_with_one_key_boot_once(servers: list[Server]) -> None:
    add_hosts(servers[0], "k", count=2, slots=20)
    flavor = add_flavor(servers[0])
    records = race(keyed_booter, [([s.url for s in servers], flavor, ROUNDS, seed)
                                  for seed in range(RACERS)], seconds=RACE_SECONDS)
    assert len(records) == RACERS * ROUNDS, "a racer ran out of time"
    assert {r["status"] for r in records} == {201}, [r for r in records if r["status"] != 201]
    instances = live(servers[0])
    assert len(instances) == ROUNDS
    for r in range(ROUNDS):
        answers = [x for x in records if x["round"] == r]
        assert len({x["body"] for x in answers}) == 1  # one answer, replayed to the rest
        assert sum(x["replayed"] is None for x in answers) == 1
        assert sum(i["name"] == f"k{r}" for i in instances) == 1


def test_a_keyed_boot_survives_a_killed_server(store: Store, tmp_path: Path) -> None:
    """SIGKILL after the boot committed but before the client read the answer (the
    lost answer of issue 11), then SIGKILL in the middle of keyed boots: a retry with
    the key after the restart always ends with exactly one instance per key."""
    url = store_url(store)
    server = start_server(url, tmp_path / "s0")
    try:
        add_hosts(server, "kill", count=1, slots=40)
        flavor = add_flavor(server)
        body = {"name": "lost", "flavor": flavor, "project_id": PROJECT}
        with v1_client(server) as api:
            first = api.post("/v1/instances", json=body, headers={"Idempotency-Key": "lost"})
        assert first.status_code == 201, first.text
        os.killpg(server.process.pid, signal.SIGKILL)  # the answer never arrived
        server.process.wait(10)
        server = start_server(url, tmp_path / "s1")
        with v1_client(server) as api:
            retry = api.post("/v1/instances", json=body, headers={"Idempotency-Key": "lost"})
        assert retry.status_code == 201, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()

        # Killed while keyed boots are in flight: wherever each one was, its retry
        # ends with one instance for its key.
        sent: list[str] = []

        def keep_booting(base: str) -> None:
            with httpx.Client(base_url=base, timeout=5.0, headers=HEADERS) as api:
                for k in range(30):
                    sent.append(f"inflight-{k}")
                    try:
                        api.post("/v1/instances", headers={"Idempotency-Key": f"inflight-{k}"},
                                 json={**body, "name": f"inflight-{k}"})
                    except httpx.HTTPError:
                        return
        booter = threading.Thread(target=keep_booting, args=(server.url,))
        booter.start()
        deadline = time.monotonic() + 20
        while len(sent) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        booter.join(20)
        assert not booter.is_alive()
        server = start_server(url, tmp_path / "s2")
        with v1_client(server) as api:
            for key in sent:
                r = api.post("/v1/instances", headers={"Idempotency-Key": key},
                             json={**body, "name": key})
                assert r.status_code == 201, r.text
        names = [i["name"] for i in live(server)]
        assert sorted(names) == sorted(["lost", *sent])
    finally:
        server.stop()
