"""The simulator against the live scheduler: the same trace, the same decisions.

The bar (issue 6): a trace replayed by ``corral simulate`` refuses exactly the boots that
replaying it through the live API (POST and DELETE /v1/instances on a scratch SQLite
database) refuses, with host_subset_size=1 so neither side draws at random; here the
chosen hosts are compared too, for pack and spread, over a fleet of 20 hosts in two
zones with an aggregate that raises the CPU ratio.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.domain.workload import Workload, flavors_by_key, format_trace, parse_trace
from corral.persistence import Store
from corral.services.live_fleet import read_live_fleet
from corral.simulation import fleet as fleets
from corral.simulation import replay as sim
from corral.simulation.report import write_all
from corral.simulation.wire import fleet_of

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])
FLAVORS = {"s1": (1, 2048, 10), "s2": (2, 4096, 20), "m4": (4, 16384, 40), "l8": (8, 16384, 80)}


def _v1(client: TestClient, method: str, path: str, **kw: Any) -> Any:
    return client.request(method, "/v1" + path, headers={"x-auth-token": "admin"}, **kw)


def _ok(client: TestClient, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    r = _v1(client, method, path, **kw)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _live_fleet(client: TestClient) -> None:
    _ok(client, "POST", "/aggregates", 201, json={"name": "az1", "metadata": {
        "availability_zone": "az1"}})
    _ok(client, "POST", "/aggregates", 201, json={"name": "dense", "metadata": {
        "cpu_allocation_ratio": "8", "availability_zone": "az2"}})
    for k in range(20):
        name = f"cn{k:02d}"
        big = k % 5 == 0
        _ok(client, "PUT", f"/hosts/{name}", 201, json={
            "vcpus": 16 if big else 8, "memory_mb": (32768 if big else 16384) + 512,
            "disk_gb": 400})
        _ok(client, "POST", f"/aggregates/{'dense' if k >= 14 else 'az1'}/hosts",
            json={"host": name})
    for name, (vcpus, ram, disk) in FLAVORS.items():
        _ok(client, "POST", "/flavors", 201, json={"name": name, "vcpus": vcpus, "ram_mb": ram,
                                                   "disk_gb": disk})


def _trace(events: int, seed: int) -> str:
    """Creates and deletes in time order, heavy enough that some boots are refused."""
    rng = random.Random(seed)
    lines = ["time,event,instance,flavor,project"]
    alive: list[str] = []
    for i in range(events):
        if alive and rng.random() < 0.3:
            victim = alive.pop(rng.randrange(len(alive)))
            lines.append(f"{i},delete,{victim},,")
        else:
            name = f"vm{i}"
            alive.append(name)
            flavor = rng.choices(list(FLAVORS), weights=[5, 3, 2, 1])[0]
            lines.append(f"{i},create,{name},{flavor},p{rng.randrange(3)}")
    return "\n".join(lines) + "\n"


def _replay_live(client: TestClient, workload: Workload) -> tuple[list[str | None], list[str]]:
    """Each create's host (None: refused) and each refusal's filter/code."""
    hosts: list[str | None] = []
    reasons: list[str] = []
    uuid_of: dict[int, str] = {}
    for create, inst, shape, project in zip(workload.create, workload.instance, workload.shape,
                                            workload.project, strict=True):
        if create:
            r = _v1(client, "POST", "/instances", json={
                "name": workload.names[inst], "flavor": workload.shapes[shape].name,
                "project_id": workload.projects[project]})
            if r.status_code == 201:
                placed = r.json()["instances"][0]
                hosts.append(placed["host"])
                uuid_of[inst] = placed["id"] if "id" in placed else placed["uuid"]
            else:
                assert r.status_code == 409, r.text
                explanation = r.json()["error"]["explanation"]
                hosts.append(None)
                reasons.append(f"{explanation.get('filter')}/{explanation['code']}")
        elif inst in uuid_of:
            _ok(client, "DELETE", f"/instances/{uuid_of.pop(inst)}", 204)
    return hosts, reasons


@SQLITE
@pytest.mark.parametrize("strategy", ["pack", "spread"])
def test_the_simulator_decides_as_the_live_api(store: Store, tmp_path: Path,
                                                strategy: Literal["pack", "spread"]) -> None:
    settings = Settings(data_dir=str(tmp_path), strategy=strategy, host_subset_size=1)
    with TestClient(create_app(settings, store)) as client:
        _live_fleet(client)
        # The copy, before any boot, as 'corral simulate --fleet live' gets it: over HTTP.
        fleet = fleet_of(_ok(client, "GET", "/simulation/fleet")["fleet"])
        live = read_live_fleet(store, settings)  # field for field (timestamps aside)
        assert (fleet.hosts, fleet.aggregates) == (live.hosts, live.aggregates)
        assert fleet.flavors == tuple(replace(f, created_at=None, updated_at=None)
                                      for f in live.flavors)
        workload = parse_trace(_trace(300, seed=7), flavors_by_key(fleet.flavors))
        live_hosts, live_reasons = _replay_live(client, workload)
    result = sim.simulate(fleet, workload, sim.parse_policy(strategy, settings), check_every=1)
    simulated = [None if h < 0 else result.host_names[h] for h in result.decisions]
    assert live_reasons, "the trace must make the live scheduler refuse some boots"
    assert [h is None for h in simulated] == [h is None for h in live_hosts]  # the bar
    assert simulated == live_hosts  # better still: every chosen host
    mine = [f"{k.split('/')[0]}/{k.split('/')[1]}" for k, n in result.refused_by.items()
            for _ in range(n)]
    assert sorted(mine) == sorted(live_reasons)
    assert result.checked == result.boots and result.mismatches == []


FLEET = {"aggregates": [{"name": "dense", "metadata": {"cpu_allocation_ratio": "8"}}],
         "host_groups": [
             {"name": "cn", "count": 12, "vcpus": 16, "memory_mb": 65536, "disk_gb": 500,
              "zone": "az1"},
             {"name": "big", "count": 4, "vcpus": 32, "memory_mb": 131072, "disk_gb": 1000,
              "zone": "az2", "aggregates": ["dense"]}],
         "flavors": [{"name": n, "vcpus": v, "ram_mb": r, "disk_gb": d}
                     for n, (v, r, d) in FLAVORS.items()]}


def test_policies_side_by_side_write_results_and_plots(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path))
    fleet = fleets.parse_fleet(FLEET)
    workload = parse_trace(_trace(600, seed=3), flavors_by_key(fleet.flavors))
    policies = [sim.parse_policy(p, base) for p in ("spread", "pack", "spread,cpu_ratio=8,"
                                                    "reserved_mb=2048")]
    results = [sim.simulate(fleet, workload, p, check_every=5) for p in policies]
    assert [r.label for r in results] == ["spread", "pack", "spread,cpu_ratio=8,reserved_mb=2048"]
    spread, pack, _ratio = results
    assert all(r.mismatches == [] and r.checked > 0 for r in results)
    assert pack.empty_hosts >= spread.empty_hosts
    for r in results:
        assert r.boots == workload.creates and 0 < r.placed <= r.boots
        assert sum(r.refused_by.values()) == r.boots - r.placed
        assert r.compaction_hosts is not None and r.compaction_hosts <= r.hosts - r.empty_hosts
        assert set(r.packing_density) == {"VCPU", "MEMORY_MB", "DISK_GB"}
        assert len(r.fits_of_largest) == 3 and r.latency_us["p99"] >= r.latency_us["p50"]
    files = write_all(tmp_path / "out", results, {"fleet": "test"})
    names = {f.name for f in files}
    assert names == {"result.json", "result.csv", "utilization.png", "utilization.svg",
                     "refusals.png", "refusals.svg", "heatmap.png", "heatmap.svg"}
    body = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [p["policy"] for p in body["policies"]] == [r.label for r in results]
    assert body["policies"][1]["refused"] == pack.boots - pack.placed
    csv_lines = (tmp_path / "out" / "result.csv").read_text().splitlines()
    assert len(csv_lines) == 4 and csv_lines[0].startswith("policy,boots,placed,refused")
    assert (tmp_path / "out" / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_a_trace_round_trips_through_format_trace() -> None:
    fleet = fleets.parse_fleet(FLEET)
    workload = parse_trace(_trace(100, seed=1), flavors_by_key(fleet.flavors))
    again = parse_trace(format_trace(workload))
    assert again.create == workload.create and again.time == workload.time
    assert [again.shapes[s].vcpus for s in again.shape] == \
        [workload.shapes[s].vcpus for s in workload.shape]
