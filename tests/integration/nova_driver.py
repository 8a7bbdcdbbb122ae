"""Nova's own placement report client, driven as nova's services drive it, against corral.

Run by ``test_nova_report_client.py`` with the Python of a virtualenv holding the ``nova``
package from PyPI (never by corral's interpreter, never collected by pytest)::

    NOVA_VENV/bin/python nova_driver.py

Nova reads its configuration as in production: an oslo.config file with a
``[placement]`` section (keystoneauth's ``admin_token`` plugin with the endpoint and the
token of nova's service user, which holds the ``admin`` and ``service`` roles as in a
Keystone deployment), and builds its client with ``SchedulerReportClient()``. Each nova
service is a client of its own, with its own cache, as in a deployment: two
nova-computes, nova-scheduler, nova-conductor and nova-api. Neutron's agent providers
are written with plain HTTP calls through nova-api's client (neutron is not under test).

Protocol: the driver prints one JSON line ``{"ready": ..., "ids": {...}, "steps": [...]}``
(its steps in scenario order) once nova is imported, then reads commands on stdin, one
a line. ``connect URL TOKEN`` configures nova for a server and starts its services
afresh (answer ``{"connected": URL}``); a step name runs that step and answers::

    {"step": NAME, "ok": bool, "checks": [[label, expected, got], ...],
     "calls": [[actor, method, path, microversion, status], ...],
     "log": [nova's warnings and errors], "error": traceback or null}

``ok`` is false only when a step raised something the step did not expect; the test
compares every check itself. The steps run in the order the test sends them: each one
starts from the state the previous ones left.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

# --- identities --------------------------------------------------------------------------

IDS = {
    "cn1": "c0000000-0000-4000-8000-000000000001",
    "cn2": "c0000000-0000-4000-8000-000000000002",
    "cn2_reinstalled": "c0000000-0000-4000-8000-0000000000f2",
    "pgpu1": "c0000000-0000-4000-8000-000000000011",
    "pgpu2": "c0000000-0000-4000-8000-000000000012",
    "pgpu3": "c0000000-0000-4000-8000-000000000013",
    "ovs_agent": "c0000000-0000-4000-8000-000000000021",
    "ovs_bridge": "c0000000-0000-4000-8000-000000000022",
    "shared_disk": "c0000000-0000-4000-8000-000000000031",
    "ironic": "c0000000-0000-4000-8000-000000000041",
    "bm_inst": "d0000000-0000-4000-8000-0000000000b1",
    "agg1": "a0000000-0000-4000-8000-000000000001",
    "agg2": "a0000000-0000-4000-8000-000000000002",
    "project": "b0000000-0000-4000-8000-000000000001",
    "user": "b0000000-0000-4000-8000-0000000000aa",
    "inst1": "d0000000-0000-4000-8000-000000000001",
    "inst2": "d0000000-0000-4000-8000-000000000002",
    "inst_vgpu": "d0000000-0000-4000-8000-000000000003",
    "inst_vgpu2": "d0000000-0000-4000-8000-000000000004",
    "mig1": "e0000000-0000-4000-8000-000000000001",
    "mig2": "e0000000-0000-4000-8000-000000000002",
    "port": "f0000000-0000-4000-8000-000000000001",
}
NODE = {"cn1": IDS["cn1"], "cn2": IDS["cn2"]}
HOST = {"cn1": "host1", "cn2": "host2"}
PGPU_NAMES = {"pgpu1": "cn1_pci_0000_84_00_0", "pgpu2": "cn1_pci_0000_85_00_0",
              "pgpu3": "cn1_pci_0000_86_00_0"}


def _configure(placement_url: str, token: str) -> None:
    """Write nova.conf for this server and (re)load it, as a nova service starts."""
    with tempfile.NamedTemporaryFile("w", prefix="nova-", suffix=".conf", delete=False) as conf:
        # Caches refresh only on a restart or a conflict, never by the clock (the default
        # is every 300 s): what nova-compute sends never depends on the machine's speed.
        conf.write(f"""[DEFAULT]
host = nova-driver

[compute]
resource_provider_association_refresh = 0

[placement]
auth_type = admin_token
token = {token}
endpoint_override = {placement_url}
""")
    nova_conf.CONF([], project="nova", default_config_files=[conf.name])
    os.unlink(conf.name)


# nova is imported once (it takes seconds), then configured for each server.
nova_conf: Any = None
report: Any = None
request_filter: Any = None
sched_utils: Any = None
objects: Any = None
exception: Any = None
nova_context: Any = None
orc: Any = None
ot: Any = None


def _import_nova() -> str:
    global nova_conf, report, request_filter, sched_utils, objects, exception, nova_context
    global orc, ot
    import nova.conf
    import os_resource_classes
    import os_traits
    from nova import context as ctx_module
    from nova import exception as exc_module
    from nova import objects as objects_module
    from nova import version
    from nova.scheduler import request_filter as filter_module
    from nova.scheduler import utils as utils_module
    from nova.scheduler.client import report as report_module

    nova_conf = nova.conf
    objects_module.register_all()
    report, sched_utils, objects = report_module, utils_module, objects_module
    request_filter = filter_module
    exception, nova_context = exc_module, ctx_module
    orc, ot = os_resource_classes, os_traits
    return str(version.version_string())


# --- recording what each nova service asked ------------------------------------------------

CALLS: list[list[Any]] = []
LOG_LINES: list[str] = []


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG_LINES.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:2000])


def _recording_client(actor: str) -> Any:
    """A SchedulerReportClient that records each request it makes (as nova's functional
    tests wrap it to check microversions); its behaviour is nova's, untouched."""

    # nova is not installed here (it runs in its own venv): its classes are Any to mypy.
    class Recording(report.SchedulerReportClient):  # type: ignore[misc]
        def _record(self, method: str, url: str, version: Any, resp: Any) -> Any:
            CALLS.append([actor, method, url, version, resp.status_code])
            return resp

        def get(self, url: str, version: Any = None, global_request_id: Any = None) -> Any:
            return self._record("GET", url, version, super().get(url, version, global_request_id))

        def post(self, url: str, data: Any, version: Any = None,
                 global_request_id: Any = None) -> Any:
            return self._record("POST", url, version,
                                super().post(url, data, version, global_request_id))

        def put(self, url: str, data: Any, version: Any = None,
                global_request_id: Any = None) -> Any:
            return self._record("PUT", url, version,
                                super().put(url, data, version, global_request_id))

        def delete(self, url: str, version: Any = None, global_request_id: Any = None) -> Any:
            return self._record("DELETE", url, version,
                                super().delete(url, version, global_request_id))

    return Recording()


def writes(actor: str | None = None) -> list[list[Any]]:
    return [c for c in CALLS if c[1] != "GET" and (actor is None or c[0] == actor)]


# --- a libvirt-like virt driver and the resource tracker's update ----------------------------

def _inv(total: int, ratio: float = 1.0, reserved: int = 0, max_unit: int | None = None
         ) -> dict[str, Any]:
    return {"total": total, "reserved": reserved, "min_unit": 1,
            "max_unit": total if max_unit is None else max_unit, "step_size": 1,
            "allocation_ratio": ratio}


