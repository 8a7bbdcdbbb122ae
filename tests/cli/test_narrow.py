"""Every command at 80 columns (issue 11, point 9), on the demo fleet.

No line is wider than the terminal, no name is broken mid-word, a table that leaves
something out says what, Python's None/True/False never reach a table, and every
command that changes something says, in one line, what it did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types (as in src)
from typer.testing import Result

from .conftest import Cli

WIDTH = 80
PYTHON_WORDS = re.compile(r"(?<![\w-])(None|True|False)(?![\w-])")


@pytest.fixture
def demo(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The demo fleet, a terminal 80 columns wide."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    cli.ok("demo")
    return cli


def assert_fits(result: Result) -> None:
    for stream in (result.stdout, result.stderr):
        for line in stream.splitlines():
            if line.startswith("error: "):
                continue  # an error is one line however narrow the terminal (scripts grep it)
            assert len(line) <= WIDTH, f"{len(line)} columns: {line!r}\n{stream}"


def assert_readable(result: Result) -> None:
    """Fits 80 columns, and says no Python None/True/False."""
    assert_fits(result)
    found = PYTHON_WORDS.search(result.stdout)
    assert found is None, f"{found[0]!r} in:\n{result.stdout}"


def boot(cli: Cli, name: str = "web", flavor: str = "ssd.large") -> str:
    cli.ok("instance", "boot", name, "--flavor", flavor, "--project", "demo")
    return cli.ok("instance", "list", "-f", "value", "-c", "id").stdout.split()[0]


def last_decision(cli: Cli) -> str:
    return cli.ok("decision", "list", "-f", "value", "-c", "id").stdout.split()[0]


READS = [
    ("provider", "list"), ("provider", "show", "compute-az1-20"),
    ("inventory", "list", "compute-az1-01"), ("host", "list"),
    ("host", "show", "compute-az1-07"), ("aggregate", "list"), ("aggregate", "show", "az1"),
    ("flavor", "list"), ("flavor", "list", "--long"), ("flavor", "show", "ssd.large"),
    ("server-group", "list"), ("instance", "list"), ("instance", "list", "--long"),
    ("decision", "list"), ("token", "list"), ("project", "list"), ("project", "show", "acme"),
    ("limit", "list", "acme"), ("limit", "default", "list"), ("quota", "show", "acme"),
    ("quota", "audit"), ("capacity",), ("capacity", "--stranded"),
    ("capacity", "--utilization"), ("db", "current"), ("config", "sample"), ("config", "show"),
]


@pytest.mark.parametrize("argv", READS, ids=" ".join)
def test_every_reading_command_reads_at_80_columns(demo: Cli, argv: tuple[str, ...]) -> None:
    boot(demo)
    result = demo.ok(*argv)
    if argv[0] == "config":  # prose for an INI file (its help says 'False: ...')
        assert_fits(result)
    else:
        assert_readable(result)


def test_tables_keep_names_whole_and_say_what_they_left_out(demo: Cli) -> None:
    hosts = demo.ok("host", "list")
    assert_readable(hosts)
    for n in range(1, 21):
        if n != 19:  # the NUMA host is a Placement provider only
            assert f"compute-az1-{n:02d}" in hosts.stdout
    assert "left out at 80 columns: last_heartbeat, disk_gb_used, availability_zone" \
        in " ".join(hosts.stdout.split())
    assert "no " in hosts.stdout and "yes" in hosts.stdout  # enabled, for people

    providers = demo.ok("provider", "list")
    assert "eb94e919-971c-5422-b797-18b5110bf1e4" in providers.stdout  # a UUID, uncut
    aggregates = demo.ok("aggregate", "list")
    assert "(+13 more)" in aggregates.stdout  # 19 hosts in az1, 6 shown

    # Every column asked for with -c is kept: rows go vertical instead of being cut.
    picked = demo.ok("provider", "list", "-c", "uuid", "-c", "root_provider_uuid",
                     "-c", "parent_provider_uuid", "-c", "name")
    assert_readable(picked)
    assert re.search(r"parent_provider_uuid: +- *\n", picked.stdout)
    assert re.search(r"root_provider_uuid: +eb94e919-971c-5422-b797-18b5110bf1e4",
                     picked.stdout)


def test_none_and_booleans_per_format(demo: Cli) -> None:
    table = demo.ok("flavor", "show", "m1.small").stdout
    assert "│ is_public          │ yes" in table and "│ description        │ -" in table
    assert demo.ok("flavor", "show", "m1.small", "-f", "value", "-c", "is_public",
                   "-c", "description").stdout == "true\n\n"
    assert demo.ok("flavor", "show", "m1.small", "-f", "csv", "-c", "is_public",
                   "-c", "description").stdout == '"is_public","description"\n"true",""\n'
    shown = demo.ok("flavor", "show", "m1.small", "-f", "json").stdout
    assert '"is_public": true' in shown and '"description": null' in shown


def test_explain_names_every_host_whole_and_says_how_many_it_names(demo: Cli) -> None:
    demo.ok("project", "create", "free")  # no limits: the scheduler, not quota, refuses
    demo.ok("flavor", "create", "huge", "--vcpus", "300", "--ram", "512")
    refused = demo("instance", "boot", "big", "--flavor", "huge", "--project", "free")
    assert refused.exit_code == 1
    assert_fits(refused)
    explained = demo.ok("explain", last_decision(demo))
    assert_readable(explained)
    text = " ".join(explained.stdout.split())
    assert re.search(r"\(the first 20 of \d+ hosts; the record names no more\)", text), text
    names = re.findall(r"compute-az\d-\d\d(?:-\w+)?", explained.stdout)
    assert names and all(re.fullmatch(r"compute-az\d-\d\d", n) for n in names), names
    assert "compute-az1-02, compute-az1-03" in text  # a list breaks between names


def test_simulate_prints_its_summary_one_policy_a_column(demo: Cli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({
        "host_groups": [{"name": "cn", "count": 6, "vcpus": 16, "memory_mb": 65536,
                         "disk_gb": 500, "zone": "az1"}],
        "flavors": [{"name": "small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10}]}))
    result = demo.ok("simulate", "--synthetic", "--events", "300", "--fleet", str(fleet),
                     "--out", str(tmp_path / "o"), "--policy", "spread", "--policy", "pack",
                     "--policy", "spread,cpu_ratio=8,reserved_mb=2048,subset=2")
    text = result.stdout.replace(str(tmp_path / "o"), "OUT")  # a path is as long as it is
    for line in text.splitlines():
        assert len(line) <= WIDTH, line
    assert "spread, cpu_ratio=8, reserved_mb=2048, subset=2" in " ".join(text.split()) or \
        "cpu_ratio=8" in text
    for figure in ("accepted", "refused", "density vCPU", "stranded RAM MB", "p50 / p99 us"):
        assert figure in text


def test_quota_show_wraps_between_resources_never_inside_one(demo: Cli) -> None:
    limits = ["cores=32", "ram=204800", "instances=10", "CUSTOM_GPU=4", "CUSTOM_FPGA=2",
              "server_groups=10", "server_group_members=10"]
    demo.ok("project", "create", "a-rather-long-project-name", "--parent", "demo")
    demo.ok("limit", "set", "a-rather-long-project-name", *limits)
    shown = demo.ok("quota", "show", "acme")
    assert_readable(shown)
    flat = shown.stdout
    for pair in ("cores=0/32", "ram=0/204800", "CUSTOM_GPU=0/4", "server_group_members=0/10"):
        assert pair in flat, (pair, flat)
    assert "a-rather-long-project-name" in flat


# -- every mutating command says what it did ---------------------------------------------------

Setup = Callable[[Cli], dict[str, str]]


def _nothing(cli: Cli) -> dict[str, str]:
    return {}


def _instance(cli: Cli) -> dict[str, str]:
    return {"id": boot(cli)}


def _active(cli: Cli) -> dict[str, str]:
    found = boot(cli)
    cli.ok("instance", "report", found, "--status", "active")
    return {"id": found}


def _resized(cli: Cli) -> dict[str, str]:
    found = _active(cli)["id"]
    cli.ok("instance", "resize", found, "--flavor", "m1.xlarge")
    return {"id": found}


def _token(cli: Cli) -> dict[str, str]:
    cli.ok("token", "create", "--role", "reader", "--project", "demo", "--name", "ro")
    return {"id": cli.ok("token", "list", "-f", "value", "-c", "id").stdout.split()[0]}


def _private_flavor(cli: Cli) -> dict[str, str]:
    cli.ok("flavor", "create", "tiny", "--vcpus", "1", "--ram", "512", "--private")
    return {}


def _shared_flavor(cli: Cli) -> dict[str, str]:
    _private_flavor(cli)
    cli.ok("flavor", "access", "add", "tiny", "demo")
    return {}


def _aggregate(cli: Cli) -> dict[str, str]:
    cli.ok("aggregate", "create", "rack9")
    return {}


def _aggregate_with_host(cli: Cli) -> dict[str, str]:
    _aggregate(cli)
    cli.ok("aggregate", "add-host", "rack9", "compute-az1-03")
    return {}


def _project(cli: Cli) -> dict[str, str]:
    cli.ok("project", "create", "team-x", "--parent", "demo", "--limit", "cores=8")
    return {}


def _provider(cli: Cli) -> dict[str, str]:
    cli.ok("provider", "create", "extra-1")
    return {}


def _group(cli: Cli) -> dict[str, str]:
    cli.ok("server-group", "create", "db", "--policy", "affinity", "--project", "demo")
    return {}


def _default_limit(cli: Cli) -> dict[str, str]:
    cli.ok("limit", "default", "set", "instances=10")
    return {}


MUTATING: list[tuple[Setup, tuple[str, ...], str]] = [
    (_nothing, ("provider", "create", "extra-2"), r"provider extra-2 created \(\S+\)"),
    (_provider, ("provider", "delete", "extra-1"), r"provider extra-1 deleted \(\S+\)"),
    (_provider, ("inventory", "set", "extra-1", "--resource", "VCPU=8"),
     r"inventory of extra-1 set: VCPU \(generation \d+\)"),
    (_nothing, ("host", "set", "compute-az1-02", "--disable", "--reason", "disk replacement"),
     r"host compute-az1-02 disabled \(reason: disk replacement\)"),
    (_nothing, ("host", "set", "compute-az1-02", "--cpu-ratio", "8"),
     r"host compute-az1-02 cpu_allocation_ratio set to 8.0"),
    (_nothing, ("aggregate", "create", "rack8"), r"aggregate rack8 created \(\S+\)"),
    (_aggregate, ("aggregate", "set", "rack9", "--property", "cpu_allocation_ratio=8"),
     r"aggregate rack9: set cpu_allocation_ratio=8"),
    (_aggregate, ("aggregate", "add-host", "rack9", "compute-az1-03"),
     r"host compute-az1-03 added to aggregate rack9 \(1 hosts\)"),
    (_aggregate_with_host, ("aggregate", "remove-host", "rack9", "compute-az1-03"),
     r"host compute-az1-03 removed from aggregate rack9 \(0 hosts left\)"),
    (_aggregate, ("aggregate", "delete", "rack9"), r"aggregate rack9 deleted"),
    (_nothing, ("flavor", "create", "tiny", "--vcpus", "1", "--ram", "512"),
     r"flavor tiny created \(\S+\): 1 vCPUs, 512 MB RAM, 0 GB disk"),
    (_private_flavor, ("flavor", "set", "tiny", "--property", "hw:cpu_policy=dedicated"),
     r"flavor tiny: hw:cpu_policy=dedicated"),
    (_private_flavor, ("flavor", "delete", "tiny"), r"flavor tiny deleted"),
    (_private_flavor, ("flavor", "access", "add", "tiny", "demo"),
     r"flavor tiny shared with project demo"),
    (_shared_flavor, ("flavor", "access", "remove", "tiny", "demo"),
     r"flavor tiny no longer shared with project demo"),
    (_nothing, ("server-group", "create", "web", "--policy", "anti-affinity",
                "--project", "demo"),
     r"server group web created \(\S+, anti-affinity, project demo\)"),
    (_group, ("server-group", "delete", "db"), r"server group db deleted \(\S+\)"),
    (_nothing, ("instance", "boot", "web", "--flavor", "ssd.large", "--project", "demo",
                "--count", "2"),
     r"2 instance\(s\) building: web-1 on compute-az\d-\d\d, web-2 on compute-az\d-\d\d"),
    (_nothing, ("instance", "boot", "web", "--flavor", "ssd.large", "--project", "demo",
                "--dry-run"),
     r"dry run: 1 instance\(s\) of ssd.large would fit; nothing claimed \(decision \S+\)"),
    (_instance, ("instance", "delete", "{id}"), r"instance {id} deleted"),
    (_instance, ("instance", "report", "{id}", "--status", "active"),
     r"instance web reported active: now active on compute-az\d-\d\d"),
    (_active, ("instance", "resize", "{id}", "--flavor", "m1.xlarge"),
     r"instance web resizing to m1.xlarge on compute-az\d-\d\d: confirm or revert"),
    (_active, ("instance", "migrate", "{id}"),
     r"instance web migrating from compute-az\d-\d\d to compute-az\d-\d\d: confirm or revert"),
    (_resized, ("instance", "confirm", "{id}"), r"instance web confirmed on compute-az\d-\d\d"),
    (_resized, ("instance", "revert", "{id}"), r"instance web reverted to compute-az\d-\d\d"),
    (_nothing, ("token", "create", "--role", "member", "--project", "demo"),
     r"token demo-member created \(\S+, role member, project demo\)"),
    (_token, ("token", "revoke", "{id}"), r"token ro revoked \({id}\)"),
    (_nothing, ("project", "create", "team-y", "--parent", "demo"),
     r"project team-y created under demo"),
    (_project, ("project", "rename", "team-x", "Team X"), r"project team-x renamed to 'Team X'"),
    (_project, ("project", "move", "team-x", "--parent", "research"),
     r"project team-x moved under research"),
    (_project, ("project", "delete", "team-x"), r"project team-x deleted"),
    (_project, ("limit", "set", "team-x", "cores=4", "ram=2048"),
     r"limits of project team-x set: cores=4, ram=2048"),
    (_project, ("limit", "unset", "team-x", "cores"), r"limits of project team-x unset: cores"),
    (_nothing, ("limit", "default", "set", "instances=10"), r"default limits set: instances=10"),
    (_default_limit, ("limit", "default", "unset", "instances"),
     r"default limits unset: instances"),
    (_nothing, ("quota", "audit", "--fix"),
     r"The quota ledger agrees with the allocations: no drift, no orphans\."),
    (_nothing, ("db", "upgrade"), r"database at revision \S+ \(was \S+\)"),
]


@pytest.mark.parametrize(("setup", "argv", "said"), MUTATING,
                         ids=[" ".join(argv[:2]) + f"-{n}" for n, (_s, argv, _w)
                              in enumerate(MUTATING)])
def test_every_mutating_command_says_what_it_did(demo: Cli, setup: Setup,
                                                 argv: tuple[str, ...], said: str) -> None:
    values = setup(demo)
    result = demo.ok(*(arg.format(**values) for arg in argv))
    assert_readable(result)
    # The sentence: what comes before the object's table, if any (it may wrap at words).
    sentence = " ".join(result.stdout.split("┌")[0].split())
    wanted = said.replace("{id}", re.escape(values.get("id", "")))
    assert re.fullmatch(wanted, sentence), (sentence, wanted)
