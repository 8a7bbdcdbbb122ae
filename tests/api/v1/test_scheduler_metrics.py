"""Scheduler metrics at /metrics: decision time, boots, retries, no valid host by filter."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from .helpers import HOST, V1


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted(m.group(2).split(","))) == wanted:
            return float(m.group(3))
    return 0.0


def test_boots_refusals_and_retries_are_counted(client: TestClient, v1: V1) -> None:
    for name in ("cn1", "cn2"):
        v1.ok("PUT", f"/hosts/{name}", 201, json=HOST)
    v1.ok("POST", "/flavors", 201, json={"name": "small", "vcpus": 1, "ram_mb": 1024,
                                         "disk_gb": 1})
    v1.ok("POST", "/flavors", 201, json={"name": "huge", "vcpus": 1, "ram_mb": 1_000_000,
                                         "disk_gb": 1})
    booted = v1.ok("POST", "/instances", 201,
                   json={"name": "a", "flavor": "small", "project_id": "p", "count": 2})
    r = v1.post("/instances", json={"name": "b", "flavor": "huge", "project_id": "p"})
    assert r.status_code == 409, r.text
    first = booted["instances"][0]["id"]
    v1.ok("POST", f"/instances/{first}/build-report", json={"status": "failed"})

    text = client.get("/metrics", headers={"x-auth-token": "admin"}).text
    assert _sample(text, "corral_scheduler_boots_total", outcome="scheduled") == 2
    assert _sample(text, "corral_scheduler_boots_total", outcome="no_valid_host") == 1
    assert _sample(text, "corral_scheduler_no_valid_host_total", filter="resources") == 1
    assert _sample(text, "corral_scheduler_retries_total", why="build_failed") == 1
    assert _sample(text, "corral_scheduler_decision_seconds_count", kind="boot",
                   outcome="scheduled") == 1
    assert _sample(text, "corral_scheduler_decision_seconds_count", kind="reschedule",
                   outcome="scheduled") == 1