class FakeLibvirt:
    """What a libvirt driver's ``update_provider_tree`` does for one node: root inventory
    and CPU traits, and vGPUs either on the root (the pre-Stein layout) or on one child
    provider per physical GPU. It asks for a reshape when vGPUs must leave the root, or
    when a physical GPU's provider is replaced by another (``moves``), and then moves
    the consumers' allocations in the tree it is given."""

    def __init__(self, node: str, vgpu_on_root: bool = False, pgpus: tuple[str, ...] = ()
                 ) -> None:
        self.node = node
        self.vgpu_on_root = vgpu_on_root
        self.pgpus = pgpus
        self.cpu_traits = {"HW_CPU_X86_AVX2", "HW_CPU_X86_SSE42"} if node == "cn1" else {
            "HW_CPU_X86_SSE42"}
        self.vcpus = 16
        self.disk_gb: int | None = 500
        self.service_disabled = False
        self.moves: dict[str, str] = {}

    def root_inventory(self) -> dict[str, Any]:
        inv = {orc.VCPU: _inv(self.vcpus, ratio=4.0),
               orc.MEMORY_MB: _inv(32768, reserved=512)}
        if self.disk_gb is not None:
            inv[orc.DISK_GB] = _inv(self.disk_gb)
        if self.vgpu_on_root:
            inv[orc.VGPU] = _inv(8)
        return inv

    def update_provider_tree(self, tree: Any, allocations: dict[str, Any] | None = None
                             ) -> None:
        node = self.node
        root = tree.data(node)
        inventory = self.root_inventory()
        moves = {IDS[old]: IDS[new] for old, new in self.moves.items() if tree.exists(IDS[old])}
        reshape_needed = (orc.VGPU in root.inventory and orc.VGPU not in inventory) or bool(moves)
        if reshape_needed and allocations is None:
            raise exception.ReshapeNeeded()
        tree.update_inventory(node, inventory)
        tree.update_traits(node, (root.traits - {"HW_CPU_X86_AVX512F"}) | self.cpu_traits)
        # One child provider per physical GPU, named as libvirt names them.
        for key in self.pgpus:
            name = PGPU_NAMES[key]
            if not tree.exists(name):
                tree.new_child(name, node, uuid=IDS[key])
            tree.update_inventory(name, {orc.VGPU: _inv(4)})
            tree.add_traits(name, ot.OWNER_NOVA, "CUSTOM_NVIDIA_GRID")
        for key, name in PGPU_NAMES.items():
            if key not in self.pgpus and tree.exists(name):
                tree.remove(name)
        if reshape_needed:
            # Move each consumer's vGPUs from the root to the first physical GPU, and
            # from a replaced GPU's provider to its successor.
            for alloc in allocations.values():  # type: ignore[union-attr]
                on_root = alloc["allocations"].get(NODE[node], {}).get("resources", {})
                if orc.VGPU in on_root:
                    alloc["allocations"][IDS[self.pgpus[0]]] = {
                        "resources": {orc.VGPU: on_root.pop(orc.VGPU)}}
                for old, new in moves.items():
                    if old in alloc["allocations"]:
                        alloc["allocations"][new] = alloc["allocations"].pop(old)


def rt_update(client: Any, driver: FakeLibvirt) -> dict[str, Any]:
    """The resource tracker's ``_update_to_placement`` for one node, with its retries:
    read the node's subtree (creating the root), let the driver change it (reshaping if
    it asks to), add the traits the tracker owns, flush, and redrive on a conflict."""
    node, ctx = driver.node, nova_context.get_admin_context()
    attempts, reshaped = 0, False
    while True:
        attempts += 1
        tree = client.get_provider_subtree_and_ensure_root(ctx, NODE[node], name=node)
        allocs = client.get_allocations_for_provider_tree(ctx, node)
        try:
            driver.update_provider_tree(tree)
            allocations = None
        except exception.ReshapeNeeded:
            driver.update_provider_tree(tree, allocations=allocs)
            allocations, reshaped = allocs, True
        # The tracker's own traits: the node marker, the owner, the service's state.
        traits = set(tree.data(node).traits) | {ot.COMPUTE_NODE, ot.OWNER_NOVA}
        if driver.service_disabled:
            traits.add(ot.COMPUTE_STATUS_DISABLED)
        else:
            traits.discard(ot.COMPUTE_STATUS_DISABLED)
        tree.update_traits(node, traits)
        try:
            client.update_from_provider_tree(ctx, tree, allocations=allocations)
        except (exception.ResourceProviderUpdateConflict,
                exception.PlacementReshapeConflict):
            if attempts == 4:
                raise
            continue
        return {"attempts": attempts, "reshaped": reshaped}


# --- the scenario ----------------------------------------------------------------------------

