"""``corral serve`` as a real process, spoken to over real HTTP.

What the in-process tests cannot show: the console script starts, uvicorn binds,
settings reach worker processes (``--workers 2``), the lifespan opens the store of
the configured URL on SQLite and PostgreSQL, and an unmigrated database is refused
at start-up with the command that fixes it.
"""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api import microversion
from corral.persistence import Store

from .conftest import ServeFactory, clean_env, corral_command, free_port

pytestmark = pytest.mark.slow

AGG_A = "7a5a4dbc-9a3c-4a59-9c7e-2d2d9f0c1a01"
AGG_B = "7a5a4dbc-9a3c-4a59-9c7e-2d2d9f0c1a02"


def placement_client(base: str, version: str = "latest") -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10.0, headers={
        "x-auth-token": "admin", "openstack-api-version": f"placement {version}"})


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.request.method, resp.request.url, resp.text)
    return resp.json() if resp.content else None


def names(resp: httpx.Response) -> set[str]:
    return {p["name"] for p in ok(resp)["resource_providers"]}


def test_version_document_at_root_and_placement(store: Store, serve: ServeFactory) -> None:
    server = serve(store)
    for path in ("/", "/placement", "/placement/"):
        r = httpx.get(server.url + path, timeout=10.0)  # no token: load balancers probe this
        assert r.status_code == 200, r.text
        (doc,) = r.json()["versions"]
        assert doc["id"] == "v1.0"
        assert doc["min_version"] == str(microversion.MIN_VERSION)
        assert doc["max_version"] == str(microversion.MAX_VERSION)
        assert r.headers["openstack-api-version"] == "placement 1.0"
        assert r.headers["vary"] == "openstack-api-version"
        assert r.headers["x-openstack-request-id"].startswith("req-")
    assert httpx.get(server.url + "/resource_providers", timeout=10.0).status_code == 401
    assert httpx.get(server.url + "/healthz", timeout=10.0).json()["status"] == "ok"


