"""corral inventory list/set: OSC's --resource syntax, replace versus --amend."""

from __future__ import annotations

import json
import uuid as uuidlib

import pytest

from corral.domain.capacity import MAX_INT, Inventory
from corral.persistence import Store
from corral.services import allocations
from corral.services import providers as svc

from .conftest import Cli, assert_fails, assert_one_error_line

DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1,
            "allocation_ratio": 1.0}


def inventory(cli: Cli, provider: str = "host") -> dict[str, dict[str, object]]:
    rows = json.loads(cli.ok("inventory", "list", provider, "-f", "json").stdout)
    return {row.pop("resource_class"): row for row in rows}


def test_set_replaces_the_whole_inventory_on_both_backends(any_cli: Cli, store: Store) -> None:
    host = svc.create_provider(store, "host")
    any_cli.ok("inventory", "set", "host", "--resource", "VCPU=16",
               "--resource", "VCPU:allocation_ratio=4.0", "--resource", "MEMORY_MB=65536",
               "--resource", "MEMORY_MB:reserved=512", "--resource", "DISK_GB=100")
    assert inventory(any_cli) == {
        "DISK_GB": {"total": 100, **DEFAULTS, "used": 0, "capacity": 100},
        "MEMORY_MB": {"total": 65536, **DEFAULTS, "reserved": 512, "used": 0,
                      "capacity": 65024},
        "VCPU": {"total": 16, **DEFAULTS, "allocation_ratio": 4.0, "used": 0, "capacity": 64},
    }
    # Without --amend, what is not named goes, and unnamed fields return to defaults.
    any_cli.ok("inventory", "set", host.uuid, "--resource", "VCPU=8")
    assert inventory(any_cli) == {"VCPU": {"total": 8, **DEFAULTS, "used": 0, "capacity": 8}}
    assert svc.get_inventories(store, host.uuid).inventories == {"VCPU": Inventory(8)}


def test_amend_merges_field_by_field_on_both_backends(any_cli: Cli, store: Store) -> None:
    svc.create_provider(store, "host")
    any_cli.ok("inventory", "set", "host", "--resource", "VCPU=16",
               "--resource", "VCPU:allocation_ratio=4", "--resource", "MEMORY_MB=1024")
    any_cli.ok("inventory", "set", "host", "--amend", "--resource", "MEMORY_MB:reserved=128",
               "--resource", "DISK_GB=10", "--resource", "DISK_GB:step_size=5")
    after = inventory(any_cli)
    assert after["VCPU"]["total"] == 16 and after["VCPU"]["allocation_ratio"] == 4.0
    assert after["MEMORY_MB"]["total"] == 1024 and after["MEMORY_MB"]["reserved"] == 128
    assert after["DISK_GB"]["total"] == 10 and after["DISK_GB"]["step_size"] == 5
    assert after["MEMORY_MB"]["capacity"] == 896


def test_set_prints_the_new_inventory_in_the_chosen_format(cli: Cli) -> None:
    cli.ok("provider", "create", "host")
    result = cli.ok("inventory", "set", "host", "--resource", "VCPU=4", "-f", "csv",
                    "-c", "resource_class", "-c", "total", "-c", "capacity")
    assert result.stdout == '"resource_class","total","capacity"\n"VCPU",4,4\n'
    value = cli.ok("inventory", "list", "host", "-f", "value").stdout
    assert value == f"VCPU 4 0 1 {MAX_INT} 1 1.0 0 4\n"
    table = cli.ok("inventory", "list", "host").stdout
    assert "resource_class" in table and "capacity" in table and "VCPU" in table
    assert cli.ok("inventory", "list", "host", "-f", "yaml", "-c", "used").stdout == "- used: 0\n"


def test_used_counts_allocations_and_in_use_classes_cannot_go(cli: Cli,
                                                              sqlite_store: Store) -> None:
    host = svc.create_provider(sqlite_store, "host")
    cli.ok("inventory", "set", "host", "--resource", "VCPU=4", "--resource", "DISK_GB=50")
    allocations.write_allocations(sqlite_store, [allocations.ConsumerWrite(
        consumer=str(uuidlib.uuid4()), allocations={host.uuid: {"VCPU": 3}},
        project_id="p", user_id="u")])
    assert inventory(cli)["VCPU"]["used"] == 3
    assert_one_error_line(cli("inventory", "set", "host", "--resource", "DISK_GB=50"),
                          "Inventory for VCPU", "in use")
    assert set(inventory(cli)) == {"VCPU", "DISK_GB"}  # nothing changed


