"""Two real ``corral serve`` processes on one database, and a fleet loaded over HTTP.

The servers come from the integration harness (``start_server``: own process group,
bounded start-up, killed at teardown). Each test gets two separate server processes
on 127.0.0.1 sharing the database of the ``store`` fixture, so it runs on SQLite and
PostgreSQL; client processes spread their requests over both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
            started.append(start_server(store_url(store), tmp_path / f"server{i}"))
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
