"""corral instance ..., corral decision list and corral explain, through the CLI.

Fleets are hosts of different sizes reported through the hosts service, so the spread
strategy's choice is known in advance: big before mid before small (host_subset_size
is 1 by default). The CLI runs its own scheduler on each command.
"""

from __future__ import annotations

import json
import re
from typing import Any

from corral.config import Settings
from corral.domain.hosts import HostReport
from corral.persistence import Store
from corral.services import hosts as host_svc

from .conftest import Cli, assert_fails, assert_one_error_line, message

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SIZES = {"big": 8, "mid": 4, "small": 2}
SHOW = ["id", "name", "project_id", "user_id", "flavor_id", "state", "host",
        "availability_zone", "server_group", "new_flavor_id", "source_host", "attempts",
        "alternates", "decision_id", "fault", "created_at", "updated_at"]


def fleet(store: Store, **sizes: int) -> None:
    """Hosts with ``vcpus`` vCPUs, 2 GB of RAM and 25 GB of disk per vCPU."""
    for name, vcpus in (sizes or SIZES).items():
        host_svc.report_host(store, Settings(), name, HostReport(
            vcpus=vcpus, memory_mb=2048 * vcpus, disk_gb=25 * vcpus))


def flavors(cli: Cli) -> dict[str, str]:
    """small (1 vCPU, 1 GB), large (2 vCPUs, 4 GB) and huge (64 vCPUs): name -> id."""
    out = {}
    for name, vcpus, ram in (("small", 1, 1024), ("large", 2, 4096), ("huge", 64, 1024)):
        out[name] = cli.ok("flavor", "create", name, "--vcpus", str(vcpus), "--ram", str(ram),
                           "--disk", "10", "-f", "value", "-c", "id").stdout.strip()
    return out


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.ok(*args, "-f", "json").stdout)


def boot(cli: Cli, *args: str) -> dict[str, Any]:
    [vm] = as_json(cli, "instance", "boot", "vm", "--flavor", "small", "--project", "p1", *args)
    return vm


def values(cli: Cli, *args: str) -> list[str]:
    return cli.ok(*args, "-f", "value", "-c", "id").stdout.split()


# -- the life of an instance ---------------------------------------------------------------------

def test_boot_list_show_resize_migrate_delete_on_both_backends(any_cli: Cli, store: Store
                                                                ) -> None:
    fleet(store)
    ids = flavors(any_cli)
    booted = as_json(any_cli, "instance", "boot", "web", "--flavor", "small", "--project", "p1",
                     "--user", "alice")
    [vm] = booted
    assert list(vm) == ["id", "name", "state", "host", "flavor_id", "project_id",
                        "decision_id"]
    assert UUID.fullmatch(vm["id"]) and UUID.fullmatch(vm["decision_id"])
    assert (vm["name"], vm["state"], vm["host"], vm["flavor_id"], vm["project_id"]) == (
        "web", "building", "big", ids["small"], "p1")

    shown = as_json(any_cli, "instance", "show", vm["id"])
    assert list(shown) == SHOW
    assert (shown["user_id"], shown["alternates"], shown["attempts"], shown["fault"]) == (
        "alice", ["mid", "small"], 1, None)
    assert values(any_cli, "instance", "list") == [vm["id"]]
    assert values(any_cli, "instance", "list", "--host", "big", "--state", "building",
                  "--project", "p1") == [vm["id"]]
    assert values(any_cli, "instance", "list", "--host", "mid") == []
    assert values(any_cli, "instance", "list", "--project", "p2") == []
    assert values(any_cli, "instance", "list", "--state", "active") == []
    assert list(as_json(any_cli, "instance", "list", "--long")[0]) == SHOW

    active = as_json(any_cli, "instance", "report", vm["id"], "--status", "active")
    assert active["state"] == "active"

    # resize: the new flavor is claimed elsewhere (spread: mid), then confirmed
    resized = as_json(any_cli, "instance", "resize", vm["id"], "--flavor", "large")
    assert (resized["state"], resized["host"], resized["source_host"],
            resized["new_flavor_id"], resized["flavor_id"]) == (
        "verify_resize", "mid", "big", ids["large"], ids["small"])
    assert resized["decision_id"] != vm["decision_id"]
    confirmed = as_json(any_cli, "instance", "confirm", vm["id"])
    assert (confirmed["state"], confirmed["host"], confirmed["flavor_id"],
            confirmed["new_flavor_id"], confirmed["source_host"]) == (
        "active", "mid", ids["large"], None, None)

    # migrate (scheduler's pick, the source excluded), then revert to the source
    moved = as_json(any_cli, "instance", "migrate", vm["id"])
    assert (moved["state"], moved["host"], moved["source_host"]) == (
        "verify_resize", "big", "mid")
    reverted = as_json(any_cli, "instance", "revert", vm["id"])
    assert (reverted["state"], reverted["host"], reverted["source_host"]) == (
        "active", "mid", None)
    # a named destination; a host that does not exist is refused in one line
    moved = as_json(any_cli, "instance", "migrate", vm["id"], "--host", "big")
    assert moved["host"] == "big"
    any_cli.ok("instance", "confirm", vm["id"])
    assert_one_error_line(any_cli("instance", "migrate", vm["id"], "--host", "nowhere"),
                          "nowhere")
    assert_one_error_line(any_cli("instance", "confirm", vm["id"]),
                          "Cannot confirm instance", "while it is active")

    decisions = as_json(any_cli, "decision", "list", "--instance", vm["id"])
    assert [d["kind"] for d in decisions] == ["migrate", "migrate", "resize", "boot"]
    assert all(d["outcome"] == "scheduled" for d in decisions)
    assert len(as_json(any_cli, "decision", "list", "--limit", "2")) == 2

    any_cli.ok("instance", "delete", vm["id"])
    assert values(any_cli, "instance", "list") == []
    assert_one_error_line(any_cli("instance", "show", vm["id"]),
                          f"No instance {vm['id']} found")
    assert_one_error_line(any_cli("instance", "delete", vm["id"]), "No instance")