@pytest.mark.parametrize(("resources", "fragments"), [
    (["VCPU"], ["expected CLASS=TOTAL or CLASS:FIELD=VALUE", "'VCPU'"]),
    (["VCPU="], ["expected CLASS=TOTAL"]),
    (["vcpu=4"], ["'vcpu' is not a resource class name"]),
    (["VCPU:colour=4"], ["unknown inventory field 'colour'", "total, reserved, min_unit"]),
    (["VCPU=four"], ["VCPU:total must be a whole number, got 'four'"]),
    (["VCPU=0"], ["VCPU:total must be at least 1"]),
    (["VCPU=2147483648"], ["at most 2147483647"]),
    (["VCPU=4", "VCPU:reserved=-1"], ["VCPU:reserved must be at least 0"]),
    (["VCPU=4", "VCPU:step_size=0"], ["VCPU:step_size must be at least 1"]),
    (["VCPU=4", "VCPU:allocation_ratio=0"], ["allocation_ratio must be greater than 0"]),
    (["VCPU=4", "VCPU:allocation_ratio=nan"], ["allocation_ratio must be greater than 0"]),
    (["VCPU=4", "VCPU:allocation_ratio=x"], ["allocation_ratio must be a number"]),
    (["VCPU:reserved=1"], ["VCPU has no total: add --resource VCPU=TOTAL"]),
])
def test_bad_resources_exit_2_naming_the_option(cli: Cli, resources: list[str],
                                                fragments: list[str]) -> None:
    cli.ok("provider", "create", "host")
    cli.ok("inventory", "set", "host", "--resource", "DISK_GB=1")
    args = [a for r in resources for a in ("--resource", r)]
    assert_fails(cli("inventory", "set", "host", *args), 2, "'--resource'", *fragments)
    assert set(inventory(cli)) == {"DISK_GB"}


def test_amend_of_a_new_class_needs_a_total(cli: Cli) -> None:
    cli.ok("provider", "create", "host")
    cli.ok("inventory", "set", "host", "--resource", "VCPU=4")
    assert_fails(cli("inventory", "set", "host", "--amend", "--resource", "DISK_GB:reserved=1"),
                 2, "'--resource'", "DISK_GB has no total")
    cli.ok("inventory", "set", "host", "--amend", "--resource", "VCPU:reserved=1")
    assert inventory(cli)["VCPU"]["reserved"] == 1


def test_set_needs_a_resource(cli: Cli) -> None:
    cli.ok("provider", "create", "host")
    assert_fails(cli("inventory", "set", "host"), 2, "'--resource'", "give at least one")


def test_refusals_of_the_rules_are_one_error_line(cli: Cli) -> None:
    cli.ok("provider", "create", "host")
    assert_one_error_line(cli("inventory", "set", "host", "--resource", "CUSTOM_NOPE=1"),
                          "Unknown resource class CUSTOM_NOPE")
    assert_one_error_line(
        cli("inventory", "set", "host", "--resource", "VCPU=4", "--resource", "VCPU:reserved=5"),
        "Unable to update inventory of VCPU", "reserved value is greater than total")
    assert_one_error_line(
        cli("inventory", "set", "host", "--resource", "VCPU=4", "--resource", "VCPU:min_unit=5",
            "--resource", "VCPU:max_unit=2"), "min_unit 5 is greater than max_unit 2")
    assert_one_error_line(cli("inventory", "list", "ghost"), "'ghost'")
    assert_one_error_line(cli("inventory", "set", "ghost", "--resource", "VCPU=1"), "'ghost'")
    assert inventory(cli) == {}


def test_reserved_may_equal_total(cli: Cli) -> None:
    """A host taken out of service keeps its inventory with no capacity (Placement 1.26)."""
    cli.ok("provider", "create", "host")
    cli.ok("inventory", "set", "host", "--resource", "VCPU=4", "--resource", "VCPU:reserved=4")
    assert inventory(cli)["VCPU"]["capacity"] == 0
