"""The real OpenStack client (python-openstackclient + osc-placement) against ``corral serve``.

corral promises that existing OpenStack tools work against it unchanged. These tests
install the client into a virtualenv of its own (cached, see ``openstack_cli``), start
a real server and drive it with ``openstack ... -f json`` at the endpoint a Keystone
catalogue would name, ``http://HOST:PORT/placement``, at microversion 1.39 and at older
ones. The client is never patched: when a command fails, the failure message carries
what osc-placement sent and got (``--debug``).

The virtualenv lives in ``$CORRAL_OSC_VENV`` if set, else under
``~/.cache/corral-tests/`` (``$XDG_CACHE_HOME`` honoured) in a directory named after the
pinned package versions and the Python version, so reruns install nothing. Without
network access the tests are skipped (``CORRAL_REQUIRE_SERVICES=1``: they fail).
To try a newer client, change ``OSC`` in ``venvs.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)

from corral.persistence import Store

from .conftest import ServeFactory, Server
from .venvs import OSC, osc_env

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT = 60

AGG_A = "2f0c1f4e-6d0b-4d39-9f6a-1b9a3c1f0a01"
AGG_B = "2f0c1f4e-6d0b-4d39-9f6a-1b9a3c1f0a02"
AGG_NONE = "2f0c1f4e-6d0b-4d39-9f6a-1b9a3c1f0aff"


# --- the client's virtualenv -------------------------------------------------------------

@pytest.fixture(scope="session")
def openstack_cli() -> Path:
    """Path of an ``openstack`` executable with osc-placement, installed once and cached."""
    venv, problem = OSC.build()
    if problem is not None:
        require_service(OSC.label, problem)
    return venv / "bin" / "openstack"


# --- driving the client --------------------------------------------------------------------

# The body of the ``openstack`` console script (``openstackclient.shell.main``), run for
# each JSON line read from stdin, answering one JSON line: exit code, stdout, stderr.
# Starting Python and importing the client costs 0.5-1.5 s a command. The driver imports
# and loads the command plugins once, then forks a child per command, so every command
# starts from the same clean state (the client caches its placement client per process).
DRIVER = r"""
import contextlib, io, json, os, sys
from importlib.metadata import distributions
from openstackclient import shell
for dist in distributions():  # import the command modules once, not in every child
    for ep in dist.entry_points:
        if ep.group.startswith("openstack."):
            with contextlib.suppress(Exception):
                ep.load()
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = shell.main(json.loads(line))
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:
                rc = 99
                print(f"driver: {type(exc).__name__}: {exc}", file=err)
        sys.__stdout__.write(json.dumps([rc, out.getvalue(), err.getvalue()]) + "\n")
        sys.__stdout__.flush()
        os._exit(0)
    os.waitpid(pid, 0)
