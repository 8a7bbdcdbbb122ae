"""Names on the command line (issue 11, points 6 and 8): what the README does with
names works, and input that names nothing is refused naming the option."""

from __future__ import annotations

import json

from corral.config import Settings
from corral.domain.hosts import HostReport
from corral.persistence import Store
from corral.services import hosts as host_svc

from .conftest import Cli, assert_fails, assert_one_error_line


def fleet(store: Store) -> None:
    for name in ("cn1", "cn2"):
        host_svc.report_host(store, Settings(), name, HostReport(vcpus=8, memory_mb=16384,
                                                                disk_gb=200))


def test_the_readme_boots_into_a_server_group_by_name(any_cli: Cli, store: Store) -> None:
    fleet(store)
    any_cli.ok("flavor", "create", "m1.large", "--vcpus", "2", "--ram", "2048", "--disk", "10")
    gid = any_cli.ok("server-group", "create", "web", "--policy", "anti-affinity",
                     "--max-server-per-host", "2", "--project", "demo",
                     "-f", "value", "-c", "id").stdout.strip()
    booted = json.loads(any_cli.ok("instance", "boot", "web", "--flavor", "m1.large",
                                   "--project", "demo", "--server-group", "web", "--count", "2",
                                   "-f", "json").stdout)
    shown = [json.loads(any_cli.ok("instance", "show", vm["id"], "-f", "json").stdout)
             for vm in booted]
    assert [vm["server_group"] for vm in shown] == [gid, gid]
    assert_one_error_line(any_cli("instance", "boot", "x", "--flavor", "m1.large",
                                  "--project", "other", "--server-group", "web"),
                          "No server group 'web' found")


def test_an_unknown_zone_names_the_option_and_the_zones(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    cli.ok("flavor", "create", "small", "--vcpus", "1", "--ram", "512", "--disk", "1")
    cli.ok("aggregate", "create", "a", "--property", "availability_zone=az1")
    assert_fails(cli("instance", "boot", "x", "--flavor", "small", "--project", "p",
                     "--zone", "az9"), 2, "--zone", "'az9'", "az1")
    assert_fails(cli("instance", "boot", "x", "--flavor", "small", "--project", "p",
                     "--zone", "az9", "--dry-run"), 2, "--zone")


def test_a_token_needs_a_project_that_exists(cli: Cli) -> None:
    assert_one_error_line(cli("token", "create", "--project", "ghost", "--role", "member"),
                          "No project 'ghost'")
    cli.ok("project", "create", "8d1c", "--name", "research")
    made = json.loads(cli.ok("token", "create", "--project", "research", "--role", "reader",
                             "-f", "json").stdout)
    assert made["project_id"] == "8d1c"
    cli.ok("project", "create", "team", "--parent", "research")
    cli.ok("limit", "set", "research", "cores=10")
    shown = json.loads(cli.ok("project", "show", "research", "-f", "json").stdout)
    assert shown["id"] == "8d1c"
    assert json.loads(cli.ok("project", "show", "team", "-f", "json").stdout)["parent_id"] == "8d1c"