def test_provider_lifecycle_over_http(store: Store, serve: ServeFactory) -> None:
    server = serve(store)
    with placement_client(server.placement) as api:
        # Create: 1.20+ returns the provider; 1.0 answers 201 with a Location.
        root = ok(api.post("/resource_providers", json={"name": "cn1"}))
        assert root["generation"] == 0 and root["parent_provider_uuid"] is None
        child = ok(api.post("/resource_providers", json={
            "name": "cn1-numa0", "parent_provider_uuid": root["uuid"]}))
        assert child["root_provider_uuid"] == root["uuid"]
        r = api.post("/resource_providers", json={"name": "cn2"},
                     headers={"openstack-api-version": "placement 1.0"})
        assert r.status_code == 201, r.text
        other = ok(api.get(httpx.URL(server.placement + "/").join(r.headers["location"])))
        assert other["name"] == "cn2"
        assert api.post("/resource_providers", json={"name": "cn1"}).status_code == 409

        # Inventory, generation-checked.
        inv = ok(api.put(f"/resource_providers/{root['uuid']}/inventories", json={
            "resource_provider_generation": 0,
            "inventories": {"VCPU": {"total": 8, "allocation_ratio": 4.0},
                            "MEMORY_MB": {"total": 4096, "reserved": 512}}}))
        assert inv["resource_provider_generation"] == 1
        assert inv["inventories"]["VCPU"]["total"] == 8
        stale = api.put(f"/resource_providers/{root['uuid']}/inventories", json={
            "resource_provider_generation": 0, "inventories": {}})
        assert stale.status_code == 409, stale.text
        got = ok(api.get(f"/resource_providers/{root['uuid']}/inventories/MEMORY_MB"))
        assert (got["total"], got["reserved"]) == (4096, 512)

        # Traits: a custom one, then on the provider.
        assert api.put("/traits/CUSTOM_FAST_DISK").status_code == 201
        assert api.put("/traits/CUSTOM_FAST_DISK").status_code == 204
        traits = ok(api.put(f"/resource_providers/{root['uuid']}/traits", json={
            "resource_provider_generation": 1, "traits": ["CUSTOM_FAST_DISK", "HW_CPU_X86_AVX2"]}))
        assert sorted(traits["traits"]) == ["CUSTOM_FAST_DISK", "HW_CPU_X86_AVX2"]
        assert traits["resource_provider_generation"] == 2

        # Aggregates (1.19+: generation in and out).
        aggs = ok(api.put(f"/resource_providers/{root['uuid']}/aggregates", json={
            "resource_provider_generation": 2, "aggregates": [AGG_A, AGG_B]}))
        assert sorted(aggs["aggregates"]) == [AGG_A, AGG_B]
        assert aggs["resource_provider_generation"] == 3
        assert sorted(ok(api.get(f"/resource_providers/{other['uuid']}/aggregates"))[
            "aggregates"]) == []

        # Listing with filters.
        assert names(api.get("/resource_providers")) == {"cn1", "cn1-numa0", "cn2"}
        assert names(api.get("/resource_providers", params={"resources": "VCPU:32"})) == {"cn1"}
        assert names(api.get("/resource_providers", params={"resources": "VCPU:33"})) == set()
        assert names(api.get("/resource_providers",
                             params={"resources": "MEMORY_MB:3584"})) == {"cn1"}
        assert names(api.get("/resource_providers",
                             params={"resources": "MEMORY_MB:3585"})) == set()
        assert names(api.get("/resource_providers",
                             params={"required": "CUSTOM_FAST_DISK"})) == {"cn1"}
        assert names(api.get("/resource_providers",
                             params={"required": "!CUSTOM_FAST_DISK"})) == {"cn1-numa0", "cn2"}
        assert names(api.get("/resource_providers", params={"member_of": AGG_A})) == {"cn1"}
        assert names(api.get("/resource_providers",
                             params={"member_of": f"in:{uuid.uuid4()},{AGG_B}"})) == {"cn1"}
        assert names(api.get("/resource_providers",
                             params={"in_tree": child["uuid"]})) == {"cn1", "cn1-numa0"}
        for bad in ({"required": "CUSTOM_NOPE"}, {"resources": "VCPU:x"}):
            r = api.get("/resource_providers", params=bad)
            assert r.status_code == 400 and r.json()["errors"][0]["detail"], r.text

        # Usages of a provider with inventory and no allocations.
        usages = ok(api.get(f"/resource_providers/{root['uuid']}/usages"))
        assert usages["usages"] == {"VCPU": 0, "MEMORY_MB": 0}

        # Delete: a parent with a child is refused, then both go.
        assert api.delete(f"/resource_providers/{root['uuid']}").status_code == 409
        assert api.delete(f"/resource_providers/{child['uuid']}").status_code == 204
        assert api.delete(f"/resource_providers/{root['uuid']}").status_code == 204
        assert api.get(f"/resource_providers/{root['uuid']}").status_code == 404
        assert names(api.get("/resource_providers")) == {"cn2"}


def test_two_workers_share_the_database(store: Store, serve: ServeFactory) -> None:
    server = serve(store, "--workers", "2")
    assert len(server.children()) >= 2, f"expected 2 worker processes:\n{server.log()}"

    def create(i: int) -> int:
        with placement_client(server.placement) as api:
            return api.post("/resource_providers", json={"name": f"host-{i:02d}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(create, range(24)))
    assert statuses == [200] * 24, server.log()
    with placement_client(server.placement) as api:
        for _ in range(4):  # whichever worker answers sees every write
            assert names(api.get("/resource_providers")) == {f"host-{i:02d}" for i in range(24)}


@pytest.mark.parametrize("prepare", ["missing file", "empty file"])
def test_serve_refuses_an_unmigrated_database(tmp_path: Path, prepare: str) -> None:
    db = tmp_path / "unmigrated.sqlite"
    if prepare == "empty file":
        db.touch()
    result = subprocess.run(
        corral_command("--database-url", f"sqlite:///{db}", "serve",
                       "--host", "127.0.0.1", "--port", str(free_port())),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        env=clean_env(tmp_path / "data"))
    output = " ".join((result.stdout + result.stderr).split())  # undo console line wrapping
    assert result.returncode != 0, output
    assert "corral db upgrade" in output, output
    assert "Traceback" not in output, output
