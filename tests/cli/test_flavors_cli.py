"""corral flavor ... and corral server-group ..., through the CLI on a real database."""

from __future__ import annotations

import csv
import io
import json

import yaml  # type: ignore[import-untyped]  # PyYAML ships no types (as in src)

from .conftest import Cli, assert_fails, assert_one_error_line

LIST = ["id", "name", "vcpus", "ram_mb", "disk_gb", "ephemeral_gb", "swap_mb", "is_public"]


def show(cli: Cli, *args: str) -> dict[str, object]:
    return json.loads(cli.ok(*args, "-f", "json").stdout)


def test_create_show_list_delete_on_both_backends(any_cli: Cli) -> None:
    created = show(any_cli, "flavor", "create", "m1.gpu", "--vcpus", "4", "--ram", "8192",
                   "--disk", "40", "--ephemeral", "10", "--swap", "1025", "--id", "gpu-1",
                   "--property", "resources:CUSTOM_GPU=1",
                   "--property", "trait:HW_CPU_X86_AVX2=required",
                   "--property", "trait:CUSTOM_SLOW=forbidden",
                   "--property", "aggregate_instance_extra_specs:gpu=true",
                   "--description", "GPU box")
    assert created["id"] == "gpu-1" and created["is_public"] is True
    assert created["properties"] == {
        "aggregate_instance_extra_specs:gpu": "true", "resources:CUSTOM_GPU": "1",
        "trait:CUSTOM_SLOW": "forbidden", "trait:HW_CPU_X86_AVX2": "required"}
    assert created["placement"] == {
        "resources": {"CUSTOM_GPU": 1, "DISK_GB": 52, "MEMORY_MB": 8192, "VCPU": 4},
        "required": ["HW_CPU_X86_AVX2", "!CUSTOM_SLOW"],
        "aggregate_extra_specs": {"gpu": "true"}}
    assert created["access_project_ids"] is None
    assert show(any_cli, "flavor", "show", "m1.gpu") == created
    assert show(any_cli, "flavor", "show", "gpu-1") == created

    any_cli.ok("flavor", "create", "tiny", "--vcpus", "1", "--ram", "512", "--private")
    listed = json.loads(any_cli.ok("flavor", "list", "--all", "-f", "json").stdout)
    assert [f["name"] for f in listed] == ["m1.gpu", "tiny"]
    assert list(listed[0]) == LIST
    assert any_cli.ok("flavor", "list", "-f", "value", "-c", "name").stdout.split() == ["m1.gpu"]
    assert any_cli.ok("flavor", "list", "--private", "-f", "value",
                      "-c", "name").stdout.split() == ["tiny"]
    assert any_cli.ok("flavor", "list", "--all", "--min-vcpus", "2", "-f", "value",
                      "-c", "name").stdout.split() == ["m1.gpu"]
    assert any_cli.ok("flavor", "list", "--all", "--min-ram", "1024", "-f", "value",
                      "-c", "id").stdout.split() == ["gpu-1"]

    any_cli.ok("flavor", "delete", "m1.gpu", "tiny")
    assert json.loads(any_cli.ok("flavor", "list", "--all", "-f", "json").stdout) == []


def test_output_formats_and_columns(cli: Cli) -> None:
    cli.ok("flavor", "create", "a", "--vcpus", "1", "--ram", "512", "--id", "a1")
    cli.ok("flavor", "create", "b", "--vcpus", "2", "--ram", "1024", "--id", "b1")
    as_json = json.loads(cli.ok("flavor", "list", "-f", "json").stdout)
    assert yaml.safe_load(cli.ok("flavor", "list", "-f", "yaml").stdout) == as_json
    rows = list(csv.DictReader(io.StringIO(cli.ok("flavor", "list", "-f", "csv").stdout)))
    assert [(r["id"], r["vcpus"]) for r in rows] == [("a1", "1"), ("b1", "2")]
    assert cli.ok("flavor", "list", "-f", "value", "-c", "id", "-c", "ram_mb").stdout == \
        "a1 512\nb1 1024\n"
    table = cli.ok("flavor", "list", "--long").stdout
    assert "description" in table and "properties" in table and "b1" in table
    assert cli.ok("flavor", "show", "a", "-f", "value", "-c", "ram_mb").stdout == "512\n"
    assert_fails(cli("flavor", "list", "-c", "colour"), 2, "no column 'colour'")


def test_set_properties_and_description(cli: Cli) -> None:
    cli.ok("flavor", "create", "f", "--vcpus", "2", "--ram", "2048",
           "--property", "quota:a=1", "--property", "hw:cpu_policy=shared")
    cli.ok("flavor", "set", "f", "--property", "hw:cpu_policy=dedicated",
           "--property", "resources:VCPU=0", "--property", "resources:PCPU=2",
           "--unset-property", "quota:a", "--description", "pinned")
    found = show(cli, "flavor", "show", "f")
    assert found["properties"] == {"hw:cpu_policy": "dedicated", "resources:PCPU": "2",
                                   "resources:VCPU": "0"}
    assert found["description"] == "pinned"
    assert found["placement"] == {"resources": {"MEMORY_MB": 2048, "PCPU": 2}}
    assert_one_error_line(cli("flavor", "set", "f", "--unset-property", "quota:zzz"),
                          "no extra spec 'quota:zzz'")
    assert_fails(cli("flavor", "set", "f"), 2, "nothing to change")
    assert_fails(cli("flavor", "set", "f", "--property", "novalue"), 2, "--property",
                 "KEY=VALUE")
    assert_fails(cli("flavor", "set", "f", "--property", "hw:cpu_policy=pinned"), 2,
                 "--property", "extra spec 'hw:cpu_policy'", "shared, dedicated, mixed")
    assert show(cli, "flavor", "show", "f")["properties"] == found["properties"]
    assert_one_error_line(cli("flavor", "set", "nope", "--description", "x"),
                          "No flavor with id or name 'nope' found")


