"""Nova's own placement client (the ``nova`` package from PyPI) against ``corral serve``.

corral promises that Nova works against it unchanged. This test installs ``nova`` into
a virtualenv of its own (cached, see ``nova_python``) and runs ``nova_driver.py`` with
that virtualenv's Python: it configures nova as a deployment does (an oslo.config
``[placement]`` section, keystoneauth's ``admin_token`` plugin) and drives a real server
with ``SchedulerReportClient`` as nova-compute, nova-scheduler, nova-conductor and
nova-api do: provider tree updates, a reshape, claims, resize, revert, evacuation, port
attach and detach, quota counts, provider and allocation deletes. corral's code never
imports nova, and neither does this process.

The driver runs one step per request and answers what it checked through nova's eyes;
the test asserts each of those checks, then reads the same state through corral's own
API (provider tree, inventories, allocations, usages) and compares it with what nova
meant to write. A failing step shows nova's requests (actor, method, path,
microversion, status) and the warnings nova logged.

The virtualenv lives in ``$CORRAL_NOVA_VENV`` if set, else under
``~/.cache/corral-tests/`` (``$XDG_CACHE_HOME`` honoured) in a directory named after the
pinned version and the Python version. Without network access the test is skipped
(``CORRAL_REQUIRE_SERVICES=1``: it fails).
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, overload

import httpx
import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)

from corral.persistence import Store

from .conftest import ServeFactory, Server
from .venvs import NOVA, nova_env

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("nova_driver.py")
STEP_TIMEOUT = 120
#: nova's service user, as a static token with the roles Keystone gives it (the reshaper
#: is service-only under Placement's default policy).
NOVA_TOKEN = "nova-service-secret"


# --- nova's virtualenv --------------------------------------------------------------------

@pytest.fixture(scope="session")
def nova_python() -> Path:
    """The Python of a virtualenv holding nova, installed once and cached."""
    venv, problem = NOVA.build()
    if problem is not None:
        require_service(NOVA.label, problem)
    return venv / "bin" / "python"


# --- the driver ---------------------------------------------------------------------------

class Nova:
    """``nova_driver.py`` running in nova's virtualenv (importing nova takes seconds: one
    process serves every test, connected to each test's server in turn)."""

    def __init__(self, python: Path) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [str(python), str(DRIVER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.errors, text=True, env=nova_env())
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        hello = self._next("start")
        self.version: str = hello["nova"]
        self.ids: dict[str, str] = hello["ids"]
        self.names = {uuid: name for name, uuid in self.ids.items()}
        self.steps: list[str] = hello["steps"]
        self.ran: list[str] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def _next(self, what: str) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"nova driver: no answer to {what} in {STEP_TIMEOUT}s")
        if not line:
            self.errors.seek(0)
            pytest.fail(f"the nova driver died (exit {self.process.poll()}) during {what}:\n"
                        + self.errors.read().decode(errors="replace")[-4000:])
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _send(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._next(line.split()[0])

    def connect(self, placement: str) -> None:
        """New nova services (new caches) configured for this server."""
        assert self._send(f"connect {placement} {NOVA_TOKEN}") == {"connected": placement}
        self.ran = []

    def step(self, name: str) -> dict[str, Any]:
        """Run one step; fail with nova's requests and log unless every check holds."""
        self.ran.append(name)
        result = self._send(name)
        wrong = [f"  {label}: expected {expected!r}, nova got {got!r}"
                 for label, expected, got in result["checks"] if got != expected]
        if result["error"] or wrong:
            calls = "\n  ".join(" ".join(str(x) for x in c) for c in result["calls"][-25:])
            log = "\n  ".join(result["log"][-10:])
            pytest.fail(f"step {name}:\n" + "\n".join(wrong)
                        + (f"\n{result['error']}" if result["error"] else "")
                        + f"\nnova's last requests:\n  {calls}\nnova's log:\n  {log}",
                        pytrace=False)
        assert result["checks"], f"step {name} checked nothing"
        return result

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


class Corral:
    """corral's own view, through its Placement API at its newest microversion."""

    def __init__(self, server: Server, names: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=server.placement, timeout=30, headers={
            "x-auth-token": "admin", "openstack-api-version": "placement 1.39"})
        self.names = names

    def get(self, path: str) -> Any:
        resp = self.http.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.json()

    @overload
    def name(self, uuid: str) -> str: ...
    @overload
    def name(self, uuid: None) -> None: ...
    def name(self, uuid: str | None) -> str | None:
        return None if uuid is None else self.names.get(uuid, uuid)

    def tree(self, root: str) -> dict[str, Any]:
        """name -> parent, inventory (total/reserved/ratio), usages, traits, aggregates."""
        out: dict[str, Any] = {}
        for rp in self.get(f"/resource_providers?in_tree={self.names_to_uuid(root)}")[
                "resource_providers"]:
            base = f"/resource_providers/{rp['uuid']}"
            inv = self.get(f"{base}/inventories")["inventories"]
            out[self.name(rp["uuid"])] = {
                "parent": self.name(rp["parent_provider_uuid"]),
                "root": self.name(rp["root_provider_uuid"]),
                "inventory": {rc: (r["total"], r["reserved"], r["allocation_ratio"])
                              for rc, r in inv.items()},
                "usages": {rc: n for rc, n in self.get(f"{base}/usages")["usages"].items() if n},
                "traits": sorted(self.get(f"{base}/traits")["traits"]),
                "aggregates": sorted(self.name(a) or a
                                     for a in self.get(f"{base}/aggregates")["aggregates"])}
        return out

    def names_to_uuid(self, name: str) -> str:
        return next(uuid for uuid, n in self.names.items() if n == name)

    def allocations(self, consumer: str) -> dict[str, Any]:
        body = self.get(f"/allocations/{self.names_to_uuid(consumer)}")
        return {self.name(rp): a["resources"] for rp, a in body["allocations"].items()}

    def consumers(self, provider: str) -> dict[str, Any]:
        body = self.get(f"/resource_providers/{self.names_to_uuid(provider)}/allocations")
        return {self.name(c): a["resources"] for c, a in body["allocations"].items()}

    def project_usages(self) -> dict[str, Any]:
        """Per consumer type (1.38+); nova writes no consumer type: "unknown"."""
        return self.get(f"/usages?project_id={self.names_to_uuid('project')}")["usages"]


@pytest.fixture(scope="session")
def nova_process(nova_python: Path) -> Iterator[Nova]:
    driver = Nova(nova_python)
    yield driver
    driver.close()


@pytest.fixture
def nova(nova_process: Nova, backend: str, store: Store, serve: ServeFactory
         ) -> tuple[Nova, Corral]:
    """nova connected to a fresh server: one process on SQLite, two workers on PostgreSQL
    (as Placement is deployed: every request may land on another process)."""
    workers = ("--workers", "2") if backend == "postgresql" else ()
    server = serve(store, *workers,
                   env={"CORRAL_API_TOKENS": f"{NOVA_TOKEN}=nova:service:admin+service"})
    nova_process.connect(server.placement)
    return nova_process, Corral(server, nova_process.names)


# --- the scenario -------------------------------------------------------------------------

SMALL = {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}
MEDIUM = {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40}
VGPU_HOST_PART = {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}
ROOT_INVENTORY = {"VCPU": (16, 0, 4.0), "MEMORY_MB": (32768, 512, 1.0),
                  "DISK_GB": (500, 0, 1.0)}
NOVA_TRAITS = ["COMPUTE_NODE", "HW_CPU_X86_SSE42", "OWNER_NOVA"]


def test_nova_services_drive_corral(nova: tuple[Nova, Corral]) -> None:
    driver, corral = nova
    assert driver.version.startswith("34."), driver.version

    driver.step("upgrade_check")
    # nova-compute starts on two nodes (cn1 with its vGPUs on the root, as before Stein)
    driver.step("computes_start")
    assert corral.tree("cn1") == {"cn1": {
        "parent": None, "root": "cn1",
        "inventory": {**ROOT_INVENTORY, "VGPU": (8, 0, 1.0)}, "usages": {},
        "traits": sorted([*NOVA_TRAITS, "HW_CPU_X86_AVX2"]), "aggregates": []}}
    assert corral.tree("cn2")["cn2"]["traits"] == NOVA_TRAITS

    # neutron's agent providers under cn1, nova-api's aggregates, a quiet periodic
    driver.step("neutron_agent")
    driver.step("api_aggregates")
    driver.step("computes_periodic")
    # an operator's trait: nova-compute redrives after the 409 and keeps it
    driver.step("compute_redrive_on_conflict")
    cn1 = corral.tree("cn1")
    assert set(cn1) == {"cn1", "ovs_agent", "ovs_bridge"}
    assert cn1["cn1"]["traits"] == sorted([*NOVA_TRAITS, "CUSTOM_GOLD", "HW_CPU_X86_AVX2",
                                           "HW_CPU_X86_AVX512F"])
    assert cn1["cn1"]["aggregates"] == ["agg1"]
    assert cn1["ovs_bridge"] == {
        "parent": "ovs_agent", "root": "cn1",
        "inventory": {"NET_BW_EGR_KILOBIT_PER_SEC": (10000, 0, 1.0),
                      "NET_BW_IGR_KILOBIT_PER_SEC": (10000, 0, 1.0)},
        "usages": {}, "traits": ["CUSTOM_PHYSNET_PUBLIC", "CUSTOM_VNIC_TYPE_NORMAL"],
        "aggregates": []}

    # nova-scheduler: candidates and claims, refusals
    driver.step("schedule_boot")
    driver.step("compute_disabled")
    assert "COMPUTE_STATUS_DISABLED" not in corral.tree("cn2")["cn2"]["traits"]
    driver.step("parallel_claims")
    assert corral.tree("cn2")["cn2"]["usages"] == {}
    driver.step("ironic_node")
    assert corral.get("/resource_providers?name=ironic-node-1")["resource_providers"] == []
    driver.step("claim_refusals")
    assert corral.allocations("inst1") == {"cn1": SMALL}
    assert corral.allocations("inst2") == {}
    driver.step("boot_vgpu_legacy")
    assert corral.tree("cn1")["cn1"]["usages"] == {
        "VCPU": 3, "MEMORY_MB": 3072, "DISK_GB": 30, "VGPU": 1}

    # nova-compute restarts with vGPUs on children: the reshape
    driver.step("compute_restart_reshape")
    driver.step("reshape_conflict")
    cn1 = corral.tree("cn1")
    assert set(cn1) == {"cn1", "pgpu1", "pgpu2", "ovs_agent", "ovs_bridge"}
    assert cn1["cn1"]["inventory"] == ROOT_INVENTORY
    assert cn1["cn1"]["usages"] == {"VCPU": 3, "MEMORY_MB": 3072, "DISK_GB": 30}
    assert cn1["pgpu1"] == {"parent": "cn1", "root": "cn1", "inventory": {"VGPU": (4, 0, 1.0)},
                            "usages": {"VGPU": 1}, "aggregates": [],
                            "traits": ["CUSTOM_NVIDIA_GRID", "OWNER_NOVA"]}
    assert corral.allocations("inst_vgpu") == {"cn1": VGPU_HOST_PART, "pgpu1": {"VGPU": 1}}
    driver.step("schedule_vgpu_nested")
    assert corral.consumers("pgpu2") == {"inst_vgpu2": {"VGPU": 1}}
    driver.step("reshape_replace_child")
    assert set(corral.tree("cn1")) == {"cn1", "pgpu1", "pgpu3", "ovs_agent", "ovs_bridge"}
    assert corral.consumers("pgpu3") == {"inst_vgpu2": {"VGPU": 1}}
    assert corral.consumers("cn1") == {"inst1": SMALL, "inst_vgpu": VGPU_HOST_PART,
                                       "inst_vgpu2": VGPU_HOST_PART}

    # moves: resize and confirm, resize and revert, evacuations
    driver.step("resize_confirm")
    assert corral.allocations("inst1") == {"cn2": MEDIUM}
    assert corral.allocations("mig1") == {}
    driver.step("resize_revert")
    assert corral.allocations("inst1") == {"cn2": MEDIUM}
    assert corral.allocations("mig2") == {}
    assert corral.consumers("cn1") == {"inst_vgpu": VGPU_HOST_PART,
                                       "inst_vgpu2": VGPU_HOST_PART}
    driver.step("evacuate")
    assert corral.allocations("inst1") == {"cn2": MEDIUM}
    assert corral.tree("cn2")["cn2"]["usages"] == MEDIUM

    # ports, quota counts
    driver.step("interface_attach_detach")
    assert corral.allocations("inst_vgpu") == {"cn1": VGPU_HOST_PART, "pgpu1": {"VGPU": 1}}
    assert corral.tree("cn1")["ovs_bridge"]["usages"] == {}
    driver.step("quota_usage")
    assert corral.project_usages() == {"unknown": {
        "VCPU": 6, "MEMORY_MB": 6144, "DISK_GB": 60, "VGPU": 2, "consumer_count": 3}}
    driver.step("shared_storage")
    assert corral.tree("shared_disk") == {"shared_disk": {
        "parent": None, "root": "shared_disk", "inventory": {"DISK_GB": (2000, 0, 1.0)},
        "usages": {}, "traits": ["MISC_SHARES_VIA_AGGREGATE"], "aggregates": ["agg1"]}}

    # the driver's inventory changes: a class in use, a GPU removed
    driver.step("inventory_in_use")
    assert corral.tree("cn1")["cn1"]["inventory"] == ROOT_INVENTORY
    driver.step("gpu_removed")
    assert set(corral.tree("cn1")) == {"cn1", "pgpu1", "ovs_agent", "ovs_bridge"}
    assert corral.allocations("inst_vgpu2") == {}

    # deletes: instances, a reinstalled host's new node, the compute services
    driver.step("delete_instances")
    assert corral.project_usages() == {}
    assert all(not rp["usages"] for rp in corral.tree("cn1").values())
    driver.step("compute_reinstalled")
    assert corral.get("/resource_providers?name=cn2")["resource_providers"][0]["uuid"] == (
        driver.ids["cn2"])
    driver.step("delete_compute_nodes")
    assert [rp["name"] for rp in corral.get("/resource_providers")["resource_providers"]] == [
        "shared-disk"]
    assert driver.ran == driver.steps  # every step of the scenario, in its order
