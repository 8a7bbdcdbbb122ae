"""corral provider list/show/create/delete, through the CLI on a real database."""

from __future__ import annotations

import csv
import io
import json
import uuid as uuidlib

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types (as in src)

from corral.domain.capacity import Inventory
from corral.persistence import Store
from corral.services import allocations, demo
from corral.services import providers as svc

from .conftest import Cli, assert_fails, assert_one_error_line

COLUMNS = ["uuid", "name", "generation", "root_provider_uuid", "parent_provider_uuid"]
PARENT = "5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11"
B = "c0ffee00-0000-4000-8000-00000000000b"


def names(cli: Cli, *args: str) -> list[str]:
    return cli.ok("provider", "list", "-f", "value", "-c", "name", *args).stdout.split()


# -- create, list and every output format ---------------------------------------------------

def test_create_then_list_on_both_backends(any_cli: Cli) -> None:
    created = json.loads(any_cli.ok("provider", "create", "host-a", "--uuid", PARENT,
                                    "-f", "json").stdout)
    assert created == {"uuid": PARENT, "name": "host-a", "generation": 0,
                       "root_provider_uuid": PARENT, "parent_provider_uuid": None}
    child = json.loads(any_cli.ok("provider", "create", "host-a-numa0",
                                  "--parent-provider", "host-a", "-f", "json").stdout)
    assert child["parent_provider_uuid"] == PARENT and child["root_provider_uuid"] == PARENT
    listed = json.loads(any_cli.ok("provider", "list", "-f", "json").stdout)
    assert [p["name"] for p in listed] == ["host-a", "host-a-numa0"]
    assert list(listed[0]) == COLUMNS


@pytest.fixture
def two(cli: Cli) -> list[dict[str, object]]:
    cli.ok("provider", "create", "host-a", "--uuid", PARENT)
    cli.ok("provider", "create", "host-b", "--parent-provider", PARENT)
    return json.loads(cli.ok("provider", "list", "-f", "json").stdout)


def test_list_as_yaml(cli: Cli, two: list[dict[str, object]]) -> None:
    assert yaml.safe_load(cli.ok("provider", "list", "-f", "yaml").stdout) == two


