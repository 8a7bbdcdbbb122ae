"""corral host list/show/set and corral aggregate ..., through the CLI on a real database."""

from __future__ import annotations

import json
from typing import Any

from corral.config import Settings
from corral.domain.hosts import HostReport
from corral.persistence import Store
from corral.services import hosts as svc

from .conftest import Cli, assert_fails, assert_one_error_line


def report(store: Store, name: str, vcpus: int = 4) -> None:
    svc.report_host(store, Settings(), name,
                    HostReport(vcpus=vcpus, memory_mb=8192, disk_gb=100))


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.ok(*args, "-f", "json").stdout)


def test_host_and_aggregate_tour_on_both_backends(any_cli: Cli, store: Store) -> None:
    report(store, "cn1")
    report(store, "cn2", vcpus=8)
    listed = as_json(any_cli, "host", "list")
    assert [(h["name"], h["state"], h["enabled"], h["vcpus_used"]) for h in listed] == [
        ("cn1", "up", True, "0/16"), ("cn2", "up", True, "0/32")]
    created = as_json(any_cli, "aggregate", "create", "az1", "--property",
                      "availability_zone=zone-1", "--property", "cpu_allocation_ratio=2")
    assert created["metadata"] == {"availability_zone": "zone-1",
                                   "cpu_allocation_ratio": "2"}
    added = as_json(any_cli, "aggregate", "add-host", "az1", "cn1")
    assert added["hosts"] == ["cn1"]
    shown = as_json(any_cli, "host", "show", "cn1")
    assert shown["availability_zone"] == "zone-1" and shown["aggregates"] == ["az1"]
    assert shown["cpu_allocation_ratio"] == {"value": 2.0, "source": "aggregate:az1"}
    assert shown["capacity"]["VCPU"] == 8
    assert shown["reserved_host_memory_mb"] == {"value": 512, "source": "default"}
    assert any_cli.ok("host", "list", "--availability-zone", "zone-1", "-f", "value",
                      "-c", "name").stdout.split() == ["cn1"]
    # The host's own value wins; 'none' gives it back to the aggregate.
    shown = as_json(any_cli, "host", "set", "cn1", "--cpu-ratio", "8", "--reserved-memory-mb",
                    "1024")
    assert shown["cpu_allocation_ratio"] == {"value": 8.0, "source": "host"}
    assert shown["capacity"]["MEMORY_MB"] == 8192 - 1024
    shown = as_json(any_cli, "host", "set", "cn1", "--cpu-ratio", "none")
    assert shown["cpu_allocation_ratio"]["source"] == "aggregate:az1"
    # Disable with a reason, force down.
    shown = as_json(any_cli, "host", "set", "cn2", "--disable", "--reason", "bad DIMM",
                    "--force-down")
    assert (shown["enabled"], shown["disabled_reason"], shown["state"]) == (False, "bad DIMM",
                                                                            "down")
    assert "COMPUTE_STATUS_DISABLED" in shown["traits"]
    assert any_cli.ok("host", "list", "--disabled", "-f", "value", "-c", "name").stdout.split() \
        == ["cn2"]
    assert any_cli.ok("host", "list", "--state", "down", "-f", "value", "-c", "name"
                      ).stdout.split() == ["cn2"]
    as_json(any_cli, "host", "set", "cn2", "--enable", "--no-force-down")
    # Aggregate set/unset, remove, delete.
    shown = as_json(any_cli, "aggregate", "set", "az1", "--property", "ssd=true",
                    "--unset-property", "cpu_allocation_ratio")
    assert shown["metadata"] == {"availability_zone": "zone-1", "ssd": "true"}
    assert as_json(any_cli, "host", "show", "cn1")["cpu_allocation_ratio"] == {
        "value": 4.0, "source": "default"}
    assert [a["name"] for a in as_json(any_cli, "aggregate", "list")] == ["az1"]
    assert as_json(any_cli, "aggregate", "show", "az1")["hosts"] == ["cn1"]
    as_json(any_cli, "aggregate", "remove-host", "az1", "cn1")
    any_cli.ok("aggregate", "delete", "az1")
    assert as_json(any_cli, "aggregate", "list") == []


def test_table_output_of_host_list(cli: Cli, sqlite_store: Store) -> None:
    report(sqlite_store, "cn1")
    out = cli.ok("host", "list").stdout
    for header in ("name", "state", "enabled", "availability_zone", "last_heartbeat",
                   "vcpus_used"):
        assert header in out
    assert "cn1" in out and "0/16" in out


def test_refusals_are_one_line(cli: Cli, sqlite_store: Store) -> None:
    report(sqlite_store, "cn1")
    assert_one_error_line(cli("host", "show", "ghost"), "No host named 'ghost'")
    # Out of range is a usage error (exit 2) naming the option, checked before the services.
    assert_fails(cli("host", "set", "cn1", "--cpu-ratio", "0"), 2, "--cpu-ratio",
                 "above 0 and at most 1000")
    assert_one_error_line(cli("aggregate", "create", "a", "--property", "scheduler_strategy=x"),
                          "scheduler_strategy")
    cli.ok("aggregate", "create", "a", "--property", "availability_zone=z1")
    cli.ok("aggregate", "create", "b", "--property", "availability_zone=z2")
    cli.ok("aggregate", "add-host", "a", "cn1")
    assert_one_error_line(cli("aggregate", "add-host", "b", "cn1"), "cn1", "z1", "z2")
    assert_one_error_line(cli("aggregate", "delete", "a"), "still has 1 host")
    assert_one_error_line(cli("aggregate", "remove-host", "b", "cn1"), "not in aggregate")


def test_bad_options_exit_2(cli: Cli) -> None:
    assert_fails(cli("host", "set", "cn1"), 2, "nothing to change")
    assert_fails(cli("host", "set", "cn1", "--cpu-ratio", "lots"), 2, "--cpu-ratio")
    assert_fails(cli("host", "set", "cn1", "--enable", "--reason", "x"), 2, "--reason")
    assert_fails(cli("host", "list", "--state", "sideways"), 2, "--state")
    assert_fails(cli("aggregate", "create", "a", "--property", "novalue"), 2, "KEY=VALUE")
    assert_fails(cli("aggregate", "set", "a"), 2, "--property")
    assert_fails(cli("host", "list", "-c", "nope"), 2, "no column 'nope'")
