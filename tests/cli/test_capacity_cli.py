"""corral capacity: headroom (smallest first), --stranded and --utilization, via the CLI."""

from __future__ import annotations

import json
from typing import Any

from corral.config import Settings
from corral.domain.hosts import HostReport
from corral.persistence import Store
from corral.services import hosts as host_svc

from .conftest import Cli, assert_fails


def report(store: Store, name: str, vcpus: int, memory_mb: int, disk_gb: int = 100) -> None:
    host_svc.report_host(store, Settings(), name, HostReport(
        vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb))


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.ok("capacity", *args, "-f", "json").stdout)


def test_headroom_smallest_first_on_both_backends(any_cli: Cli, store: Store) -> None:
    report(store, "h1", vcpus=4, memory_mb=8704)   # 16 VCPU, 8192 MB
    report(store, "h2", vcpus=2, memory_mb=4608)   # 8 VCPU, 4096 MB
    any_cli.ok("flavor", "create", "small", "--vcpus", "1", "--ram", "1024", "--disk", "1")
    any_cli.ok("flavor", "create", "large", "--vcpus", "2", "--ram", "4096", "--disk", "1")
    rows = as_json(any_cli, "--group-by", "host")
    assert [(r["flavor"], r["group"], r["headroom"]) for r in rows] == [
        ("large", "h2", 1), ("large", "h1", 2), ("small", "h2", 4), ("small", "h1", 8)]
    assert as_json(any_cli, "--flavor", "large", "--group-by", "fleet") == [
        {"flavor": "large", "group": "fleet", "headroom": 3, "hosts_eligible": 2,
         "hosts_with_room": 2}]
    table = any_cli.ok("capacity").stdout
    assert "large" in table and "(no zone)" in table


def test_stranded_and_utilization(cli: Cli, sqlite_store: Store) -> None:
    report(sqlite_store, "tight", vcpus=4, memory_mb=1536)  # 1024 MB usable
    report(sqlite_store, "roomy", vcpus=4, memory_mb=8704)
    cli.ok("flavor", "create", "m2", "--vcpus", "1", "--ram", "2048", "--disk", "1")
    [host] = as_json(cli, "--stranded", "--top", "3")
    assert host["host"] == "tight"
    assert host["stranded"] == {"VCPU": 16, "MEMORY_MB": 1024, "DISK_GB": 100}
    assert host["exhausted"] == ["MEMORY_MB"]
    rows = as_json(cli, "--utilization")
    fleet = {r["resource_class"]: r for r in rows if r["scope"] == "fleet"}
    assert fleet["VCPU"]["usable"] == 32 and fleet["MEMORY_MB"]["usable"] == 9216
    assert "tight" in cli.ok("capacity", "--stranded").stdout


def test_bad_input(cli: Cli) -> None:
    assert_fails(cli("capacity", "--group-by", "rack"), 2, "--group-by")
    assert_fails(cli("capacity", "--stranded", "--top", "0"), 2, "--top")
    assert_fails(cli("capacity", "--flavor", "nope"), 1, "nope")