"""


class Driver:
    """One long-lived Python in the client's virtualenv running ``openstack`` commands."""

    def __init__(self, python: Path) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [str(python), "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, text=True, env=osc_env())
        self.replies: queue.Queue[str] = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put("")  # end of file: the driver died

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        assert self.process.stdin is not None
        with self.lock:
            self.process.stdin.write(json.dumps(argv) + "\n")
            self.process.stdin.flush()
            try:
                line = self.replies.get(timeout=COMMAND_TIMEOUT)
            except queue.Empty:
                self.close()
                pytest.fail(f"openstack {' '.join(argv)}: no answer in {COMMAND_TIMEOUT}s")
        if not line:
            self.errors.seek(0)
            pytest.fail(f"the openstack driver died (exit {self.process.poll()}):\n"
                        + self.errors.read().decode(errors="replace")[-3000:])
        rc, out, err = json.loads(line)
        return subprocess.CompletedProcess(argv, rc, out, err)

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.errors.close()


@pytest.fixture(scope="session")
def osc_driver(openstack_cli: Path) -> Iterator[Driver | None]:
    """The in-process driver, or None under CORRAL_OSC_PROCESS_PER_COMMAND=1."""
    if os.environ.get("CORRAL_OSC_PROCESS_PER_COMMAND") == "1":
        yield None
        return
    driver = Driver(openstack_cli.parent / "python")
    yield driver
    driver.close()


def error_message(stderr: str) -> str:
    """The client's one-line error (``... (HTTP 404)``) out of its ``--debug`` output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"\(HTTP \d{3}\)$", line):
            return line.split(": ", 1)[1] if line.startswith("clean_up ") else line
    return lines[-1] if lines else ""


class Osc:
    """``openstack`` against one endpoint with an admin token and a chosen microversion.

    Commands run in the driver when one is given, else each in its own process.
    """

    def __init__(self, exe: Path, endpoint: str, version: str | None = "1.39",
                 driver: Driver | None = None) -> None:
        self.exe = exe
        self.endpoint = endpoint
        self.version = version
        self.driver = driver

    def argv(self, args: Sequence[str], version: str | None) -> list[str]:
        argv = ["--os-auth-type", "admin_token", "--os-token", "admin",
                "--os-endpoint", self.endpoint]
        if version is not None:
            argv += ["--os-placement-api-version", version]
        return argv + list(args)

    def _exec(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if self.driver is not None:
            return self.driver.run(argv)
        return subprocess.run([str(self.exe), *argv], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, env=osc_env(),
                              stdin=subprocess.DEVNULL)

    def run(self, *args: str, version: str | None = "", ok: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run a command with ``--debug``; with ``ok`` a failure shows the HTTP exchange."""
        ver = self.version if version == "" else version
        done = self._exec(self.argv(["--debug", *args], ver))
        if ok and done.returncode != 0:
            exchange = [line for line in done.stderr.splitlines()
                        if line.startswith(("REQ:", "RESP:", "RESP BODY:"))]
            pytest.fail(f"openstack {' '.join(args)} (microversion {ver}) failed "
                        f"(exit {done.returncode}): {error_message(done.stderr)}\n"
                        "HTTP exchange:\n  " + "\n  ".join(exchange[-12:]), pytrace=False)
        return done

    def json(self, *args: str, version: str | None = "") -> Any:
        return json.loads(self.run(*args, "-f", "json", version=version).stdout)

    def fails(self, status: int, *args: str, version: str | None = "") -> str:
        """Run a command that must fail with HTTP ``status``; return its error message."""
        done = self.run(*args, version=version, ok=False)
        message = error_message(done.stderr)
        assert done.returncode != 0, (args, done.stdout)
        assert message.endswith(f"(HTTP {status})"), (args, message)
        return message

    def names(self, *args: str, version: str | None = "") -> set[str]:
        return {row["name"] for row in self.json("resource", "provider", "list", *args,
                                                 version=version)}


@pytest.fixture
def server(store: Store, serve: ServeFactory) -> Server:
    return serve(store)


@pytest.fixture
def osc(openstack_cli: Path, osc_driver: Driver | None, server: Server) -> Osc:
    """The client at the /placement endpoint, microversion 1.39."""
    return Osc(openstack_cli, server.placement, driver=osc_driver)


# --- scenarios ---------------------------------------------------------------------------

def _inventory(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row.pop("resource_class"): row for row in rows}


def test_provider_scenario(osc: Osc) -> None:
    # create (with and without a parent; the client GETs the Location it is given), list, show
    cn1 = osc.json("resource", "provider", "create", "cn1")
    assert cn1["name"] == "cn1" and cn1["generation"] == 0
    assert cn1["root_provider_uuid"] == cn1["uuid"] and cn1["parent_provider_uuid"] is None
    numa = osc.json("resource", "provider", "create", "cn1-numa0",
                    "--parent-provider", cn1["uuid"])
    assert numa["parent_provider_uuid"] == cn1["uuid"]
    assert numa["root_provider_uuid"] == cn1["uuid"]
    cn2 = osc.json("resource", "provider", "create", "cn2")
    listed = {row["name"]: row for row in osc.json("resource", "provider", "list")}
    assert set(listed) == {"cn1", "cn1-numa0", "cn2"}
    assert listed["cn1-numa0"]["parent_provider_uuid"] == cn1["uuid"]
    assert osc.json("resource", "provider", "show", cn1["uuid"]) == cn1

    # set (rename)
    renamed = osc.json("resource", "provider", "set", cn1["uuid"], "--name", "compute-1")
    assert (renamed["uuid"], renamed["name"]) == (cn1["uuid"], "compute-1")
    assert osc.json("resource", "provider", "show", cn1["uuid"])["name"] == "compute-1"

    # inventory set / list / show / class set / amend / delete
    rows = osc.json("resource", "provider", "inventory", "set", cn1["uuid"],
                    "--resource", "VCPU=8", "--resource", "VCPU:allocation_ratio=4.0",
                    "--resource", "MEMORY_MB=4096", "--resource", "MEMORY_MB:reserved=512")
    inv = _inventory(rows)
    assert set(inv) == {"VCPU", "MEMORY_MB"}
    assert (inv["VCPU"]["total"], inv["VCPU"]["allocation_ratio"]) == (8, 4.0)
    assert (inv["MEMORY_MB"]["total"], inv["MEMORY_MB"]["reserved"]) == (4096, 512)
    listed_inv = _inventory(osc.json("resource", "provider", "inventory", "list", cn1["uuid"]))
    assert listed_inv["VCPU"] == {**inv["VCPU"], "used": 0}
    vcpu = osc.json("resource", "provider", "inventory", "show", cn1["uuid"], "VCPU")
    assert (vcpu["total"], vcpu["max_unit"], vcpu["used"]) == (8, 2147483647, 0)
    vcpu = osc.json("resource", "provider", "inventory", "class", "set", cn1["uuid"], "VCPU",
                    "--total", "16", "--allocation_ratio", "2.0", "--max_unit", "8")
    assert (vcpu["total"], vcpu["allocation_ratio"], vcpu["max_unit"]) == (16, 2.0, 8)
    inv = _inventory(osc.json("resource", "provider", "inventory", "set", cn1["uuid"],
                              "--amend", "--resource", "DISK_GB=100"))
    assert set(inv) == {"VCPU", "MEMORY_MB", "DISK_GB"} and inv["VCPU"]["total"] == 16
    osc.run("resource", "provider", "inventory", "delete", cn1["uuid"],
            "--resource-class", "DISK_GB")
    assert "DISK_GB" not in _inventory(
        osc.json("resource", "provider", "inventory", "list", cn1["uuid"]))
    osc.fails(404, "resource", "provider", "inventory", "show", cn1["uuid"], "DISK_GB")

    # resource classes
    osc.run("resource", "class", "create", "CUSTOM_GPU")
    osc.run("resource", "class", "set", "CUSTOM_FPGA")  # 1.7+: create-or-verify
    classes = {row["name"] for row in osc.json("resource", "class", "list")}
    assert {"CUSTOM_GPU", "CUSTOM_FPGA", "VCPU", "MEMORY_MB"} <= classes
    assert osc.json("resource", "class", "show", "CUSTOM_GPU") == {"name": "CUSTOM_GPU"}
    osc.run("resource", "class", "delete", "CUSTOM_GPU")
    assert "CUSTOM_GPU" not in {row["name"] for row in osc.json("resource", "class", "list")}
    osc.fails(404, "resource", "class", "show", "CUSTOM_GPU")

    # traits, and traits on a provider
    osc.run("trait", "create", "CUSTOM_FAST_DISK")
    assert osc.json("trait", "list", "--name", "startswith:CUSTOM_") == [
        {"name": "CUSTOM_FAST_DISK"}]
    assert osc.json("trait", "show", "CUSTOM_FAST_DISK") == {"name": "CUSTOM_FAST_DISK"}
    assert len(osc.json("trait", "list")) > 100  # the standard os-traits catalogue
    traits = osc.json("resource", "provider", "trait", "set", cn1["uuid"],
                      "--trait", "CUSTOM_FAST_DISK", "--trait", "HW_CPU_X86_AVX2")
    assert sorted(row["name"] for row in traits) == ["CUSTOM_FAST_DISK", "HW_CPU_X86_AVX2"]
    assert sorted(row["name"] for row in osc.json(
        "resource", "provider", "trait", "list", cn1["uuid"])) == [
        "CUSTOM_FAST_DISK", "HW_CPU_X86_AVX2"]
    assert {"name": "HW_CPU_X86_AVX2"} in osc.json("trait", "list", "--associated")

    # aggregates (1.19+: the client sends the generation it is given)
    generation = osc.json("resource", "provider", "show", cn1["uuid"])["generation"]
    aggs = osc.json("resource", "provider", "aggregate", "set", cn1["uuid"],
                    "--aggregate", AGG_A, "--aggregate", AGG_B, "--generation", str(generation))
    assert sorted(row["uuid"] for row in aggs) == [AGG_A, AGG_B]
    osc.fails(409, "resource", "provider", "aggregate", "set", cn1["uuid"],
              "--aggregate", AGG_A, "--generation", str(generation))
    assert sorted(row["uuid"] for row in osc.json(
        "resource", "provider", "aggregate", "list", cn1["uuid"])) == [AGG_A, AGG_B]

    # list with filters (VCPU: 16 x 2.0 = 32 usable, but max_unit 8 per request)
    found = {label: osc.names(*args) for label, args in {
        "vcpu 8": ("--resource", "VCPU=8"),
        "vcpu 9": ("--resource", "VCPU=9"),
        "memory": ("--resource", "MEMORY_MB=3584", "--resource", "VCPU=1"),
        "memory+1": ("--resource", "MEMORY_MB=3585"),
        "required": ("--required", "CUSTOM_FAST_DISK"),
        "forbidden": ("--forbidden", "CUSTOM_FAST_DISK"),
        "any-of": ("--required", "HW_CPU_X86_SSE,HW_CPU_X86_AVX2"),
        "member_of": ("--member-of", AGG_A),
        "member_of any": ("--member-of", f"{AGG_NONE},{AGG_B}"),
        "member_of none": ("--member-of", AGG_NONE),
        "in_tree": ("--in-tree", numa["uuid"]),
        "name": ("--name", "cn2"),
        "uuid": ("--uuid", cn2["uuid"]),
    }.items()}
    assert found == {
        "vcpu 8": {"compute-1"}, "vcpu 9": set(), "memory": {"compute-1"}, "memory+1": set(),
        "required": {"compute-1"}, "forbidden": {"cn1-numa0", "cn2"},
        "any-of": {"compute-1"}, "member_of": {"compute-1"}, "member_of any": {"compute-1"},
        "member_of none": set(), "in_tree": {"compute-1", "cn1-numa0"},
        "name": {"cn2"}, "uuid": {"cn2"},
    }

    # usages and allocations of a provider nobody consumes from
    usages = {row["resource_class"]: row["usage"]
              for row in osc.json("resource", "provider", "usage", "show", cn1["uuid"])}
    assert usages == {"VCPU": 0, "MEMORY_MB": 0}
    assert osc.json("resource", "provider", "show", cn1["uuid"], "--allocations")[
        "allocations"] == {}

    # untrait, delete a trait, delete providers (a parent only after its child)
    osc.run("resource", "provider", "trait", "delete", cn1["uuid"])
    assert osc.json("resource", "provider", "trait", "list", cn1["uuid"]) == []
    osc.run("trait", "delete", "CUSTOM_FAST_DISK")
    assert osc.json("trait", "list", "--name", "startswith:CUSTOM_") == []
    osc.fails(409, "resource", "provider", "delete", cn1["uuid"])
    for provider in (numa, cn1, cn2):
        osc.run("resource", "provider", "delete", provider["uuid"])
    assert osc.json("resource", "provider", "list") == []
    osc.fails(404, "resource", "provider", "show", cn1["uuid"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_older_microversions(osc: Osc) -> None:
    # Negotiated ("1", the client's default): the client asks GET / and settles on 1.29.
    made = osc.json("resource", "provider", "create", "negotiated", version=None)
    assert made["root_provider_uuid"] == made["uuid"]
    assert osc.names(version=None) == {"negotiated"}

    # 1.0: no tree fields, inventories without generation-checked aggregates.
    old = osc.json("resource", "provider", "create", "old", version="1.0")
    assert set(old) == {"uuid", "name", "generation"}
    assert all(set(row) == {"uuid", "name", "generation"}
               for row in osc.json("resource", "provider", "list", version="1.0"))
    inv = _inventory(osc.json("resource", "provider", "inventory", "set", old["uuid"],
                              "--resource", "VCPU=4", version="1.0"))
    assert inv["VCPU"]["total"] == 4
    assert osc.json("resource", "provider", "show", old["uuid"], version="1.0")[
        "generation"] == 1
    # 1.1: aggregates as a bare list, no generation.
    aggs = osc.json("resource", "provider", "aggregate", "set", old["uuid"],
                    "--aggregate", AGG_A, version="1.1")
    assert [row["uuid"] for row in aggs] == [AGG_A]
    # 1.3 member_of, 1.4 resources.
    assert osc.names("--member-of", AGG_A, version="1.3") == {"old"}
    assert osc.names("--resource", "VCPU=4", version="1.4") == {"old"}

    # 1.14: nested providers.
    child = osc.json("resource", "provider", "create", "old-child",
                     "--parent-provider", old["uuid"], version="1.14")
    assert child["root_provider_uuid"] == old["uuid"]
    assert osc.names("--in-tree", old["uuid"], version="1.14") == {"old", "old-child"}
    shown = osc.json("resource", "provider", "show", child["uuid"], version="1.14")
    assert shown["parent_provider_uuid"] == old["uuid"]
    osc.run("resource", "provider", "delete", child["uuid"], version="1.0")
    osc.run("resource", "provider", "delete", old["uuid"], version="1.0")
    assert osc.names(version="1.14") == {"negotiated"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_openstack_executable(openstack_cli: Path, server: Server) -> None:
    """The console script itself, a process per command, as an operator runs it."""
    osc = Osc(openstack_cli, server.placement, version=None)  # negotiates from GET /
    at_root = Osc(openstack_cli, server.url, version=None)  # corral serves Placement at / too
    made = at_root.json("resource", "provider", "create", "by-process")
    assert osc.json("resource", "provider", "show", made["uuid"], version="1.0") == {
        "uuid": made["uuid"], "name": "by-process", "generation": 0}
    assert osc.names() == {"by-process"}
    osc.run("resource", "provider", "delete", made["uuid"])
    assert osc.json("resource", "provider", "list") == []


# --- allocations, usages and allocation candidates ---------------------------------------

CONSUMER_1 = "9d3c5a1e-1b2f-4c6d-8e7f-0a1b2c3d4e01"
CONSUMER_2 = "9d3c5a1e-1b2f-4c6d-8e7f-0a1b2c3d4e02"
CONSUMER_OLD = "9d3c5a1e-1b2f-4c6d-8e7f-0a1b2c3d4e0f"
PROJECT = "5b0a7e1c-7d4e-4f3a-9c2b-6e8d1f0a2b01"
OTHER_PROJECT = "5b0a7e1c-7d4e-4f3a-9c2b-6e8d1f0a2b02"
USER = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e01"


def _by_provider(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["resource_provider"]: {k: v for k, v in row.items() if k != "resource_provider"}
            for row in rows}


def _usage(osc: Osc, *args: str, version: str | None = "") -> dict[str, Any]:
    return {row["resource_class"]: row["usage"] for row in osc.json(*args, version=version)}


def _candidates(osc: Osc, *args: str, version: str | None = "") -> dict[int, dict[str, str]]:
    """``allocation candidate list``: candidate number -> {provider: "RC=N,..."}."""
    found: dict[int, dict[str, str]] = {}
    for row in osc.json("allocation", "candidate", "list", *args, version=version):
        found.setdefault(row["#"], {})[row["resource provider"]] = row["allocation"]
    return found


def test_allocation_scenario(osc: Osc) -> None:
    rps = {}
    for name in ("cn1", "cn2"):
        rps[name] = osc.json("resource", "provider", "create", name)["uuid"]
        osc.json("resource", "provider", "inventory", "set", rps[name],
                 "--resource", "VCPU=4", "--resource", "MEMORY_MB=2048")
    cn1, cn2 = rps["cn1"], rps["cn2"]
    osc.json("resource", "provider", "trait", "set", cn1, "--trait", "HW_CPU_X86_AVX2")
    owner = ("--project-id", PROJECT, "--user-id", USER, "--consumer-type", "INSTANCE")

    # allocation set (1.39: the client GETs the consumer generation, PUTs, GETs again)
    rows = osc.json("resource", "provider", "allocation", "set", CONSUMER_1,
                    "--allocation", f"rp={cn1},VCPU=2,MEMORY_MB=512", *owner)
    assert _by_provider(rows) == {cn1: {  # inventory, traits, this allocation
        "generation": 3, "resources": {"VCPU": 2, "MEMORY_MB": 512},
        "project_id": PROJECT, "user_id": USER, "consumer_type": "INSTANCE"}}
    assert osc.json("resource", "provider", "allocation", "show", CONSUMER_1) == rows
    # a full replacement over two providers, with the consumer generation it read
    rows = osc.json("resource", "provider", "allocation", "set", CONSUMER_1,
                    "--allocation", f"rp={cn1},VCPU=2,MEMORY_MB=512",
                    "--allocation", f"rp={cn2},VCPU=1", *owner)
    shown = _by_provider(rows)
    assert {rp: row["resources"] for rp, row in shown.items()} == {
        cn1: {"VCPU": 2, "MEMORY_MB": 512}, cn2: {"VCPU": 1}}
    assert _by_provider(osc.json("resource", "provider", "allocation", "show",
                                 CONSUMER_1)) == shown
    osc.json("resource", "provider", "allocation", "set", CONSUMER_2,
             "--allocation", f"rp={cn1},VCPU=1", "--project-id", OTHER_PROJECT,
             "--user-id", USER, "--consumer-type", "MIGRATION")

    # usages: of a provider, of a project (and user)
    assert _usage(osc, "resource", "provider", "usage", "show", cn1) == {
        "VCPU": 3, "MEMORY_MB": 512}
    assert _usage(osc, "resource", "provider", "usage", "show", cn2) == {
        "VCPU": 1, "MEMORY_MB": 0}
    # 1.38+: per consumer type, with a consumer count (the client shows the API's nesting)
    mine = {"INSTANCE": {"VCPU": 3, "MEMORY_MB": 512, "consumer_count": 1}}
    assert _usage(osc, "resource", "usage", "show", PROJECT) == mine
    assert _usage(osc, "resource", "usage", "show", PROJECT, "--user-id", USER) == mine
    assert _usage(osc, "resource", "usage", "show", OTHER_PROJECT) == {
        "MIGRATION": {"VCPU": 1, "consumer_count": 1}}
    assert _usage(osc, "resource", "usage", "show", PROJECT, "--user-id", PROJECT) == {}
    assert _usage(osc, "resource", "usage", "show", PROJECT, version="1.37") == {
        "VCPU": 3, "MEMORY_MB": 512}
    assert set(osc.json("resource", "provider", "show", cn1, "--allocations")[
        "allocations"]) == {CONSUMER_1, CONSUMER_2}

    # capacity: cn1 has 4 VCPU, 3 in use; the refusal is corral's 409, shown by the client
    message = osc.fails(409, "resource", "provider", "allocation", "set", CONSUMER_2,
                        "--allocation", f"rp={cn1},VCPU=4", "--project-id", OTHER_PROJECT,
                        "--user-id", USER, "--consumer-type", "MIGRATION")
    assert (f"Unable to create allocation for 'VCPU' on resource provider '{cn1}'. "
            "The requested amount would exceed the capacity") in message, message
    assert _usage(osc, "resource", "provider", "usage", "show", cn1)["VCPU"] == 3

    # allocation candidates: used/capacity per provider, --required, --limit
    found = _candidates(osc, "--resource", "VCPU=1")
    assert sorted(rp for cand in found.values() for rp in cand) == sorted([cn1, cn2])
    assert all(cand == {rp: "VCPU=1"} for cand in found.values() for rp in cand)
    summary = {row["resource provider"]: row for row in osc.json(
        "allocation", "candidate", "list", "--resource", "VCPU=1")}
    # 1.27+: every class of the provider, not only the requested ones
    assert set(summary[cn1]["inventory used/capacity"].split(",")) == {
        "VCPU=3/4", "MEMORY_MB=512/2048"}
    assert summary[cn1]["traits"] == "HW_CPU_X86_AVX2"
    assert set(summary[cn2]["inventory used/capacity"].split(",")) == {
        "VCPU=1/4", "MEMORY_MB=0/2048"}
    assert _candidates(osc, "--resource", "VCPU=2") == {1: {cn2: "VCPU=2"}}
    assert _candidates(osc, "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2") == {
        1: {cn1: "VCPU=1"}}
    assert _candidates(osc, "--resource", "VCPU=1",
                       "--required", "HW_CPU_X86_SSE,HW_CPU_X86_AVX2") == {1: {cn1: "VCPU=1"}}
    assert _candidates(osc, "--resource", "VCPU=1", "--forbidden", "HW_CPU_X86_AVX2") == {
        1: {cn2: "VCPU=1"}}
    assert len(_candidates(osc, "--resource", "VCPU=1", "--limit", "1")) == 1
    assert _candidates(osc, "--resource", "VCPU=1", "--resource", "MEMORY_MB=1537") == {
        1: {cn2: "VCPU=1,MEMORY_MB=1537"}}
    assert _candidates(osc, "--resource", "VCPU=5") == {}

    # unset: one resource class, then one provider, then everything
    rows = osc.json("resource", "provider", "allocation", "unset", CONSUMER_1,
                    "--resource-class", "MEMORY_MB")
    assert {rp: row["resources"] for rp, row in _by_provider(rows).items()} == {
        cn1: {"VCPU": 2}, cn2: {"VCPU": 1}}
    assert all(row["project_id"] == PROJECT and row["consumer_type"] == "INSTANCE"
               for row in rows)
    rows = osc.json("resource", "provider", "allocation", "unset", CONSUMER_1,
                    "--provider", cn2)
    assert {row["resource_provider"]: row["resources"] for row in rows} == {cn1: {"VCPU": 2}}
    assert _usage(osc, "resource", "provider", "usage", "show", cn2) == {
        "VCPU": 0, "MEMORY_MB": 0}
    assert osc.json("resource", "provider", "allocation", "unset", CONSUMER_1) == []
    assert osc.json("resource", "provider", "allocation", "show", CONSUMER_1) == []
    assert _usage(osc, "resource", "usage", "show", PROJECT) == {}

    # delete; a second delete is corral's 404
    osc.run("resource", "provider", "allocation", "delete", CONSUMER_2)
    assert osc.json("resource", "provider", "allocation", "show", CONSUMER_2) == []
    osc.fails(404, "resource", "provider", "allocation", "delete", CONSUMER_2)
    assert _usage(osc, "resource", "provider", "usage", "show", cn1) == {
        "VCPU": 0, "MEMORY_MB": 0}
    for rp in (cn1, cn2):
        osc.run("resource", "provider", "delete", rp)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_allocations_at_older_microversions(osc: Osc) -> None:
    rp = osc.json("resource", "provider", "create", "old-cn")["uuid"]
    osc.json("resource", "provider", "inventory", "set", rp,
             "--resource", "VCPU=4", "--resource", "MEMORY_MB=1024")

    # 1.12: the dict form of allocations, project and user shown, no consumer generation/type
    rows = osc.json("resource", "provider", "allocation", "set", CONSUMER_OLD,
                    "--allocation", f"rp={rp},VCPU=2,MEMORY_MB=512",
                    "--project-id", PROJECT, "--user-id", USER, version="1.12")
    assert rows == [{"resource_provider": rp, "generation": 2,
                     "resources": {"VCPU": 2, "MEMORY_MB": 512},
                     "project_id": PROJECT, "user_id": USER}]
    assert osc.json("resource", "provider", "allocation", "show", CONSUMER_OLD,
                    version="1.12") == rows
    assert _usage(osc, "resource", "usage", "show", PROJECT, version="1.12") == {
        "VCPU": 2, "MEMORY_MB": 512}
    assert _usage(osc, "resource", "provider", "usage", "show", rp, version="1.12") == {
        "VCPU": 2, "MEMORY_MB": 512}
    message = osc.fails(409, "resource", "provider", "allocation", "set", CONSUMER_OLD,
                        "--allocation", f"rp={rp},VCPU=5", "--project-id", PROJECT,
                        "--user-id", USER, version="1.12")
    assert (f"Unable to create allocation for 'VCPU' on resource provider '{rp}'. "
            "The requested amount would exceed the capacity") in message, message
    # 1.12 candidates: no traits column, only the requested classes summarised (before
    # 1.27); --limit needs 1.16, --required 1.17
    rows = osc.json("allocation", "candidate", "list", "--resource", "VCPU=2", version="1.12")
    assert rows == [{"#": 1, "allocation": "VCPU=2", "resource provider": rp,
                     "inventory used/capacity": "VCPU=2/4"}]
    assert len(_candidates(osc, "--resource", "VCPU=1", "--limit", "1", version="1.16")) == 1
    assert _candidates(osc, "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2",
                       version="1.17") == {}
    # 1.12 unset (PUT of what remains), then unset of the rest (DELETE before 1.28)
    rows = osc.json("resource", "provider", "allocation", "unset", CONSUMER_OLD,
                    "--resource-class", "MEMORY_MB", version="1.12")
    assert [row["resources"] for row in rows] == [{"VCPU": 2}]
    assert osc.json("resource", "provider", "allocation", "unset", CONSUMER_OLD,
                    version="1.12") == []
    # 1.0 set (the list form), then delete
    osc.json("resource", "provider", "allocation", "set", CONSUMER_OLD,
             "--allocation", f"rp={rp},VCPU=1", version="1.0")
    assert _usage(osc, "resource", "provider", "usage", "show", rp, version="1.0") == {
        "VCPU": 1, "MEMORY_MB": 0}
    osc.run("resource", "provider", "allocation", "delete", CONSUMER_OLD, version="1.0")
    assert _usage(osc, "resource", "provider", "usage", "show", rp) == {
        "VCPU": 0, "MEMORY_MB": 0}
