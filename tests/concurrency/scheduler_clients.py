"""Client processes that boot instances through /v1/instances, for the scheduler races.

Like ``clients.py``: each function runs in a child process (``spawn``), waits on a
shared barrier so the racers start together, alternates between the servers it was
given, and puts one list of plain records (or an ``("error", traceback)`` pair) on the
result queue. Every request and wait has a timeout and the loop stops at a deadline.
"""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import httpx

from .clients import BARRIER_TIMEOUT, HEADERS, PROJECT, REQUEST_TIMEOUT, _run


def _v1_code(resp: httpx.Response) -> str | None:
    """The /v1 error code (``error.code``), or a marker the test rejects."""
    if resp.status_code < 400:
        return None
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"unparsable body: {resp.text[:200]!r}"


def booter(bases: list[str], flavor: str, group: str | None, boots: int, seed: int,
           barrier: Barrier, queue: Queue[Any], deadline: float) -> None:
    """POST /v1/instances ``boots`` times (count 1, into ``group``), one after another.

    Racer ``seed`` starts on server ``seed % len(bases)`` and then alternates, so both
    servers decide and claim at the same time.
    """
    def body() -> list[dict[str, Any]]:
        records = []
        clients = [httpx.Client(base_url=b, timeout=REQUEST_TIMEOUT, headers=HEADERS)
                   for b in bases]
        barrier.wait(BARRIER_TIMEOUT)
        for i in range(boots):
            if time.time() > deadline:
                break
            payload: dict[str, Any] = {"name": f"race-{seed}-{i}", "flavor": flavor,
                                       "count": 1, "project_id": PROJECT}
            if group is not None:
                payload["server_group"] = group
            resp = clients[(i + seed) % len(clients)].post("/v1/instances", json=payload)
            record: dict[str, Any] = {"racer": seed, "boot": i, "status": resp.status_code,
                                      "code": _v1_code(resp), "detail": resp.text[:400]}
            if resp.status_code == 201:
                instances = resp.json()["instances"]
                record["instances"] = [(x["id"], x["host"]) for x in instances]
            elif resp.status_code == 409:
                try:
                    record["reason"] = resp.json()["error"]["explanation"].get("code")
                except (ValueError, KeyError, TypeError, AttributeError):
                    record["reason"] = None
            records.append(record)
        for c in clients:
            c.close()
        return records

    _run(queue, body)
