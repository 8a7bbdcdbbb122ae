"""corral simulate: a file or the live fleet, a trace or a synthetic workload, policies
side by side, the outputs, and errors that name what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types (as in src)

from corral.config import Settings
from corral.persistence import Store

from .conftest import Cli, assert_fails, free_port, running_server, url_of

FLEET = {"aggregates": [{"name": "dense", "metadata": {"cpu_allocation_ratio": "8"}}],
         "host_groups": [
             {"name": "cn", "count": 10, "vcpus": 16, "memory_mb": 65536, "disk_gb": 500,
              "zone": "az1"},
             {"name": "big", "count": 2, "vcpus": 32, "memory_mb": 131072, "disk_gb": 1000,
              "zone": "az2", "aggregates": ["dense"]}],
         "flavors": [{"name": "small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10}]}
OUTPUTS = {"result.json", "result.csv", "utilization.png", "utilization.svg", "refusals.png",
           "refusals.svg", "heatmap.png", "heatmap.svg"}


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(FLEET))
    return path


def test_synthetic_workload_on_a_file_fleet_under_three_policies(cli: Cli, fleet_file: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli.ok("simulate", "--synthetic", "--events", "2000", "--load", "1.1",
                    "--fleet", str(fleet_file), "--policy", "spread", "--policy", "pack",
                    "--policy", "spread,cpu_ratio=8", "--out", str(out), "--check-every", "10")
    assert "Simulation" in result.output and f"wrote 8 files to {out}" in result.output
    assert {p.name for p in out.iterdir()} == OUTPUTS
    body = json.loads((out / "result.json").read_text())
    assert [p["policy"] for p in body["policies"]] == ["spread", "pack", "spread,cpu_ratio=8"]
    assert body["run"]["workload"]["synthetic"]["events"] == 2000
    for p in body["policies"]:
        assert p["mismatches"] == [] and p["checked_against_live_functions"] > 0
        assert p["boots"] == p["placed"] + p["refused"]


def test_a_trace_on_a_file_fleet(cli: Cli, fleet_file: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("time,event,instance,flavor,vcpus,ram_mb,project\n"
                     "0,create,a,small,,,p\n1,create,b,,64,1024,p\n2,delete,a,,,,\n")
    out = tmp_path / "out"
    cli.ok("simulate", "--trace", str(trace), "--fleet", str(fleet_file), "--out", str(out))
    policy = json.loads((out / "result.json").read_text())["policies"][0]
    assert (policy["boots"], policy["placed"]) == (2, 1)
    assert policy["refused_by"] == {"resources/no_capacity/VCPU": 1}  # 64 > every host


@pytest.fixture
def live_cli(store: Store, tmp_path: Path) -> Iterator[Cli]:
    """A server whose hosts stay up for a year (the demo's never heartbeat), on the
    ``store`` fixture's database (SQLite and PostgreSQL)."""
    settings = Settings(data_dir=str(tmp_path / "server"), host_down_after_s=31536000)
    with running_server(store, settings) as url:
        yield Cli(url_of(store), url)


def test_the_live_fleet_is_copied_from_the_server(live_cli: Cli, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live_cli.ok("demo")
    # This command's own configuration disagrees: the server's policy is used, and said.
    monkeypatch.setenv("CORRAL_HOST_DOWN_AFTER_S", "60")
    out = tmp_path / "out"
    # The database this command is told about is unreachable: it never opens it.
    no_db = Cli("postgresql+psycopg://nobody@127.0.0.1:1/nothing", live_cli.endpoint)
    result = no_db.ok("simulate", "--synthetic", "--events", "1500", "--fleet", "live",
                      "--policy", "pack", "--out", str(out), "--check-every", "5")
    body = json.loads((out / "result.json").read_text())
    hosts = live_cli.ok("host", "list", "-f", "value", "-c", "name").stdout.split()
    assert body["run"]["hosts"] == len(hosts) > 0 and body["run"]["fleet"] == "live"
    assert body["policies"][0]["placed"] > 0 and body["policies"][0]["mismatches"] == []
    note = " ".join(result.stderr.split())
    assert "note: host_down_after_s is 31536000 (the server's" in note
    assert "this command's configuration says 60 (CORRAL_HOST_DOWN_AFTER_S)" in note


def test_a_live_simulation_is_the_cloud_admins(live_cli: Cli, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    reader = Cli(None, live_cli.endpoint, token="alice:p1")
    assert_fails(reader("simulate", "--synthetic", "--fleet", "live", "--out", out), 1,
                 "Policy does not allow")
    nowhere = Cli(None, f"http://127.0.0.1:{free_port()}")
    assert_fails(nowhere("simulate", "--synthetic", "--fleet", "live", "--out", out), 4,
                 "cannot reach corral")


def test_a_file_fleet_needs_no_server(fleet_file: Path, tmp_path: Path) -> None:
    nowhere = Cli("postgresql+psycopg://nobody@127.0.0.1:1/nothing",
                  f"http://127.0.0.1:{free_port()}")
    out = tmp_path / "out"
    nowhere.ok("simulate", "--synthetic", "--events", "500", "--fleet", str(fleet_file),
               "--out", str(out))
    assert json.loads((out / "result.json").read_text())["run"]["hosts"] == 12


def test_errors_name_what_is_wrong(cli: Cli, fleet_file: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert_fails(cli("simulate", "--fleet", str(fleet_file), "--out", out), 2,
                 "--trace FILE or --synthetic")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,event,instance,flavor\n0,create,a,small\n1,create,b,huge\n")
    assert_fails(cli("simulate", "--trace", str(bad), "--fleet", str(fleet_file), "--out", out),
                 2, "line 3", "flavor", "huge")
    assert_fails(cli("simulate", "--synthetic", "--fleet", str(fleet_file), "--policy",
                     "dense", "--out", out), 2, "dense")
    fleet_file.write_text(yaml.safe_dump({"host_groups": [{"name": "x", "count": 0}]}))
    assert_fails(cli("simulate", "--synthetic", "--fleet", str(fleet_file), "--out", out), 2,
                 "host_groups[0].count")