def test_list_as_csv(cli: Cli, two: list[dict[str, object]]) -> None:
    text = cli.ok("provider", "list", "-f", "csv").stdout
    assert text.splitlines()[0] == ",".join(f'"{c}"' for c in COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["host-a", "host-b"]
    assert rows[1]["parent_provider_uuid"] == PARENT and rows[0]["parent_provider_uuid"] == ""


def test_list_as_value_with_columns_in_the_order_given(
        cli: Cli, two: list[dict[str, object]]) -> None:
    text = cli.ok("provider", "list", "-f", "value", "-c", "name", "-c", "uuid").stdout
    assert text == f"host-a {PARENT}\nhost-b {two[1]['uuid']}\n"


def test_list_as_table(cli: Cli, two: list[dict[str, object]]) -> None:
    text = cli.ok("provider", "list").stdout
    header = text.splitlines()[1]
    assert [c for c in COLUMNS if c in header] == COLUMNS
    assert header.index("uuid") < header.index("name") < header.index("generation")
    row = next(line for line in text.splitlines() if "host-b" in line)
    assert str(two[1]["uuid"]) in row and PARENT in row  # UUIDs whole, on one line


def test_table_with_chosen_columns_only(cli: Cli, two: list[dict[str, object]]) -> None:
    text = cli.ok("provider", "list", "-c", "name").stdout
    assert "host-a" in text and PARENT not in text and "uuid" not in text


def test_unknown_column_exits_2_naming_the_option(cli: Cli) -> None:
    assert_fails(cli("provider", "list", "-c", "nope"), 2, "'-c' / '--column'", "'nope'",
                 "uuid, name, generation, root_provider_uuid, parent_provider_uuid")


def test_unknown_format_exits_2_naming_the_option(cli: Cli) -> None:
    assert_fails(cli("provider", "list", "-f", "xml"), 2, "'-f' / '--format'", "xml")


def test_create_refuses_a_bad_uuid_a_duplicate_and_an_unknown_parent(cli: Cli) -> None:
    assert_fails(cli("provider", "create", "h", "--uuid", "not-a-uuid"), 2, "'--uuid'",
                 "'not-a-uuid' is not a UUID")
    assert_fails(cli("provider", "create", ""), 2, "1 to 200 characters")
    assert_fails(cli("provider", "create", "x" * 201), 2, "1 to 200 characters")
    cli.ok("provider", "create", "h")
    assert_one_error_line(cli("provider", "create", "h"), "Conflicting resource provider",
                          "already exists")
    assert_one_error_line(cli("provider", "create", "k", "--parent-provider", "ghost"),
                          "No resource provider with name or uuid 'ghost' found")
    assert names(cli) == ["h"]


# -- show ---------------------------------------------------------------------------------

def test_show_by_name_or_uuid_with_inventories_usages_traits_aggregates(
        any_cli: Cli, store: Store) -> None:
    host = svc.create_provider(store, "host-a")
    svc.set_inventories(store, host.uuid, 0, {"VCPU": Inventory(8, allocation_ratio=4.0)},
                        reserved_may_equal_total=True)
    svc.set_provider_traits(store, host.uuid, None, ["HW_CPU_X86_AVX2"])
    agg = str(uuidlib.uuid4())
    svc.set_provider_aggregates(store, host.uuid, [agg], generation=None, bump=True)
    allocations.write_allocations(store, [allocations.ConsumerWrite(
        consumer=str(uuidlib.uuid4()), allocations={host.uuid: {"VCPU": 3}},
        project_id="p", user_id="u")])
    by_name = json.loads(any_cli.ok("provider", "show", "host-a", "-f", "json").stdout)
    by_uuid = json.loads(any_cli.ok("provider", "show", host.uuid, "-f", "json").stdout)
    assert by_name == by_uuid
    assert by_name["uuid"] == host.uuid and by_name["parent_provider_uuid"] is None
    assert by_name["inventories"] == {"VCPU": {
        "total": 8, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
        "allocation_ratio": 4.0}}
    assert by_name["usages"] == {"VCPU": 3}
    assert by_name["traits"] == ["HW_CPU_X86_AVX2"]
    assert by_name["aggregates"] == [agg]
    assert by_name["generation"] == svc.get_provider(store, host.uuid).generation


def test_show_formats_and_columns(cli: Cli, two: list[dict[str, object]]) -> None:
    assert cli.ok("provider", "show", "host-b", "-f", "value", "-c", "parent_provider_uuid",
                  "-c", "name").stdout == f"{PARENT}\nhost-b\n"
    shown = yaml.safe_load(cli.ok("provider", "show", "host-a", "-f", "yaml").stdout)
    assert shown["traits"] == [] and shown["inventories"] == {} and shown["name"] == "host-a"
    rows = list(csv.reader(io.StringIO(
        cli.ok("provider", "show", "host-a", "-f", "csv", "-c", "uuid", "-c", "name").stdout)))
    assert rows == [["uuid", "name"], [PARENT, "host-a"]]
    table = cli.ok("provider", "show", "host-a").stdout
    assert "Field" in table and "inventories" in table and PARENT in table


def test_show_of_a_missing_provider_is_one_error_line(cli: Cli) -> None:
    assert_one_error_line(cli("provider", "show", "ghost"),
                          "No resource provider with name or uuid 'ghost' found")
    assert_one_error_line(cli("provider", "show", PARENT), PARENT)


# -- list filters, on the demo fleet --------------------------------------------------------

@pytest.fixture
def fleet(any_cli: Cli, store: Store) -> Cli:
    demo.seed_demo(store, force=False)
    return any_cli


AZ1, AZ2, SSD, GPU = (demo.AGGREGATES[n] for n in ("az1", "az2", "ssd", "gpu"))


def test_list_filters_on_both_backends(fleet: Cli) -> None:
    assert names(fleet, "--name", "compute-az2-07") == ["compute-az2-07"]
    assert names(fleet, "--uuid", demo.demo_uuid("provider", "compute-az1-03")) == [
        "compute-az1-03"]
    assert names(fleet, "--member-of", GPU) == ["compute-az1-20", "compute-az2-20"]
    assert len(names(fleet, "--member-of", f"in:{AZ1},{AZ2}")) == 41
    # AVX2 everywhere but hosts 11 and 12; compute-az1-07 is disabled.
    az1_usable = names(fleet, "--member-of", AZ1, "--required",
                       "HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED")
    assert len(az1_usable) == 17
    assert {"compute-az1-07", "compute-az1-11", "compute-az1-12"}.isdisjoint(az1_usable)
    # Large hosts have 64 cores; host 19 reports its CPUs on NUMA children (32 each).
    big = names(fleet, "--resources", "VCPU:64,MEMORY_MB:200000")
    assert big == [f"compute-{z}-{i}" for z in ("az1", "az2")
                   for i in ("13", "14", "15", "16", "17", "18", "20")]
    assert names(fleet, "--in-tree", "compute-az2-19") == [
        "compute-az2-19", "compute-az2-19-numa0", "compute-az2-19-numa1"]


def test_more_list_filters(cli: Cli, sqlite_store: Store) -> None:
    demo.seed_demo(sqlite_store, force=False)
    ssd_not_az1 = names(cli, "--member-of", SSD, "--member-of", f"!{AZ1}")
    assert ssd_not_az1 == [f"compute-az2-0{i}" for i in range(1, 7)]
    assert names(cli, "--required", "in:CUSTOM_GPU,MISC_SHARES_VIA_AGGREGATE") == [
        "compute-az1-20-pgpu0", "compute-az1-20-pgpu1", "compute-az2-20-pgpu0",
        "compute-az2-20-pgpu1", "shared-storage-az1"]
    assert names(cli, "--required", "COMPUTE_STATUS_DISABLED") == [
        "compute-az1-07", "compute-az2-15"]
    assert names(cli, "--required", "CUSTOM_SSD", "--required", "!HW_CPU_X86_AVX2") == []
    assert names(cli, "--resources", "VGPU:16") == [
        "compute-az1-20-pgpu0", "compute-az1-20-pgpu1", "compute-az2-20-pgpu0",
        "compute-az2-20-pgpu1"]
    assert names(cli, "--resources", "VGPU:17") == []  # more than any one GPU has
    assert names(cli, "--name", "nothing-like-this") == []


@pytest.mark.parametrize(("args", "fragments"), [
    (["--member-of", "abc"], ["'--member-of'", "'abc' is not an aggregate UUID"]),
    (["--member-of", f"{PARENT},{PARENT}"], ["'--member-of'", "in:UUID,UUID"]),
    (["--member-of", PARENT, "--member-of", f"!{PARENT}"],
     ["'--member-of'", "both required and forbidden"]),
    (["--required", "HW_X,!HW_X"], ["'--required'", "HW_X is both required and forbidden"]),
    (["--required", "lower_case"], ["'--required'", "'lower_case' is not a trait name"]),
    (["--required", "in:A,"], ["'--required'", "'' is not a trait name"]),
    (["--resources", "VCPU"], ["'--resources'", "expected CLASS:AMOUNT"]),
    (["--resources", "VCPU:0"], ["'--resources'", "at least 1"]),
    (["--resources", "VCPU:two"], ["'--resources'", "whole number"]),
    (["--resources", "VCPU:1,VCPU:2"], ["'--resources'", "more than once"]),
    (["--uuid", "xyz"], ["'--uuid'", "not a UUID"]),
])
def test_bad_filters_exit_2_naming_the_option(cli: Cli, args: list[str],
                                              fragments: list[str]) -> None:
    assert_fails(cli("provider", "list", *args), 2, *fragments)


def test_unknown_names_in_filters_are_service_errors(cli: Cli) -> None:
    assert_one_error_line(cli("provider", "list", "--required", "CUSTOM_NOPE"),
                          "No such trait(s): CUSTOM_NOPE")
    assert_one_error_line(cli("provider", "list", "--resources", "CUSTOM_NOPE:1"),
                          "Unknown resource class CUSTOM_NOPE")
    assert_one_error_line(cli("provider", "list", "--in-tree", "ghost"), "'ghost'")


# -- delete -------------------------------------------------------------------------------

def test_delete_by_name_and_uuid_on_both_backends(any_cli: Cli) -> None:
    any_cli.ok("provider", "create", "a", "--uuid", PARENT)
    any_cli.ok("provider", "create", "b", "--uuid", B)
    any_cli.ok("provider", "create", "c")
    result = any_cli.ok("provider", "delete", PARENT, "b")
    assert result.stderr == ""
    assert result.stdout.splitlines() == [f"provider a deleted ({PARENT})",
                                          f"provider b deleted ({B})"]
    assert names(any_cli) == ["c"]


def test_delete_refuses_a_parent_and_goes_on_past_failures(cli: Cli) -> None:
    cli.ok("provider", "create", "parent", "--uuid", PARENT)
    cli.ok("provider", "create", "child", "--parent-provider", "parent")
    cli.ok("provider", "create", "other")
    assert_one_error_line(cli("provider", "delete", "parent"),
                          "Unable to delete parent resource provider", "child resource providers")
    result = cli("provider", "delete", "parent", "ghost", "other")
    assert_fails(result, 1, "parent: Unable to delete parent", "ghost: No resource provider",
                 "failed to delete 2 of 3 provider(s)")
    assert names(cli) == ["parent", "child"]
    cli.ok("provider", "delete", "child", "parent")
    assert names(cli) == []


def test_delete_refuses_a_provider_with_allocations(cli: Cli, sqlite_store: Store) -> None:
    host = svc.create_provider(sqlite_store, "busy")
    svc.set_inventories(sqlite_store, host.uuid, 0, {"VCPU": Inventory(4)},
                        reserved_may_equal_total=True)
    allocations.write_allocations(sqlite_store, [allocations.ConsumerWrite(
        consumer=str(uuidlib.uuid4()), allocations={host.uuid: {"VCPU": 1}},
        project_id="p", user_id="u")])
    assert_one_error_line(cli("provider", "delete", "busy"), "has allocations")
    assert names(cli) == ["busy"]


def test_delete_needs_a_provider(cli: Cli) -> None:
    assert_fails(cli("provider", "delete"), 2, "Missing argument")
