"""Client processes for the races: each one a separate OS process with its own HTTP client.

Every function here runs in a child process (``spawn``), waits on a shared barrier so
the racers start together, sends its requests round-robin to the servers it was
given, and puts one list of plain records (or an ``("error", traceback)`` pair) on the
result queue. Every request and every wait has a timeout, and every loop stops at a
deadline, so a stuck server cannot hang the test run.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import httpx

HEADERS = {"x-auth-token": "admin"}
BARRIER_TIMEOUT = 30.0
REQUEST_TIMEOUT = 20.0

PROJECT = "6e4f2a8c-0d1b-4c5e-9f3a-7b2d1c0e9a11"
USER = "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"


def _code(resp: httpx.Response) -> str | None:
    if resp.status_code < 400:
        return None
    try:
        return str(resp.json()["errors"][0].get("code"))
    except (ValueError, KeyError, IndexError, TypeError):
        return f"unparsable body: {resp.text[:200]!r}"


def _run(queue: Queue[Any], body: Callable[[], list[dict[str, Any]]]) -> None:
    try:
        queue.put(("ok", body()))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        queue.put(("error", traceback.format_exc()))


def _version_header(version: str) -> dict[str, str]:
    return {**HEADERS, "openstack-api-version": f"placement {version}"}


def claimer(bases: list[str], providers: list[str], claims: int, seed: int,
            barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """PUT /allocations/{new consumer}: ``claims`` times 1-3 VCPU on a random provider.

    Alternates microversion 1.39 (consumer_generation null) and 1.17 (no consumer
    generation: the server may retry on its own), so both write paths race.
    """
    def body() -> list[dict[str, Any]]:
        rnd = random.Random(seed)
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT) for b in bases]
        barrier.wait(BARRIER_TIMEOUT)
        for i in range(claims):
            if time.time() > deadline:
                break
            consumer, rp, amount = str(uuid.uuid4()), rnd.choice(providers), rnd.randint(1, 3)
            version = "1.39" if i % 2 == 0 else "1.17"
            payload: dict[str, Any] = {
                "allocations": {rp: {"resources": {"VCPU": amount}}},
                "project_id": PROJECT, "user_id": USER}
            if version == "1.39":
                payload["consumer_generation"] = None
                payload["consumer_type"] = "INSTANCE"
            resp = clients[i % len(clients)].put(
                f"/allocations/{consumer}", json=payload, headers=_version_header(version))
            records.append({"consumer": consumer, "provider": rp, "amount": amount,
                            "version": version, "status": resp.status_code,
                            "code": _code(resp), "detail": resp.text[:300]})
        for c in clients:
            c.close()
        return records

    _run(queue, body)


def generation_racer(bases: list[str], consumer: str, providers: list[str], rounds: int,
                     seed: int, barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """Each round: GET the consumer's allocations, then PUT new ones with the generation read.

    All racers pass a barrier before every round, so they read the same generation and
    then fight over it.
    """
    def body() -> list[dict[str, Any]]:
        rnd = random.Random(seed)
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT,
                                headers=_version_header("1.39")) for b in bases]
        for i in range(rounds):
            try:
                barrier.wait(BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                break  # another racer stopped (deadline): end together
            if time.time() > deadline:
                barrier.abort()
                break
            client = clients[(i + seed) % len(clients)]
            got = client.get(f"/allocations/{consumer}")
            assert got.status_code == 200, got.text
            seen = got.json()["consumer_generation"]
            rp, amount = rnd.choice(providers), rnd.randint(1, 3)
            resp = client.put(f"/allocations/{consumer}", json={
                "allocations": {rp: {"resources": {"VCPU": amount}}},
                "consumer_generation": seen, "project_id": PROJECT, "user_id": USER,
                "consumer_type": "INSTANCE"})
            records.append({"round": i, "seen": seen, "provider": rp, "amount": amount,
                            "status": resp.status_code, "code": _code(resp),
                            "detail": resp.text[:300]})
        for c in clients:
            c.close()
        return records

    _run(queue, body)


def mover(bases: list[str], consumers: dict[str, int], providers: list[str], rounds: int,
          group: int, seed: int, barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """Each round: read ``group`` random consumers, POST /allocations moving them all to
    one random provider (each with the generation read), all or nothing.

    ``consumers`` maps each consumer to its fixed VCPU amount.
    """
    def body() -> list[dict[str, Any]]:
        rnd = random.Random(seed)
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT,
                                headers=_version_header("1.39")) for b in bases]
        barrier.wait(BARRIER_TIMEOUT)
        names = sorted(consumers)
        for i in range(rounds):
            if time.time() > deadline:
                break
            client = clients[(i + seed) % len(clients)]
            chosen = rnd.sample(names, group)
            seen = {}
            for c in chosen:
                got = client.get(f"/allocations/{c}")
                assert got.status_code == 200, got.text
                seen[c] = got.json()["consumer_generation"]
            target = rnd.choice(providers)
            resp = client.post("/allocations", json={
                c: {"allocations": {target: {"resources": {"VCPU": consumers[c]}}},
                    "consumer_generation": seen[c], "project_id": PROJECT, "user_id": USER,
                    "consumer_type": "INSTANCE"}
                for c in chosen})
            records.append({"seen": seen, "target": target, "status": resp.status_code,
                            "code": _code(resp), "detail": resp.text[:300]})
        for opened in clients:
            opened.close()
        return records

    _run(queue, body)


def stale_pair(bases: list[str], consumers: list[str], source: str, target: str, role: str,
               barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """Two racers over ``consumers``, one round each, started together by the barrier.

    Every consumer starts at generation 1 on ``source``. ``role`` "move": PUT it onto
    ``target`` with generation 1; "empty": PUT ``{}`` with generation 1 (so of a move and
    an empty write in one round, at most one may win); "delete": DELETE its allocations.
    """
    def body() -> list[dict[str, Any]]:
        records = []
        client = httpx.Client(base_url=bases[0 if role == "move" else -1],
                              timeout=REQUEST_TIMEOUT, headers=_version_header("1.28"))
        for i, consumer in enumerate(consumers):
            try:
                barrier.wait(BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                break
            if time.time() > deadline:
                barrier.abort()
                break
            if role == "move":
                resp = client.put(f"/allocations/{consumer}", json={
                    "allocations": {target: {"resources": {"VCPU": 1}}},
                    "consumer_generation": 1, "project_id": PROJECT, "user_id": USER})
            elif role == "empty":
                resp = client.put(f"/allocations/{consumer}", json={
                    "allocations": {}, "consumer_generation": 1,
                    "project_id": PROJECT, "user_id": USER})
            else:
                resp = client.delete(f"/allocations/{consumer}")
            records.append({"round": i, "role": role, "status": resp.status_code,
                            "code": _code(resp), "detail": resp.text[:300]})
        client.close()
        return records

    _run(queue, body)