def test_create_refusals(cli: Cli) -> None:
    cli.ok("flavor", "create", "f", "--vcpus", "1", "--ram", "1", "--id", "1")
    assert_one_error_line(cli("flavor", "create", "f", "--vcpus", "1", "--ram", "1"),
                          "A flavor with name 'f' already exists")
    assert_one_error_line(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "1", "--id", "1"),
                          "A flavor with id '1' already exists")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "0", "--ram", "1"), 2, "--vcpus")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "2147483648"), 2,
                 "--ram")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1"), 2, "--ram")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "1", "--disk", "-1"), 2,
                 "--disk")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "1", "--id", "a/b"), 2,
                 "--id")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "1",
                     "--property", "ssd=true"), 2, "--property", "unscoped keys")
    assert_fails(cli("flavor", "create", "g", "--vcpus", "1", "--ram", "1",
                     "--property", "resources:VCPUS=1"), 2, "--property",
                 "neither a standard resource class")
    assert cli.ok("flavor", "list", "--all", "-f", "value", "-c", "name").stdout.split() == ["f"]


def test_access_add_list_remove(any_cli: Cli) -> None:
    any_cli.ok("flavor", "create", "secret", "--vcpus", "1", "--ram", "1", "--private",
               "--id", "s")
    any_cli.ok("flavor", "create", "open", "--vcpus", "1", "--ram", "1")
    any_cli.ok("flavor", "access", "add", "secret", "p1")
    any_cli.ok("flavor", "access", "add", "s", "p2")
    assert json.loads(any_cli.ok("flavor", "access", "list", "s", "-f", "json").stdout) == [
        {"flavor_id": "s", "project_id": "p1"}, {"flavor_id": "s", "project_id": "p2"}]
    assert show(any_cli, "flavor", "show", "secret")["access_project_ids"] == ["p1", "p2"]
    assert_one_error_line(any_cli("flavor", "access", "add", "s", "p1"), "already has access")
    any_cli.ok("flavor", "access", "remove", "s", "p1")
    assert_one_error_line(any_cli("flavor", "access", "remove", "s", "p1"), "has no access")
    assert any_cli.ok("flavor", "access", "list", "s", "-f", "value",
                      "-c", "project_id").stdout == "p2\n"
    assert_one_error_line(any_cli("flavor", "access", "add", "open", "p1"), "is public")
    assert_one_error_line(any_cli("flavor", "access", "list", "open"), "is public")


def test_delete_goes_on_past_a_failure(cli: Cli) -> None:
    cli.ok("flavor", "create", "a", "--vcpus", "1", "--ram", "1")
    result = cli("flavor", "delete", "nope", "a")
    assert_fails(result, 1, "nope: No flavor with id or name 'nope' found",
                 "failed to delete 1 of 2 flavor(s)")
    assert cli.ok("flavor", "list", "--all", "-f", "value").stdout == ""
    assert_one_error_line(cli("flavor", "delete", "a"), "No flavor with id or name 'a' found")


# -- server groups ---------------------------------------------------------------------------

def test_server_group_create_list_show_delete(any_cli: Cli) -> None:
    web = show(any_cli, "server-group", "create", "web", "--policy", "anti-affinity",
               "--max-server-per-host", "2", "--project", "p1", "--user", "alice")
    assert {k: v for k, v in web.items() if k not in ("id", "created_at")} == {
        "name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": 2},
        "project_id": "p1", "user_id": "alice", "members": []}
    db = show(any_cli, "server-group", "create", "db", "--policy", "soft-affinity",
              "--project", "p2")
    assert db["user_id"] == "admin" and db["rules"] == {}
    assert show(any_cli, "server-group", "show", str(web["id"])) == web
    assert show(any_cli, "server-group", "show", "web") == web
    listed = json.loads(any_cli.ok("server-group", "list", "-f", "json").stdout)
    assert [g["name"] for g in listed] == ["web", "db"]
    assert any_cli.ok("server-group", "list", "--project", "p2", "-f", "value",
                      "-c", "name").stdout == "db\n"
    any_cli.ok("server-group", "create", "web", "--policy", "affinity", "--project", "p3")
    assert_one_error_line(any_cli("server-group", "show", "web"),
                          "2 server groups are named 'web': give one of their ids")
    any_cli.ok("server-group", "delete", str(web["id"]), "db")
    assert any_cli.ok("server-group", "list", "-f", "value", "-c", "project_id").stdout == "p3\n"
    assert_one_error_line(any_cli("server-group", "delete", "db"), "No server group 'db' found")


def test_server_group_refusals(cli: Cli) -> None:
    assert_fails(cli("server-group", "create", "g", "--policy", "affinity",
                     "--max-server-per-host", "2", "--project", "p"), 2,
                 "--max-server-per-host", "only to the anti-affinity policy")
    assert_fails(cli("server-group", "create", "g", "--policy", "anti-affinity",
                     "--max-server-per-host", "0", "--project", "p"), 2, "--max-server-per-host")
    assert_fails(cli("server-group", "create", "g", "--policy", "sideways", "--project", "p"), 2,
                 "--policy")
    assert_fails(cli("server-group", "create", "g", "--policy", "affinity"), 2, "--project")
    assert_fails(cli("server-group", "create", "", "--policy", "affinity", "--project", "p"), 2,
                 "NAME")
    assert cli.ok("server-group", "list", "-f", "value").stdout == ""