def test_table_output_of_boot_and_list(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    flavors(cli)
    out = cli.ok("instance", "boot", "web", "--flavor", "small", "--project", "p1").stdout
    for word in ("id", "state", "decision_id", "web", "building", "big"):
        assert word in out
    out = cli.ok("instance", "list").stdout
    assert "web" in out and "big" in out


def test_count_server_group_and_host_hints(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store, a=4, b=4, c=4)
    flavors(cli)
    group = cli.ok("server-group", "create", "g", "--policy", "anti-affinity", "--project",
                   "p1", "-f", "value", "-c", "id").stdout.strip()
    batch = as_json(cli, "instance", "boot", "batch", "--flavor", "small", "--project", "p1",
                    "--count", "3", "--server-group", group)
    assert [i["name"] for i in batch] == ["batch-1", "batch-2", "batch-3"]
    assert sorted(i["host"] for i in batch) == ["a", "b", "c"]
    assert len({i["decision_id"] for i in batch}) == 1
    assert as_json(cli, "instance", "show", batch[0]["id"])["server_group"] == group
    # a fourth member has nowhere to go: a structural refusal by the group policy
    result = cli("instance", "boot", "more", "--flavor", "small", "--project", "p1",
                 "--server-group", group)
    assert_fails(result, 1, "constraint_unsatisfiable", "group_policy")

    first = batch[0]
    same = boot(cli, "--same-host", first["id"])
    assert same["host"] == first["host"]
    apart = boot(cli, "--different-host", first["id"], "--different-host", batch[1]["id"])
    assert apart["host"] == batch[2]["host"]
    zoned = cli("instance", "boot", "z", "--flavor", "small", "--project", "p1",
                "--zone", "nowhere")
    assert_fails(zoned, 2, "--zone", "No availability zone 'nowhere'")  # not a refusal


# -- dry run, refusals and explanations ------------------------------------------------------------

def test_dry_run_claims_nothing(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    flavors(cli)
    rows = as_json(cli, "instance", "boot", "vm", "--flavor", "small", "--project", "p1",
                   "--count", "2", "--dry-run")
    assert [(r["instance"], r["host"], r["alternates"]) for r in rows] == [
        (1, "big", ["mid", "small"]), (2, "big", ["mid", "small"])]
    assert len({r["decision_id"] for r in rows}) == 1
    assert values(cli, "instance", "list") == []
    [decision] = as_json(cli, "decision", "list")
    assert (decision["id"], decision["outcome"], decision["host"]) == (
        rows[0]["decision_id"], "dry_run", "big")
    out = cli.ok("explain", decision["id"]).stdout
    assert "dry_run on big" in out and "Weighed hosts" in out


def test_a_refused_boot_prints_the_explanation_and_exits_1(cli: Cli, sqlite_store: Store
                                                           ) -> None:
    fleet(sqlite_store)
    flavors(cli)
    result = cli("instance", "boot", "vm", "--flavor", "huge", "--project", "p1")
    assert_fails(result, 1, "No valid host: no_capacity (filter resources, resource_class VCPU)",
                 "structural: retrying won't help until the fleet or the request changes",
                 "Funnel", "considered", "Hosts removed",
                 "3 hosts: needs 64 vCPUs on one provider", "Nearest misses",
                 "big: 32 vCPUs short")
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: No valid host: no_capacity (VCPU); hosts left: "), last
    found = UUID.search(last)
    assert found is not None and last.endswith(f"the whole record: corral explain {found[0]}")
    assert values(cli, "instance", "list") == []

    # explain the refusal: the request and configuration, then why
    out = message(cli.ok("explain", found[0]).stdout)
    for fragment in ("boot: no_valid_host", "reason no_capacity", "Request", "huge",
                     "VCPU=64", "Configuration", "strategy spread", "Why no valid host",
                     "structural: retrying won't help", "Hosts removed", "Nearest misses",
                     "mid: 48 vCPUs short"):
        assert fragment in out, (fragment, out)
    raw = as_json(cli, "explain", found[0])
    assert (raw["id"], raw["outcome"], raw["reason"], raw["host"]) == (
        found[0], "no_valid_host", "no_capacity", None)
    explanation = raw["record"]["explanation"]
    assert (explanation["code"], explanation["kind"], explanation["retry_can_help"]) == (
        "no_capacity", "structural", False)
    assert [m["host"] for m in explanation["nearest_misses"]] == ["big", "mid", "small"]

    # -f json: the explanation is data on stdout, the error still on stderr
    result = cli("instance", "boot", "vm", "--flavor", "huge", "--project", "p1", "-f", "json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["error"].startswith("No valid host: no_capacity")
    assert body["explanation"]["code"] == "no_capacity"
    assert UUID.fullmatch(body["explanation"]["decision_id"])


def test_a_transient_refusal_says_retrying_will_help(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store, only=1)
    flavors(cli)
    cli.ok("host", "set", "only", "--force-down")
    result = cli("instance", "boot", "vm", "--flavor", "small", "--project", "p1")
    assert_fails(result, 1, "No valid host: hosts_unavailable", "transient: retrying will help")


def test_explain_a_placement(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    flavors(cli)
    vm = boot(cli)
    out = message(cli.ok("explain", vm["decision_id"]).stdout)
    for fragment in (f"Decision {vm['decision_id']} boot: scheduled on big", "Request",
                     "small", "DISK_GB=10, MEMORY_MB=1024, VCPU=1", "Configuration",
                     "Funnel", "step hosts left removed", "Weighed hosts (best first)",
                     "1 big 3.000", "Chosen", f"{vm['id']} big mid, small", "Attempts",
                     "claimed"):
        assert fragment in out, (fragment, out)
    assert "Why no valid host" not in out
    raw = as_json(cli, "explain", vm["decision_id"])
    assert set(raw) == {"id", "kind", "outcome", "reason", "host", "elapsed_ms",
                        "created_at", "project_id", "instance_id", "record"}
    assert [h["host"] for h in raw["record"]["weighed"]] == ["big", "mid", "small"]
    assert raw["record"]["placements"][0]["host"] == "big"


def test_failed_builds_move_to_the_alternates_then_error(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    flavors(cli)
    vm = boot(cli)
    first = as_json(cli, "instance", "report", vm["id"], "--status", "failed",
                    "--message", "disk full")
    assert (first["state"], first["host"], first["attempts"], first["alternates"],
            first["fault"]) == ("building", "mid", 2, ["small"], "disk full")
    second = as_json(cli, "instance", "report", vm["id"], "--status", "failed")
    assert (second["state"], second["host"], second["attempts"]) == ("building", "small", 3)
    third = as_json(cli, "instance", "report", vm["id"], "--status", "failed")
    assert (third["state"], third["host"], third["alternates"]) == ("error", None, [])
    assert third["fault"].startswith("retries_exhausted: the build failed on ")
    assert "small" in third["fault"]
    # the first decision's record lists the failed attempt
    out = message(cli.ok("explain", vm["decision_id"]).stdout)
    assert "build_failed disk full" in out, out
    kinds = [d["kind"] for d in as_json(cli, "decision", "list", "--instance", vm["id"])]
    assert kinds == ["reschedule", "reschedule", "boot"]
    assert_one_error_line(cli("instance", "report", vm["id"], "--status", "active"),
                          "Cannot report a build of instance", "while it is error")


# -- bad input -------------------------------------------------------------------------------------

def test_bad_input_exits_2_naming_the_option(cli: Cli, sqlite_store: Store) -> None:
    fleet(sqlite_store)
    flavors(cli)
    assert_fails(cli("instance", "boot", "vm", "--flavor", "small", "--project", "p1",
                     "--count", "0"), 2, "--count")
    assert_fails(cli("instance", "boot", "vm", "--flavor", "small", "--project", "p1",
                     "--same-host", "not-a-uuid"), 2, "'--same-host'", "not an instance UUID")
    assert_fails(cli("instance", "list", "--state", "sleeping"), 2, "--state")
    assert_fails(cli("instance", "report", "x", "--status", "maybe"), 2, "--status")
    assert_fails(cli("explain", "x", "-f", "csv"), 2, "'-f'", "table, json or yaml")
    assert_one_error_line(cli("instance", "boot", "vm", "--flavor", "nope", "--project", "p1"),
                          "nope")
    assert_one_error_line(cli("explain", "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"),
                          "No scheduling decision 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b found")
    vm = boot(cli)
    cli.ok("instance", "report", vm["id"], "--status", "active")
    assert_fails(cli("instance", "resize", vm["id"], "--flavor", "small"), 2, "'--flavor'",
                 "different flavor")