class Scenario:
    def __init__(self) -> None:
        self.ctx = nova_context.get_admin_context()
        self.compute = {"cn1": _recording_client("compute1"),
                        "cn2": _recording_client("compute2")}
        self.scheduler = _recording_client("scheduler")
        self.conductor = _recording_client("conductor")
        self.api = _recording_client("api")
        self.virt = {"cn1": FakeLibvirt("cn1", vgpu_on_root=True),
                     "cn2": FakeLibvirt("cn2")}
        self.checks: list[list[Any]] = []
        self.flavors = {
            "small": self._flavor(2, 2048, 20),
            "medium": self._flavor(4, 4096, 40),
            "large": self._flavor(8, 8192, 40),
            "vgpu": self._flavor(1, 1024, 10, {"resources:VGPU": "1"}),
            # granular: a suffixed group on one provider with a trait, isolated
            "vgpu_granular": self._flavor(1, 1024, 10, {
                "resources_GPU:VGPU": "1", "trait_GPU:CUSTOM_NVIDIA_GRID": "required",
                "group_policy": "isolate"}),
            "avx2": self._flavor(2, 2048, 20, {"trait:HW_CPU_X86_AVX2": "required"}),
            "wide": self._flavor(12, 1024, 1),
            # an Ironic flavor: the custom class only, the standard ones zeroed
            "baremetal": self._flavor(8, 65536, 400, {
                "resources:CUSTOM_BAREMETAL_GOLD": "1", "resources:VCPU": "0",
                "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"}),
        }

    # helpers
    def check(self, label: str, got: Any, expected: Any) -> None:
        self.checks.append([label, _plain(expected), _plain(got)])

    def raises(self, label: str, exc_name: str, fn: Callable[[], Any]) -> None:
        """Check that ``fn`` raises nova's ``exc_name``."""
        try:
            fn()
        except getattr(exception, exc_name):
            self.check(label, exc_name, exc_name)
        except Exception as exc:
            self.check(label, f"{type(exc).__name__}: {exc}", exc_name)
        else:
            self.check(label, "nothing raised", exc_name)

    def _flavor(self, vcpus: int, ram: int, disk: int, extra: dict[str, str] | None = None
                ) -> Any:
        return objects.Flavor(vcpus=vcpus, memory_mb=ram, root_gb=disk, ephemeral_gb=0,
                              swap=0, extra_specs=extra or {})

    def spec(self, flavor: str) -> Any:
        spec = objects.RequestSpec(
            flavor=self.flavors[flavor], image=objects.ImageMeta(
                properties=objects.ImageMetaProps()),
            is_bfv=False, requested_resources=[], project_id=IDS["project"],
            user_id=IDS["user"], request_level_params=objects.RequestLevelParams())
        # nova-scheduler's request filters: disabled computes are forbidden
        # (compute_status_filter), and with every compute at 34 the root must be nova's
        # (owner_nova_filter, which asks the database for service versions: applied here).
        request_filter.compute_status_filter(self.ctx, spec)
        spec.root_required.add(ot.OWNER_NOVA)
        return spec

    def candidates(self, flavor: str, member_of: str | None = "agg1"
                   ) -> tuple[list[Any], dict[str, Any], str]:
        """nova-scheduler: the flavor's resource request, limited to a host aggregate (as
        the tenant and availability-zone filters do), then GET /allocation_candidates."""
        request = sched_utils.ResourceRequest.from_request_spec(self.spec(flavor))
        if member_of:
            request.get_request_group(None).aggregates = [[IDS[member_of]]]
        reqs, summaries, version = self.scheduler.get_allocation_candidates(self.ctx, request)
        assert reqs is not None, "GET /allocation_candidates failed (see the log)"
        return reqs, summaries, version

    def pick(self, reqs: list[Any], root: str) -> dict[str, Any]:
        found = [r for r in reqs if NODE[root] in r["allocations"]]
        assert found, f"no candidate on {root}"
        return copy.deepcopy(found[0])

    def schedule(self, consumer: str, flavor: str, node: str) -> bool:
        """nova-scheduler: candidates, pick the one on ``node``, claim it."""
        reqs, _, version = self.candidates(flavor)
        return bool(sched_utils.claim_resources(
            self.ctx, self.scheduler, self.spec(flavor), IDS[consumer], self.pick(reqs, node),
            allocation_request_version=version))

    def allocs(self, consumer: str) -> dict[str, Any]:
        """{provider name: resources} of a consumer, as nova reads them."""
        names = {v: k for k, v in IDS.items()}
        got = self.api.get_allocs_for_consumer(self.ctx, IDS[consumer])["allocations"]
        return {names.get(rp, rp): a["resources"] for rp, a in got.items()}

    def tree(self, node: str) -> dict[str, Any]:
        """Every provider of a node's tree, as nova reads it: parent, inventory totals,
        traits, aggregates."""
        names = {v: k for k, v in IDS.items()}
        out = {}
        for rp in self.api.get_providers_in_tree(self.ctx, NODE[node]):
            inv = self.api._get_inventory(self.ctx, rp["uuid"])["inventories"]
            out[names.get(rp["uuid"], rp["uuid"])] = {
                "name": rp["name"], "parent": names.get(rp["parent_provider_uuid"]),
                "inventory": {rc: r["total"] for rc, r in inv.items()},
                "traits": sorted(self.api.get_provider_traits(self.ctx, rp["uuid"]).traits),
                "aggregates": sorted(names.get(a, a) for a in
                                     self.api._get_provider_aggregates(
                                         self.ctx, rp["uuid"]).aggregates)}
        return out

    def usage(self, node_key: str) -> dict[str, int]:
        resp = self.api.get(f"/resource_providers/{IDS[node_key]}/usages")
        return {rc: n for rc, n in resp.json()["usages"].items() if n}

    # --- nova-compute: start, report, reshape -------------------------------------------------

    def step_upgrade_check(self) -> None:
        """``nova-status upgrade check``'s placement check: reachable with nova's
        credentials, and new enough (the microversion nova 34 needs)."""
        from nova.cmd import status

        result = status.UpgradeCommands()._check_placement()
        self.check("placement check", [result.code.name, result.details], ["SUCCESS", None])
        self.check("nova needs", status.MIN_PLACEMENT_MICROVERSION, "1.36")

    def step_computes_start(self) -> None:
        """Both nova-computes start: root providers created, inventory and traits set
        (cn1 in the pre-Stein layout, its vGPUs on the root)."""
        for node in ("cn1", "cn2"):
            result = rt_update(self.compute[node], self.virt[node])
            self.check(f"{node} reported in one pass", result, {"attempts": 1, "reshaped": False})
        self.check("cn1 tree", self.tree("cn1"), {"cn1": {
            "name": "cn1", "parent": None,
            "inventory": {"VCPU": 16, "MEMORY_MB": 32768, "DISK_GB": 500, "VGPU": 8},
            "traits": ["COMPUTE_NODE", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE42", "OWNER_NOVA"],
            "aggregates": []}})
        self.check("cn2 tree", self.tree("cn2"), {"cn2": {
            "name": "cn2", "parent": None,
            "inventory": {"VCPU": 16, "MEMORY_MB": 32768, "DISK_GB": 500},
            "traits": ["COMPUTE_NODE", "HW_CPU_X86_SSE42", "OWNER_NOVA"],
            "aggregates": []}})
        inv = self.api._get_inventory(self.ctx, IDS["cn1"])["inventories"]
        self.check("cn1 VCPU record as reported", inv["VCPU"], _inv(16, ratio=4.0))
        self.check("cn1 MEMORY_MB record as reported", inv["MEMORY_MB"],
                   _inv(32768, reserved=512))

    def step_neutron_agent(self) -> None:
        """Neutron's OVS agent reports a packet-rate provider and a bandwidth provider
        below cn1 (plain HTTP: neutron is not nova)."""
        api, ver = self.api, "1.20"
        agent = api.post("/resource_providers", {
            "uuid": IDS["ovs_agent"], "name": "cn1:Open vSwitch agent",
            "parent_provider_uuid": IDS["cn1"]}, version=ver)
        bridge = api.post("/resource_providers", {
            "uuid": IDS["ovs_bridge"], "name": "cn1:Open vSwitch agent:br-ex",
            "parent_provider_uuid": IDS["ovs_agent"]}, version=ver)
        self.check("providers created", [agent.status_code, bridge.status_code], [200, 200])
        for trait in ("CUSTOM_PHYSNET_PUBLIC", "CUSTOM_VNIC_TYPE_NORMAL"):
            api.put(f"/traits/{trait}", None, version="1.6")
        r1 = api.put(f"/resource_providers/{IDS['ovs_agent']}/inventories", {
            "resource_provider_generation": 0, "inventories": {
                "NET_PACKET_RATE_KILOPACKET_PER_SEC": _inv(1000)}}, version="1.26")
        r2 = api.put(f"/resource_providers/{IDS['ovs_bridge']}/inventories", {
            "resource_provider_generation": 0, "inventories": {
                "NET_BW_EGR_KILOBIT_PER_SEC": _inv(10000),
                "NET_BW_IGR_KILOBIT_PER_SEC": _inv(10000)}}, version="1.26")
        r3 = api.put(f"/resource_providers/{IDS['ovs_agent']}/traits", {
            "resource_provider_generation": r1.json()["resource_provider_generation"],
            "traits": ["CUSTOM_VNIC_TYPE_NORMAL"]}, version="1.6")
        r4 = api.put(f"/resource_providers/{IDS['ovs_bridge']}/traits", {
            "resource_provider_generation": r2.json()["resource_provider_generation"],
            "traits": ["CUSTOM_PHYSNET_PUBLIC", "CUSTOM_VNIC_TYPE_NORMAL"]}, version="1.6")
        self.check("inventories and traits set",
                   [r.status_code for r in (r1, r2, r3, r4)], [200, 200, 200, 200])

    def step_api_aggregates(self) -> None:
        """nova-api: host aggregates mirrored to placement (by host name, then by uuid)."""
        self.api.aggregate_add_host(self.ctx, IDS["agg1"], host_name="cn1")
        self.api.aggregate_add_host(self.ctx, IDS["agg1"], host_name="cn1")  # no-op
        self.api.aggregate_add_host(self.ctx, IDS["agg1"], rp_uuid=IDS["cn2"])
        self.api.aggregate_add_host(self.ctx, IDS["agg2"], host_name="cn2")
        self.api.aggregate_remove_host(self.ctx, IDS["agg2"], "cn2")
        self.api.aggregate_remove_host(self.ctx, IDS["agg2"], "cn2")  # no-op
        for node in ("cn1", "cn2"):
            self.check(f"{node} aggregates", self.api._get_provider_aggregates(
                self.ctx, NODE[node]).aggregates, {IDS["agg1"]})
        self.check("writes", [c[1:3] for c in writes("api")], [
            ["PUT", f"/resource_providers/{IDS['cn1']}/aggregates"],
            ["PUT", f"/resource_providers/{IDS['cn2']}/aggregates"],
            ["PUT", f"/resource_providers/{IDS['cn2']}/aggregates"],
            ["PUT", f"/resource_providers/{IDS['cn2']}/aggregates"]])
        self.raises("an unknown host", "ResourceProviderNotFound",
                    lambda: self.api.aggregate_add_host(self.ctx, IDS["agg2"], host_name="cn9"))

    def step_computes_periodic(self) -> None:
        """The periodic update with nothing changed writes nothing, and keeps what others
        wrote (neutron's providers, nova-api's aggregates)."""
        for node in ("cn1", "cn2"):
            result = rt_update(self.compute[node], self.virt[node])
            self.check(f"{node} update", result, {"attempts": 1, "reshaped": False})
        self.check("writes", writes(), [])
        self.check("cn1 providers", sorted(self.tree("cn1")), ["cn1", "ovs_agent", "ovs_bridge"])

    def step_compute_redrive_on_conflict(self) -> None:
        """An operator adds a trait behind nova-compute's back; the compute's next change
        hits a stale generation (409), it reloads the tree and redrives, keeping the
        operator's trait and nova-api's aggregate."""
        gen = self.api.get_provider_traits(self.ctx, IDS["cn1"]).generation
        self.api.put("/traits/CUSTOM_GOLD", None, version="1.6")
        traits = self.api.get_provider_traits(self.ctx, IDS["cn1"]).traits | {"CUSTOM_GOLD"}
        resp = self.api.put(f"/resource_providers/{IDS['cn1']}/traits", {
            "resource_provider_generation": gen, "traits": sorted(traits)}, version="1.6")
        self.check("operator's trait set", resp.status_code, 200)
        self.virt["cn1"].cpu_traits.add("HW_CPU_X86_AVX512F")
        result = rt_update(self.compute["cn1"], self.virt["cn1"])
        self.check("redriven once", result, {"attempts": 2, "reshaped": False})
        conflicts = [c for c in CALLS if c[0] == "compute1" and c[4] == 409]
        self.check("the conflict nova saw", [c[1:3] for c in conflicts],
                   [["PUT", f"/resource_providers/{IDS['cn1']}/traits"]])
        root = self.tree("cn1")["cn1"]
        self.check("traits", root["traits"], [
            "COMPUTE_NODE", "CUSTOM_GOLD", "HW_CPU_X86_AVX2", "HW_CPU_X86_AVX512F",
            "HW_CPU_X86_SSE42", "OWNER_NOVA"])
        self.check("aggregates", root["aggregates"], ["agg1"])

    # --- nova-scheduler: candidates and claims ------------------------------------------------

    def step_schedule_boot(self) -> None:
        """nova-scheduler: the flavor (with a required trait) as a resource request, the
        candidates, and the claim of the chosen one."""
        reqs, summaries, version = self.candidates("avx2")
        self.check("microversion", version, "1.36")
        self.check("candidates", [r["allocations"] for r in reqs], [
            {IDS["cn1"]: {"resources": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}}}])
        self.check("mappings", reqs[0]["mappings"], {"": [IDS["cn1"]]})
        cn1 = summaries[IDS["cn1"]]
        self.check("cn1 summary VCPU", cn1["resources"]["VCPU"], {"capacity": 64, "used": 0})
        self.check("cn1 summary traits include", "HW_CPU_X86_AVX2" in cn1["traits"], True)
        self.check("cn1 summary parent/root", [cn1["parent_provider_uuid"],
                                               cn1["root_provider_uuid"]], [None, IDS["cn1"]])
        ok = sched_utils.claim_resources(self.ctx, self.scheduler, self.spec("avx2"),
                                         IDS["inst1"], reqs[0], version)
        self.check("claimed", ok, True)
        got = self.api.get_allocs_for_consumer(self.ctx, IDS["inst1"])
        self.check("allocation", {k: got[k] for k in ("project_id", "user_id",
                                                     "consumer_generation")},
                   {"project_id": IDS["project"], "user_id": IDS["user"],
                    "consumer_generation": 1})
        self.check("resources", self.allocs("inst1"), {
            "cn1": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}})
        self.check("cn1 usage", self.usage("cn1"), {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20})

    def step_compute_disabled(self) -> None:
        """nova-api disables cn2's service: its compute reports COMPUTE_STATUS_DISABLED
        and the scheduler's forbidden root trait leaves it out; enabled again, it is back.
        A host aggregate with no member gives nothing."""
        reqs, _, _ = self.candidates("small")
        self.check("both nodes", sorted(rp for r in reqs for rp in r["allocations"]),
                   sorted([IDS["cn1"], IDS["cn2"]]))
        self.check("an empty aggregate", self.candidates("small", member_of="agg2")[0], [])
        self.virt["cn2"].service_disabled = True
        # nova-api's aggregate change left compute2's cached generation stale: one 409
        # and a redrive, as against Placement.
        self.check("reported", rt_update(self.compute["cn2"], self.virt["cn2"])["attempts"], 2)
        self.check("trait", "COMPUTE_STATUS_DISABLED" in self.tree("cn2")["cn2"]["traits"],
                   True)
        reqs, _, _ = self.candidates("small")
        self.check("cn2 left out", [sorted(r["allocations"]) for r in reqs], [[IDS["cn1"]]])
        self.virt["cn2"].service_disabled = False
        self.check("enabled", rt_update(self.compute["cn2"], self.virt["cn2"])["attempts"], 1)
        reqs, _, _ = self.candidates("small")
        self.check("cn2 back", len(reqs), 2)

    def step_parallel_claims(self) -> None:
        """Eight nova-scheduler workers claim on cn2 at once, each with its own client:
        exactly as many fit as the capacity allows, the others are refused (False), and
        nothing is overcommitted. Then the instances are deleted."""
        reqs, _, version = self.candidates("wide")
        pick = self.pick(reqs, "cn2")
        before = self.usage("cn2").get("VCPU", 0)
        free = (64 - before) // 12
        consumers = [f"d1000000-0000-4000-8000-00000000000{i}" for i in range(8)]
        results: dict[str, bool] = {}

        def claim(consumer: str) -> None:
            client = _recording_client("scheduler-worker")
            results[consumer] = bool(sched_utils.claim_resources(
                self.ctx, client, self.spec("wide"), consumer, copy.deepcopy(pick), version))

        threads = [threading.Thread(target=claim, args=(c,)) for c in consumers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.check("claims that fit", sorted(results.values()),
                   [False] * (8 - free) + [True] * free)
        self.check("cn2 VCPU used", self.usage("cn2").get("VCPU"), before + 12 * free)
        for consumer, ok in results.items():
            self.check(f"{consumer} deleted", self.conductor.delete_allocation_for_instance(
                self.ctx, consumer, force=True), ok)

    def step_ironic_node(self) -> None:
        """An Ironic nova-compute reports a bare-metal node as a root with one unit of a
        custom class; while the node is unavailable it reserves the whole unit (allowed
        from 1.26), so the scheduler finds nothing; once available, a flavor that zeroes
        the standard classes gets it."""
        client = _recording_client("compute-ironic")
        tree = client.get_provider_subtree_and_ensure_root(self.ctx, IDS["ironic"],
                                                           name="ironic-node-1")
        unavailable = {"CUSTOM_BAREMETAL_GOLD": _inv(1, reserved=1)}
        tree.update_inventory("ironic-node-1", unavailable)
        tree.update_traits("ironic-node-1", [ot.COMPUTE_NODE, ot.OWNER_NOVA])
        client.update_from_provider_tree(self.ctx, tree)
        inv = client._get_inventory(self.ctx, IDS["ironic"])["inventories"]
        self.check("reserved = total", inv["CUSTOM_BAREMETAL_GOLD"], unavailable[
            "CUSTOM_BAREMETAL_GOLD"])
        self.check("the class was created", [c[1:] for c in CALLS if c[0] == "compute-ironic"
                                             and c[2].startswith("/resource_classes/")],
                   [["PUT", "/resource_classes/CUSTOM_BAREMETAL_GOLD", "1.7", 201]])
        reqs, _, _ = self.candidates("baremetal", member_of=None)
        self.check("unavailable: no candidate", reqs, [])
        tree = client.get_provider_subtree_and_ensure_root(self.ctx, IDS["ironic"],
                                                           name="ironic-node-1")
        tree.update_inventory("ironic-node-1", {"CUSTOM_BAREMETAL_GOLD": _inv(1)})
        client.update_from_provider_tree(self.ctx, tree)
        reqs, _, version = self.candidates("baremetal", member_of=None)
        self.check("available", [r["allocations"] for r in reqs], [
            {IDS["ironic"]: {"resources": {"CUSTOM_BAREMETAL_GOLD": 1}}}])
        self.check("claimed", sched_utils.claim_resources(
            self.ctx, self.scheduler, self.spec("baremetal"), IDS["bm_inst"], reqs[0],
            version), True)
        self.check("taken", self.candidates("baremetal", member_of=None)[0], [])
        self.check("deleted", client.delete_allocation_for_instance(self.ctx, IDS["bm_inst"]),
                   True)
        client.delete_resource_provider(self.ctx, objects.ComputeNode(
            uuid=IDS["ironic"], host="ironic-host", hypervisor_hostname="ironic-node-1"))
        self.check("node gone", client.get_providers_in_tree(self.ctx, IDS["ironic"]), [])

    def step_claim_refusals(self) -> None:
        """A claim for a consumer that already exists (generation None) is a consumer
        generation conflict nova recognises; one that does not fit is refused; a stale
        consumer generation is refused."""
        payload = {"allocations": {IDS["cn2"]: {"resources": {"VCPU": 1}}},
                   "project_id": IDS["project"], "user_id": IDS["user"],
                   "consumer_generation": None}
        self.raises("existing consumer, generation None", "AllocationUpdateFailed",
                    lambda: self.scheduler.put_allocations(self.ctx, IDS["inst1"], payload))
        too_big = {"allocations": {IDS["cn1"]: {"resources": {"VCPU": 100}}}}
        ok = self.scheduler.claim_resources(
            self.ctx, IDS["inst2"], too_big, IDS["project"], IDS["user"],
            allocation_request_version="1.36")
        self.check("over capacity: claim_resources says no", ok, False)
        self.check("nothing allocated", self.allocs("inst2"), {})
        stale = dict(payload, consumer_generation=0)
        self.raises("stale consumer generation", "AllocationUpdateFailed",
                    lambda: self.scheduler.put_allocations(self.ctx, IDS["inst1"], stale))
        self.check("inst1 untouched", self.allocs("inst1"), {
            "cn1": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}})
        self.check("no blind retries: one PUT each", [c[1] for c in writes("scheduler")],
                   ["PUT", "PUT", "PUT"])

    def step_boot_vgpu_legacy(self) -> None:
        """A vGPU instance lands on cn1 while its vGPUs are still on the root."""
        reqs, _, version = self.candidates("vgpu")
        self.check("candidates", [r["allocations"] for r in reqs], [
            {IDS["cn1"]: {"resources": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10,
                                        "VGPU": 1}}}])
        self.check("claimed", sched_utils.claim_resources(
            self.ctx, self.scheduler, self.spec("vgpu"), IDS["inst_vgpu"], reqs[0], version),
            True)

    def step_compute_restart_reshape(self) -> None:
        """nova-compute restarts with a driver that puts vGPUs on one child provider per
        physical GPU: the driver asks for a reshape, and the inventory and the allocation
        move in one POST /reshaper."""
        self.compute["cn1"] = _recording_client("compute1")  # a new process: empty cache
        self.virt["cn1"].vgpu_on_root = False
        self.virt["cn1"].pgpus = ("pgpu1", "pgpu2")
        result = rt_update(self.compute["cn1"], self.virt["cn1"])
        self.check("reshaped in one pass", result, {"attempts": 1, "reshaped": True})
        reshapes = [c for c in CALLS if c[2] == "/reshaper"]
        self.check("POST /reshaper", [c[1:] for c in reshapes],
                   [["POST", "/reshaper", "1.30", 204]])
        tree = self.tree("cn1")
        self.check("root inventory", tree["cn1"]["inventory"], {
            "VCPU": 16, "MEMORY_MB": 32768, "DISK_GB": 500})
        for key in ("pgpu1", "pgpu2"):
            self.check(f"{key}", tree[key], {
                "name": PGPU_NAMES[key], "parent": "cn1", "inventory": {"VGPU": 4},
                "traits": ["CUSTOM_NVIDIA_GRID", "OWNER_NOVA"], "aggregates": []})
        self.check("neutron's providers kept", [tree["ovs_agent"]["parent"],
                                                tree["ovs_bridge"]["parent"]],
                   ["cn1", "ovs_agent"])
        self.check("the vGPU instance's allocation moved", self.allocs("inst_vgpu"), {
            "cn1": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, "pgpu1": {"VGPU": 1}})
        self.check("inst1 untouched", self.allocs("inst1"), {
            "cn1": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}})
        self.check("pgpu1 usage", self.usage("pgpu1"), {"VGPU": 1})
        start = len(CALLS)
        again = rt_update(self.compute["cn1"], self.virt["cn1"])
        self.check("the next periodic: nothing to do", again, {"attempts": 1, "reshaped": False})
        self.check("and no write", [c for c in CALLS[start:] if c[1] != "GET"], [])

    def step_reshape_conflict(self) -> None:
        """A reshape sent with a stale provider generation is the conflict nova
        recognises (placement.concurrent_update): it clears its cache and can redrive."""
        client = self.compute["cn1"]
        tree = client.get_provider_subtree_and_ensure_root(self.ctx, IDS["cn1"], name="cn1")
        allocs = client.get_allocations_for_provider_tree(self.ctx, "cn1")
        stale = copy.deepcopy(tree)
        stale.update_inventory("cn1", stale.data("cn1").inventory,
                               generation=stale.data("cn1").generation - 1)
        self.raises("stale reshape", "PlacementReshapeConflict",
                    lambda: client._set_up_and_do_reshape(self.ctx, tree, stale, allocs))
        self.check("nothing moved", self.allocs("inst_vgpu"), {
            "cn1": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, "pgpu1": {"VGPU": 1}})

    def step_schedule_vgpu_nested(self) -> None:
        """With vGPUs on the children, a vGPU flavor gets one candidate per physical GPU,
        and the claim spans the root and a child."""
        reqs, summaries, version = self.candidates("vgpu")
        found = sorted((r["allocations"][IDS["pgpu1"]] if IDS["pgpu1"] in r["allocations"]
                        else r["allocations"][IDS["pgpu2"]])["resources"]["VGPU"] for r in reqs)
        self.check("two candidates", found, [1, 1])
        gpus = sorted(rp for r in reqs for rp in r["allocations"] if rp != IDS["cn1"])
        self.check("one per physical GPU", gpus, sorted([IDS["pgpu1"], IDS["pgpu2"]]))
        self.check("pgpu1 summary", summaries[IDS["pgpu1"]]["resources"]["VGPU"],
                   {"capacity": 4, "used": 1})
        granular, _, _ = self.candidates("vgpu_granular")
        self.check("granular: the group's mapping", sorted(
            r["mappings"]["_GPU"][0] for r in granular), sorted([IDS["pgpu1"], IDS["pgpu2"]]))
        self.check("granular: the unsuffixed part on the root", {
            rp for r in granular for rp in r["mappings"][""]}, {IDS["cn1"]})
        on_pgpu2 = next(r for r in reqs if IDS["pgpu2"] in r["allocations"])
        self.check("claimed", sched_utils.claim_resources(
            self.ctx, self.scheduler, self.spec("vgpu"), IDS["inst_vgpu2"], on_pgpu2, version),
            True)
        self.check("allocation", self.allocs("inst_vgpu2"), {
            "cn1": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, "pgpu2": {"VGPU": 1}})

    def step_reshape_replace_child(self) -> None:
        """The driver replaces one physical GPU's provider by another (a new device
        address): one reshape creates the new child, moves the vGPU allocation onto it,
        empties the old one (sent with no inventory) and rewrites every consumer of the
        tree; the old provider is deleted after."""
        virt = self.virt["cn1"]
        virt.pgpus = ("pgpu1", "pgpu3")
        virt.moves = {"pgpu2": "pgpu3"}
        result = rt_update(self.compute["cn1"], virt)
        virt.moves = {}
        # The vGPU claim since nova-compute last read its tree moved cn1's generation:
        # the first reshape is refused as stale (as Placement refuses it), nova clears its
        # cache and redrives.
        self.check("reshaped", result, {"attempts": 2, "reshaped": True})
        reshape = [c for c in CALLS if c[2] == "/reshaper"]
        self.check("stale, then done", [c[4] for c in reshape], [409, 204])
        deleted = [c[2] for c in CALLS if c[1] == "DELETE"]
        self.check("old provider deleted after", deleted,
                   [f"/resource_providers/{IDS['pgpu2']}"])
        self.check("children", sorted(self.tree("cn1")),
                   ["cn1", "ovs_agent", "ovs_bridge", "pgpu1", "pgpu3"])
        self.check("the allocation moved", self.allocs("inst_vgpu2"), {
            "cn1": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, "pgpu3": {"VGPU": 1}})
        self.check("the others kept", [self.allocs("inst_vgpu"), self.allocs("inst1")], [
            {"cn1": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, "pgpu1": {"VGPU": 1}},
            {"cn1": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}}])
        self.check("pgpu3 usage", self.usage("pgpu3"), {"VGPU": 1})
        start = len(CALLS)
        self.check("then quiet", rt_update(self.compute["cn1"], virt),
                   {"attempts": 1, "reshaped": False})
        self.check("no write", [c for c in CALLS[start:] if c[1] != "GET"], [])

    # --- nova-conductor and nova-compute: moves -------------------------------------------------

    def step_resize_confirm(self) -> None:
        """Resize inst1 to cn2: the conductor moves its allocation to the migration, the
        scheduler claims the new flavor on cn2 for the instance, and the source compute
        drops the migration's allocation on confirm."""
        ok = self.conductor.move_allocations(self.ctx, IDS["inst1"], IDS["mig1"])
        self.check("moved to the migration", ok, True)
        self.check("migration holds the source", self.allocs("mig1"), {
            "cn1": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}})
        self.check("instance holds nothing", self.allocs("inst1"), {})
        self.check("claimed on cn2", self.schedule("inst1", "medium", "cn2"), True)
        self.check("instance on cn2", self.allocs("inst1"), {
            "cn2": {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40}})
        deleted = self.compute["cn1"].delete_allocation_for_instance(
            self.ctx, IDS["mig1"], consumer_type="migration", force=False)
        self.check("confirm: migration's allocation deleted", deleted, True)
        self.check("migration gone", self.allocs("mig1"), {})
        self.check("cn1 usage", self.usage("cn1"), {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20})
        self.check("cn2 usage", self.usage("cn2"), {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40})

    def step_resize_revert(self) -> None:
        """Resize inst1 back to cn1, then revert: the source compute moves the migration's
        allocation back to the instance, replacing the destination's."""
        self.check("moved to the migration",
                   self.conductor.move_allocations(self.ctx, IDS["inst1"], IDS["mig2"]), True)
        self.check("claimed on cn1", self.schedule("inst1", "large", "cn1"), True)
        self.check("instance on cn1", self.allocs("inst1"), {
            "cn1": {"VCPU": 8, "MEMORY_MB": 8192, "DISK_GB": 40}})
        held = self.compute["cn2"].get_allocations_for_consumer(self.ctx, IDS["mig2"])
        self.check("the migration's allocation", sorted(held), [IDS["cn2"]])
        ok = self.compute["cn2"].move_allocations(self.ctx, IDS["mig2"], IDS["inst1"])
        self.check("reverted", ok, True)
        self.check("instance back on cn2", self.allocs("inst1"), {
            "cn2": {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40}})
        self.check("migration gone", self.allocs("mig2"), {})
        self.check("cn1 usage", self.usage("cn1"), {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20})
        # moving again finds nothing to move: nova takes it as already done
        self.check("a repeated revert", self.compute["cn2"].move_allocations(
            self.ctx, IDS["mig2"], IDS["inst1"]), True)

    def step_evacuate(self) -> None:
        """cn2 goes down: the scheduler's claim on cn1 doubles the instance's allocation
        (source and destination); when cn2 comes back its compute removes the source
        part. Then a forced evacuation back to cn2 (the conductor's
        claim_resources_on_destination), and the same clean-up on cn1."""
        self.check("claimed on cn1", self.schedule("inst1", "medium", "cn1"), True)
        both = {"cn1": {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40},
                "cn2": {"VCPU": 4, "MEMORY_MB": 4096, "DISK_GB": 40}}
        self.check("doubled up", self.allocs("inst1"), both)
        self.compute["cn2"].remove_provider_tree_from_instance_allocation(
            self.ctx, IDS["inst1"], IDS["cn2"])
        self.check("source part removed", self.allocs("inst1"), {"cn1": both["cn1"]})
        instance = objects.Instance(uuid=IDS["inst1"], project_id=IDS["project"],
                                    user_id=IDS["user"], host="host1", node="cn1")
        source = objects.ComputeNode(uuid=IDS["cn1"], host="host1", hypervisor_hostname="cn1")
        dest = objects.ComputeNode(uuid=IDS["cn2"], host="host2", hypervisor_hostname="cn2")
        sched_utils.claim_resources_on_destination(self.ctx, self.conductor, instance,
                                                   source, dest)
        self.check("forced: doubled up", self.allocs("inst1"), both)
        self.compute["cn1"].remove_provider_tree_from_instance_allocation(
            self.ctx, IDS["inst1"], IDS["cn1"])
        self.check("on cn2 only", self.allocs("inst1"), {"cn2": both["cn2"]})
        self.check("consumer generation", self.api.get_allocs_for_consumer(
            self.ctx, IDS["inst1"])["consumer_generation"], 6)

    # --- nova-compute: ports ------------------------------------------------------------------

    def _port_request(self, bandwidth: int) -> Any:
        bw = objects.RequestGroup(
            requester_id=IDS["port"] + "-bw", use_same_provider=True,
            resources={"NET_BW_EGR_KILOBIT_PER_SEC": bandwidth,
                       "NET_BW_IGR_KILOBIT_PER_SEC": bandwidth},
            required_traits={"CUSTOM_PHYSNET_PUBLIC", "CUSTOM_VNIC_TYPE_NORMAL"},
            in_tree=IDS["cn1"])
        pps = objects.RequestGroup(
            requester_id=IDS["port"] + "-pps", use_same_provider=True,
            resources={"NET_PACKET_RATE_KILOPACKET_PER_SEC": 100},
            required_traits={"CUSTOM_VNIC_TYPE_NORMAL"}, in_tree=IDS["cn1"])
        return sched_utils.ResourceRequest.from_request_groups(
            [bw, pps], objects.RequestLevelParams(), "none")

    def step_interface_attach_detach(self) -> None:
        """Attach a port with a bandwidth and packet-rate request to the vGPU instance on
        cn1 (candidates restricted to cn1's tree, the allocation grown), then detach it."""
        before = self.allocs("inst_vgpu")
        reqs, _, _ = self.compute["cn1"].get_allocation_candidates(
            self.ctx, self._port_request(1000))
        self.check("one candidate", len(reqs), 1)
        resources = reqs[0]["allocations"]
        self.check("port's resources", resources, {
            IDS["ovs_bridge"]: {"resources": {"NET_BW_EGR_KILOBIT_PER_SEC": 1000,
                                              "NET_BW_IGR_KILOBIT_PER_SEC": 1000}},
            IDS["ovs_agent"]: {"resources": {"NET_PACKET_RATE_KILOPACKET_PER_SEC": 100}}})
        self.check("mappings", reqs[0]["mappings"], {
            IDS["port"] + "-bw": [IDS["ovs_bridge"]], IDS["port"] + "-pps": [IDS["ovs_agent"]]})
        self.compute["cn1"].add_resources_to_instance_allocation(
            self.ctx, IDS["inst_vgpu"], resources)
        self.check("attached", self.allocs("inst_vgpu"), {
            **before,
            "ovs_bridge": {"NET_BW_EGR_KILOBIT_PER_SEC": 1000, "NET_BW_IGR_KILOBIT_PER_SEC": 1000},
            "ovs_agent": {"NET_PACKET_RATE_KILOPACKET_PER_SEC": 100}})
        self.check("bridge usage", self.usage("ovs_bridge"), {
            "NET_BW_EGR_KILOBIT_PER_SEC": 1000, "NET_BW_IGR_KILOBIT_PER_SEC": 1000})
        big, _, _ = self.compute["cn1"].get_allocation_candidates(
            self.ctx, self._port_request(9500))
        self.check("no room for a second, larger port", big, [])
        too_much = {IDS["ovs_bridge"]: {"resources": {"NET_BW_EGR_KILOBIT_PER_SEC": 9500}}}
        self.raises("adding past capacity", "AllocationUpdateFailed",
                    lambda: self.compute["cn1"].add_resources_to_instance_allocation(
                        self.ctx, IDS["inst_vgpu"], too_much))
        self.compute["cn1"].remove_resources_from_instance_allocation(
            self.ctx, IDS["inst_vgpu"], resources)
        self.check("detached", self.allocs("inst_vgpu"), before)
        self.check("bridge usage after", self.usage("ovs_bridge"), {})
        self.raises("removing what is not there", "AllocationUpdateFailed",
                    lambda: self.compute["cn1"].remove_resources_from_instance_allocation(
                        self.ctx, IDS["inst_vgpu"], resources))

    # --- nova-api and nova-conductor: quota -----------------------------------------------------

    def step_quota_usage(self) -> None:
        """Quota counted from placement (counting_quota_usage_from_placement, unified
        limits)."""
        counts = self.api.get_usages_counts_for_quota(self.ctx, IDS["project"], IDS["user"])
        expected = {"cores": 4 + 1 + 1, "ram": 4096 + 1024 + 1024}
        self.check("project and user", counts, {"project": expected, "user": expected})
        self.check("limits", self.api.get_usages_counts_for_limits(self.ctx, IDS["project"]), {
            "VCPU": 6, "MEMORY_MB": 6144, "DISK_GB": 60, "VGPU": 2})
        self.check("another project", self.api.get_usages_counts_for_quota(
            self.ctx, IDS["inst2"]), {"project": {"cores": 0, "ram": 0}})

    # --- shared storage ----------------------------------------------------------------------

    def step_shared_storage(self) -> None:
        """An operator adds a shared disk pool to agg1 (MISC_SHARES_VIA_AGGREGATE): the
        scheduler gets candidates taking the disk from it, although it lacks the root
        trait nova requires (root traits apply to the compute's tree, not to sharing
        providers); a claim spans cn1 and the pool; nova-compute loads the pool into its
        cache on restart, reports its node, and leaves the pool alone."""
        api = self.api
        made = api.post("/resource_providers", {"uuid": IDS["shared_disk"],
                                                "name": "shared-disk"}, version="1.20")
        inv = api.put(f"/resource_providers/{IDS['shared_disk']}/inventories", {
            "resource_provider_generation": 0,
            "inventories": {"DISK_GB": _inv(2000)}}, version="1.26")
        gen = inv.json()["resource_provider_generation"]
        traits = api.put(f"/resource_providers/{IDS['shared_disk']}/traits", {
            "resource_provider_generation": gen,
            "traits": ["MISC_SHARES_VIA_AGGREGATE"]}, version="1.6")
        aggs = api.put(f"/resource_providers/{IDS['shared_disk']}/aggregates", {
            "resource_provider_generation": traits.json()["resource_provider_generation"],
            "aggregates": [IDS["agg1"]]}, version="1.19")
        self.check("pool created", [r.status_code for r in (made, inv, traits, aggs)],
                   [200, 200, 200, 200])
        names = {v: k for k, v in IDS.items()}
        reqs, summaries, version = self.candidates("small")
        self.check("candidates", sorted(
            sorted(f"{names[rp]}:{','.join(sorted(a['resources']))}"
                   for rp, a in r["allocations"].items()) for r in reqs), [
            ["cn1:DISK_GB,MEMORY_MB,VCPU"],
            ["cn1:MEMORY_MB,VCPU", "shared_disk:DISK_GB"],
            ["cn2:DISK_GB,MEMORY_MB,VCPU"],
            ["cn2:MEMORY_MB,VCPU", "shared_disk:DISK_GB"]])
        self.check("pool summary", summaries[IDS["shared_disk"]]["resources"],
                   {"DISK_GB": {"capacity": 2000, "used": 0}})
        pick = next(r for r in reqs if set(r["allocations"]) == {IDS["cn1"], IDS["shared_disk"]})
        self.check("claimed", sched_utils.claim_resources(
            self.ctx, self.scheduler, self.spec("small"), IDS["inst2"], pick, version), True)
        self.check("allocation", self.allocs("inst2"), {
            "cn1": {"VCPU": 2, "MEMORY_MB": 2048}, "shared_disk": {"DISK_GB": 20}})
        self.compute["cn1"] = _recording_client("compute1")  # a restart
        start = len(CALLS)
        self.check("reported", rt_update(self.compute["cn1"], self.virt["cn1"]),
                   {"attempts": 1, "reshaped": False})
        self.check("no write", [c for c in CALLS[start:] if c[1] != "GET"], [])
        cache = self.compute["cn1"]._provider_tree
        self.check("the pool in nova-compute's cache", [
            cache.exists(IDS["shared_disk"]),
            cache.has_sharing_provider("DISK_GB")], [True, True])
        held = self.compute["cn1"].get_allocations_for_provider_tree(self.ctx, "cn1")
        self.check("inst2 seen from cn1's tree, pool included", sorted(
            names[rp] for rp in held[IDS["inst2"]]["allocations"]), ["cn1", "shared_disk"])
        # A reshape that moves nothing, as the PCI translator sends when it heals. nova 34
        # reshapes the node's subtree but lists every provider of its cache that is not
        # in it as removed: the pool goes in with no inventory while inst2 keeps its disk
        # there. Placement refuses that (the class is in use) and so does corral, with
        # the same code; nova raises ReshapeFailed and nothing moves.
        gen = held[IDS["inst2"]]["consumer_generation"]
        tree = self.compute["cn1"].get_provider_subtree_and_ensure_root(
            self.ctx, IDS["cn1"], name="cn1")
        try:
            self.compute["cn1"].update_from_provider_tree(self.ctx, tree, allocations=held)
            failure = "nothing raised"
        except exception.ReshapeFailed as exc:
            failure = str(exc)
        self.check("refused", [c[4] for c in CALLS if c[2] == "/reshaper"], [409])
        self.check("ReshapeFailed, as an inventory in use",
                   "placement.inventory.inuse" in failure, True)
        after = self.api.get_allocs_for_consumer(self.ctx, IDS["inst2"])
        self.check("inst2 untouched", [
            {names[rp]: a["resources"] for rp, a in after["allocations"].items()},
            after["consumer_generation"]], [
            {"cn1": {"VCPU": 2, "MEMORY_MB": 2048}, "shared_disk": {"DISK_GB": 20}}, gen])
        self.check("the pool's inventory untouched", self.api._get_inventory(
            self.ctx, IDS["shared_disk"])["inventories"]["DISK_GB"]["total"], 2000)
        self.check("deleted", self.compute["cn1"].delete_allocation_for_instance(
            self.ctx, IDS["inst2"]), True)
        self.check("pool usage", self.usage("shared_disk"), {})

    # --- nova-compute: inventory in use, a device removed ---------------------------------------

    def step_inventory_in_use(self) -> None:
        """The driver stops reporting disk while instances use it: nova recognises
        placement.inventory.inuse; reporting it again writes nothing."""
        virt = self.virt["cn1"]
        virt.disk_gb = None
        self.raises("disk removed under allocations", "InventoryInUse",
                    lambda: rt_update(self.compute["cn1"], virt))
        virt.disk_gb = 500
        start = len(CALLS)
        self.check("back", rt_update(self.compute["cn1"], virt), {"attempts": 1,
                                                                  "reshaped": False})
        self.check("no write", [c for c in CALLS[start:] if c[1] != "GET"], [])
        virt.vcpus = 4  # shrink VCPU below what is allocated: placement keeps it (overcommit)
        self.check("shrunk below usage", rt_update(self.compute["cn1"], virt)["attempts"], 1)
        self.check("VCPU total", self.tree("cn1")["cn1"]["inventory"]["VCPU"], 4)
        virt.vcpus = 16
        rt_update(self.compute["cn1"], virt)

    def step_gpu_removed(self) -> None:
        """A physical GPU disappears: while it holds an allocation its provider cannot go
        (ResourceProviderSyncFailed, the provider stays); once the instance is gone the
        next update deletes it."""
        virt = self.virt["cn1"]
        virt.pgpus = ("pgpu1",)
        self.raises("in use", "ResourceProviderSyncFailed",
                    lambda: rt_update(self.compute["cn1"], virt))
        self.check("still there", sorted(self.tree("cn1")),
                   ["cn1", "ovs_agent", "ovs_bridge", "pgpu1", "pgpu3"])
        self.check("instance deleted", self.compute["cn1"].delete_allocation_for_instance(
            self.ctx, IDS["inst_vgpu2"]), True)
        self.check("updated", rt_update(self.compute["cn1"], virt)["attempts"], 1)
        self.check("gone", sorted(self.tree("cn1")), ["cn1", "ovs_agent", "ovs_bridge", "pgpu1"])

    # --- deletes ------------------------------------------------------------------------------

    def step_delete_instances(self) -> None:
        """Deleting instances: with the consumer generation (GET then PUT {}), then forced
        (DELETE), and both again on nothing."""
        c = self.compute["cn2"]
        self.check("inst1", c.delete_allocation_for_instance(self.ctx, IDS["inst1"]), True)
        self.check("inst1 again", c.delete_allocation_for_instance(self.ctx, IDS["inst1"]), False)
        c1 = self.compute["cn1"]
        self.check("inst_vgpu forced", c1.delete_allocation_for_instance(
            self.ctx, IDS["inst_vgpu"], force=True), True)
        self.check("forced again", c1.delete_allocation_for_instance(
            self.ctx, IDS["inst_vgpu"], force=True), False)
        self.check("usages", [self.usage(n) for n in ("cn1", "cn2", "pgpu1")], [{}, {}, {}])
        self.check("project usage", self.api.get_usages_counts_for_limits(
            self.ctx, IDS["project"]), {})

    def step_compute_reinstalled(self) -> None:
        """A reinstalled host comes back with a new compute node uuid under the same name:
        placement refuses the name, and nova takes the name-conflict branch (it does not
        mistake it for another thread creating the same uuid)."""
        client = _recording_client("compute2-new")
        self.raises("name taken", "ResourceProviderCreationFailed",
                    lambda: client.get_provider_subtree_and_ensure_root(
                        self.ctx, IDS["cn2_reinstalled"], name="cn2"))
        post = [c for c in CALLS if c[0] == "compute2-new" and c[1] == "POST"]
        self.check("refused", [c[4] for c in post], [409])
        self.check("nova read it as a name conflict", any(
            "Failed to create resource provider record" in line for line in LOG_LINES), True)
        self.check("not as a uuid race", any(
            "Another thread already created" in line for line in LOG_LINES), False)

    def step_delete_compute_nodes(self) -> None:
        """nova-api deletes the compute services: each node's whole tree, children first
        (neutron's providers included)."""
        for node in ("cn1", "cn2"):
            cn = objects.ComputeNode(uuid=NODE[node], host=HOST[node],
                                     hypervisor_hostname=node)
            self.api.delete_resource_provider(self.ctx, cn, cascade=False)
            self.check(f"{node} tree gone", self.api.get_providers_in_tree(
                self.ctx, NODE[node]), [])
        names = {v: k for k, v in IDS.items()}
        order = [names[c[2].rsplit("/", 1)[1]] for c in writes("api") if c[1] == "DELETE"]
        self.check("each deleted once", sorted(order),
                   ["cn1", "cn2", "ovs_agent", "ovs_bridge", "pgpu1"])
        self.check("children before their parent", [
            order.index(child) < order.index(parent) for child, parent in
            (("ovs_bridge", "ovs_agent"), ("ovs_agent", "cn1"), ("pgpu1", "cn1"))],
            [True, True, True])
        self.check("all 204", {c[4] for c in writes("api")}, {204})
        self.check("the shared pool is not nova's to delete", self.api._get_resource_provider(
            self.ctx, IDS["shared_disk"])["name"], "shared-disk")


def _plain(value: Any) -> Any:
    """JSON-able, with sets as sorted lists and tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@contextlib.contextmanager
def _captured() -> Iterator[None]:
    CALLS.clear()
    LOG_LINES.clear()
    yield


def main() -> int:
    handler = _Capture(level=logging.WARNING)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    version = _import_nova()
    steps = [name[len("step_"):] for name in vars(Scenario) if name.startswith("step_")]
    print(json.dumps({"ready": True, "nova": version, "ids": IDS, "steps": steps}), flush=True)
    scenario: Scenario | None = None
    for line in sys.stdin:
        name, *args = line.split()
        if name == "connect":  # connect URL TOKEN: a new deployment, new services
            _configure(*args)
            scenario = Scenario()
            print(json.dumps({"connected": args[0]}), flush=True)
            continue
        assert scenario is not None, "connect first"
        scenario.checks = []
        error = None
        with _captured():
            try:
                getattr(scenario, f"step_{name}")()
            except Exception:
                error = traceback.format_exc()
            result = {"step": name, "ok": error is None, "checks": scenario.checks,
                      "calls": [list(c) for c in CALLS], "log": list(LOG_LINES),
                      "error": error}
        print(json.dumps(_plain(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
