"""The state Placement's gabbi fixtures start from, built through corral's HTTP API.

Placement's functional tests name a fixture at the top of each YAML file
(``fixtures: [AllocationFixture]``); Placement's own fixtures write providers,
inventories, traits, aggregates and allocations straight into its database and publish
identifiers as environment variables that the YAML reads as ``$ENVIRON['...']``. This
module builds the same state through the public API of a running corral, and returns
the same variables. Nothing of Placement is imported: the trees below were read from
its fixtures' descriptions and rebuilt here.

The requests are chosen so provider generations end where Placement's do: a provider
is created at generation 0; each inventory added, each trait set and each allocation
written moves it by one; aggregates are set below microversion 1.19, which leaves the
generation alone (as Placement's fixtures do by writing them directly).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

ADMIN = {"x-auth-token": "admin", "accept": "application/json"}


def _uuid() -> str:
    return str(uuid.uuid4())


@dataclass
class Builder:
    """Writes through the API with the admin token; fails loudly on any refusal."""

    http: httpx.Client
    env: dict[str, str] = field(default_factory=dict)
    _classes: set[str] = field(default_factory=set)
    _traits: set[str] = field(default_factory=set)
    _named: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, version: str, body: Any = None) -> Any:
        headers = {**ADMIN, "openstack-api-version": f"placement {version}"}
        resp = self.http.request(method, path, headers=headers, json=body)
        if resp.status_code >= 300:
            raise AssertionError(f"fixture step {method} {path} at {version}: "
                                 f"{resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def provider(self, name: str, *aggregates: str, parent: str | None = None,
                 rp_uuid: str | None = None) -> str:
        """Create a provider (its uuid is stable per name, as Placement's sentinels are)."""
        rp = rp_uuid or self._named.setdefault(name, _uuid())
        body: dict[str, Any] = {"name": name, "uuid": rp}
        if parent:
            body["parent_provider_uuid"] = parent
        self.call("POST", "/resource_providers", "1.20", body)
        if aggregates:
            self.aggregates(rp, *aggregates)
        return rp

    def aggregates(self, rp: str, *aggregates: str) -> None:
        self.call("PUT", f"/resource_providers/{rp}/aggregates", "1.1", list(aggregates))

    def generation(self, rp: str) -> int:
        return int(self.call("GET", f"/resource_providers/{rp}", "1.14")["generation"])

    def resource_class(self, name: str) -> None:
        if name.startswith("CUSTOM_") and name not in self._classes:
            self.call("PUT", f"/resource_classes/{name}", "1.7")
            self._classes.add(name)

    def inventory(self, rp: str, rc: str, total: int, **fields: Any) -> None:
        self.resource_class(rc)
        fields.setdefault("max_unit", total)
        body = {"resource_class": rc, "total": total,
                "resource_provider_generation": self.generation(rp), **fields}
        self.call("POST", f"/resource_providers/{rp}/inventories", "1.0", body)

    def traits(self, rp: str, *names: str) -> None:
        for name in names:
            if name.startswith("CUSTOM_") and name not in self._traits:
                self.call("PUT", f"/traits/{name}", "1.6")
                self._traits.add(name)
        body = {"traits": list(names), "resource_provider_generation": self.generation(rp)}
        self.call("PUT", f"/resource_providers/{rp}/traits", "1.6", body)

    def allocate(self, rp: str, consumer: str, resources: dict[str, int], *,
                 project: str, user: str) -> None:
        """A new consumer's allocation on one provider (no consumer type, as Placement's)."""
        body = {"allocations": {rp: {"resources": resources}}, "project_id": project,
                "user_id": user, "consumer_generation": None}
        self.call("PUT", f"/allocations/{consumer}", "1.28", body)


# --- the fixtures ------------------------------------------------------------------------

def api_fixture(b: Builder) -> None:
    """APIFixture: no state, only identifiers the files use."""
    for name in ("RP_UUID", "RP_NAME", "RP_UUID1", "RP_NAME1", "RP_UUID2", "RP_NAME2",
                 "PROJECT_ID", "ADMIN_PROJECT_ID", "SERVICE_PROJECT_ID", "USER_ID",
                 "PROJECT_ID_ALT", "USER_ID_ALT", "INSTANCE_UUID", "MIGRATION_UUID",
                 "CONSUMER_UUID", "PARENT_PROVIDER_UUID", "ALT_PARENT_PROVIDER_UUID"):
        b.env[name] = _uuid()
    b.env.update(CUSTOM_RES_CLASS="CUSTOM_IRON_NFV", CUSTOM_RES_CLASS1="CUSTOM_IRON_NFV1",
                 CUSTOM_RES_CLASS2="CUSTOM_IRON_NFV2")


def allocation_fixture(b: Builder) -> None:
    """One provider (VCPU 10, DISK_GB 2048 in steps of 10) and three consumers on it."""
    api_fixture(b)
    env = b.env
    env["ALT_USER_ID"] = _uuid()
    project, user, alt_user = env["PROJECT_ID"], env["USER_ID"], env["ALT_USER_ID"]
    rp = b.provider(env["RP_NAME"], rp_uuid=env["RP_UUID"])
    b.inventory(rp, "DISK_GB", 2048, step_size=10, min_unit=10, max_unit=1000)
    b.inventory(rp, "VCPU", 10, max_unit=10)
    env["CONSUMER_0"], env["CONSUMER_ID"], env["ALT_CONSUMER_ID"] = _uuid(), _uuid(), _uuid()
    b.allocate(rp, env["CONSUMER_0"], {"DISK_GB": 1000}, project=project, user=user)
    b.allocate(rp, env["CONSUMER_ID"], {"VCPU": 6}, project=project, user=user)
    b.allocate(rp, env["ALT_CONSUMER_ID"], {"DISK_GB": 20, "VCPU": 1},
               project=project, user=alt_user)
    env["ALT_RP_UUID"], env["ALT_RP_NAME"] = _uuid(), _uuid()


def shared_storage_fixture(b: Builder) -> None:
    """Two compute nodes (NUMA children, PF grandchildren) and two sharing disks."""
    api_fixture(b)
    env = b.env
    agg = env["AGG_UUID"] = _uuid()
    ids = {name: b.provider(name, agg) for name in ("cn1", "cn2", "ss", "ss2")}
    for cn in ("1", "2"):
        for numa in ("1", "2"):
            ids[f"numa{cn}_{numa}"] = b.provider(f"numa{cn}_{numa}", parent=ids[f"cn{cn}"])
    for cn in ("1", "2"):
        for numa in ("1", "2"):
            ids[f"pf{cn}_{numa}"] = b.provider(f"pf{cn}_{numa}", parent=ids[f"numa{cn}_{numa}"])
    for name, rp in ids.items():
        env[f"{name.upper()}_UUID"] = rp
    for cn in ("cn1", "cn2"):
        b.inventory(ids[cn], "VCPU", 24, allocation_ratio=16.0)
        b.inventory(ids[cn], "MEMORY_MB", 128 * 1024, allocation_ratio=1.5)
    b.traits(ids["cn1"], "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2")
    b.inventory(ids["cn2"], "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
    for ss in ("ss", "ss2"):
        b.inventory(ids[ss], "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
        b.traits(ids[ss], "MISC_SHARES_VIA_AGGREGATE")
    for pf in ("pf1_1", "pf1_2", "pf2_1", "pf2_2"):
        b.inventory(ids[pf], "SRIOV_NET_VF", 8, allocation_ratio=1.0)


def numa_aggregate_fixture(b: Builder) -> None:
    """Two resourceless compute nodes with VCPU on NUMA children, sharing disks."""
    api_fixture(b)
    env = b.env
    agg_a, agg_b, agg_c = env["AGGA_UUID"], env["AGGB_UUID"], env["AGGC_UUID"] = (
        _uuid(), _uuid(), _uuid())
    cn1 = b.provider("cn1", agg_a)
    cn2 = b.provider("cn2", agg_a, agg_b)
    ss1 = b.provider("ss1", agg_a)
    ss2 = b.provider("ss2", agg_c)
    numas = {"numa1_1": b.provider("numa1_1", agg_c, parent=cn1),
             "numa1_2": b.provider("numa1_2", parent=cn1),
             "numa2_1": b.provider("numa2_1", parent=cn2),
             "numa2_2": b.provider("numa2_2", parent=cn2)}
    env.update(CN1_UUID=cn1, CN2_UUID=cn2, SS1_UUID=ss1, SS2_UUID=ss2)
    for name, rp in numas.items():
        env[f"{name.upper()}_UUID"] = rp
        b.inventory(rp, "VCPU", 24, allocation_ratio=16.0)
    for ss in (ss1, ss2):
        b.inventory(ss, "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
        b.traits(ss, "MISC_SHARES_VIA_AGGREGATE")


def _numa_network(b: Builder, cn1: str | None = None, cn2: str | None = None) -> None:
    env = b.env
    agg_a = env["AGGA_UUID"] = _uuid()
    ss1 = b.provider("ss1", agg_a)
    b.traits(ss1, "MISC_SHARES_VIA_AGGREGATE")
    b.inventory(ss1, "DISK_GB", 2000)
    env["SS1_UUID"] = ss1

    cn1 = cn1 or b.provider("cn1", agg_a)
    b.aggregates(cn1, agg_a)
    b.traits(cn1, "COMPUTE_VOLUME_MULTI_ATTACH")
    env["CN1_UUID"] = cn1
    numas = []
    for i in (0, 1):
        numa = b.provider(f"numa{i}", parent=cn1)
        b.traits(numa, "HW_NUMA_ROOT", *(["CUSTOM_FOO"] if i == 1 else []))
        b.inventory(numa, "VCPU", 4)
        numas.append(numa)
        env[f"NUMA{i}_UUID"] = numa
    b.inventory(numas[0], "MEMORY_MB", 2048, min_unit=512, step_size=256)
    b.inventory(numas[1], "MEMORY_MB", 2048, min_unit=256, max_unit=1024)
    owner = {"project": "numafx-project", "user": "numafx-user"}
    b.allocate(numas[0], _uuid(), {"VCPU": 2}, **owner)
    fpga = env["FPGA0_UUID"] = b.provider("fpga0", parent=numas[0])
    b.inventory(fpga, "FPGA", 1)
    pgpu = env["PGPU0_UUID"] = b.provider("pgpu0", parent=numas[0])
    b.inventory(pgpu, "VGPU", 8)
    for i in (0, 1):
        fpga = env[f"FPGA1_{i}_UUID"] = b.provider(f"fpga1_{i}", parent=numas[1])
        b.inventory(fpga, "FPGA", 1)
    agent = env["SRIOV_AGENT_UUID"] = b.provider("sriov_agent", parent=cn1)
    b.traits(agent, "CUSTOM_VNIC_TYPE_DIRECT")
    for i in (1, 2):
        dev = env[f"ESN{i}_UUID"] = b.provider(f"esn{i}", parent=agent)
        b.traits(dev, f"CUSTOM_PHYSNET{i}")
        b.inventory(dev, "NET_BW_EGR_KILOBIT_PER_SEC", 10000 * i)
    agent = env["OVS_AGENT_UUID"] = b.provider("ovs_agent", parent=cn1)
    b.traits(agent, "CUSTOM_VNIC_TYPE_NORMAL")
    dev = env["BR_INT_UUID"] = b.provider("br_int", parent=agent)
    b.traits(dev, "CUSTOM_PHYSNET0")
    b.inventory(dev, "NET_BW_EGR_KILOBIT_PER_SEC", 1000)

    cn2 = cn2 or b.provider("cn2")
    b.aggregates(cn2, agg_a)
    b.inventory(cn2, "VCPU", 8)
    b.allocate(cn2, _uuid(), {"VCPU": 3}, **owner)
    b.inventory(cn2, "MEMORY_MB", 2048, min_unit=1024, step_size=128)
    b.inventory(cn2, "DISK_GB", 1000)
    b.traits(cn2, "CUSTOM_FOO")
    env["CN2_UUID"] = cn2
    nics = []
    for i in (1, 2, 3):
        nic = env[f"NIC{i}_UUID"] = b.provider(f"nic{i}", parent=cn2)
        b.traits(nic, "CUSTOM_HW_NIC_ROOT")
        nics.append(nic)
    pfs = [("1_1", nics[0], 1, 4), ("1_2", nics[0], 2, 4),
           ("2_1", nics[1], 1, 2), ("2_2", nics[1], 2, 2),
           ("2_3", nics[1], 1, 2), ("2_4", nics[1], 2, 2),
           ("3_1", nics[2], 1, 8)]
    for suffix, nic, net, vfs in pfs:
        pf = env[f"PF{suffix}_UUID"] = b.provider(f"pf{suffix}", parent=nic)
        b.traits(pf, f"CUSTOM_PHYSNET{net}")
        b.inventory(pf, "CUSTOM_VF", vfs)


def numa_network_fixture(b: Builder) -> None:
    """Compute nodes with NUMA, device and network-agent subtrees, a sharing disk."""
    api_fixture(b)
    _numa_network(b)


def deep_numa_network_fixture(b: Builder) -> None:
    """NUMANetworkFixture with the compute nodes under a parent and a grandparent."""
    api_fixture(b)
    gp1 = b.provider("gp1")
    p1 = b.provider("p1", parent=gp1)
    p2 = b.provider("p2", parent=gp1)
    _numa_network(b, b.provider("cn1", parent=p1), b.provider("cn2", parent=p2))


def non_shared_storage_fixture(b: Builder) -> None:
    """Three compute nodes with local VCPU, memory and disk."""
    api_fixture(b)
    env = b.env
    for name in ("AGGA_UUID", "AGGB_UUID", "AGGC_UUID"):
        env[name] = _uuid()
    for i in (1, 2, 3):
        cn = env[f"CN{i}_UUID"] = b.provider(f"cn{i}")
        b.inventory(cn, "VCPU", 24)
        b.inventory(cn, "MEMORY_MB", 128 * 1024)
        b.inventory(cn, "DISK_GB", 2000)


def granular_fixture(b: Builder) -> None:
    """Three compute nodes and three sharing providers over aggregates A, B and C."""
    api_fixture(b)
    env = b.env
    b.resource_class("CUSTOM_NET_MBPS")
    agg_a, agg_b, agg_c = env["AGGA"], env["AGGB"], env["AGGC"] = _uuid(), _uuid(), _uuid()
    left = env["CN_LEFT"] = b.provider("cn_left", agg_a)
    for rc, total in (("VCPU", 8), ("MEMORY_MB", 4096), ("DISK_GB", 500), ("VGPU", 8),
                      ("SRIOV_NET_VF", 8), ("CUSTOM_NET_MBPS", 4000)):
        b.inventory(left, rc, total)
    b.traits(left, "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC",
             "CUSTOM_FOO")
    middle = env["CN_MIDDLE"] = b.provider("cn_middle", agg_a, agg_b)
    for rc, total in (("VCPU", 8), ("MEMORY_MB", 4096), ("SRIOV_NET_VF", 8),
                      ("CUSTOM_NET_MBPS", 4000)):
        b.inventory(middle, rc, total)
    b.traits(middle, "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS")
    right = env["CN_RIGHT"] = b.provider("cn_right", agg_b, agg_c)
    b.inventory(right, "VCPU", 8)
    b.inventory(right, "MEMORY_MB", 4096)
    b.inventory(right, "DISK_GB", 500)
    b.inventory(right, "VGPU", 8, max_unit=2)
    b.traits(right, "HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD")
    disk1 = env["SHR_DISK_1"] = b.provider("shr_disk_1", agg_a)
    b.inventory(disk1, "DISK_GB", 1000)
    b.traits(disk1, "MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD")
    disk2 = env["SHR_DISK_2"] = b.provider("shr_disk_2", agg_a, agg_b)
    b.inventory(disk2, "DISK_GB", 1000)
    b.traits(disk2, "MISC_SHARES_VIA_AGGREGATE")
    net = env["SHR_NET"] = b.provider("shr_net", agg_c)
    b.inventory(net, "SRIOV_NET_VF", 16)
    b.inventory(net, "CUSTOM_NET_MBPS", 40000)
    b.traits(net, "MISC_SHARES_VIA_AGGREGATE")


def neutron_qos_multi_segment_fixture(b: Builder) -> None:
    """Four computes with OVS and SR-IOV agent subtrees on multi-segment networks."""
    api_fixture(b)
    env = b.env
    normal = ("CUSTOM_VNIC_TYPE_NORMAL",)
    direct = ("CUSTOM_VNIC_TYPE_DIRECT", "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL",
              "CUSTOM_VNIC_TYPE_MACVTAP")

    def bandwidth(rp: str, kbps: int) -> None:
        b.inventory(rp, "NET_BW_EGR_KILOBIT_PER_SEC", kbps)
        b.inventory(rp, "NET_BW_IGR_KILOBIT_PER_SEC", kbps)

    # (compute, physnets of its bridges, physnets of its PFs, bandwidth)
    computes = [("compute0", ["OTHER"], ["OTHER"], 5000, 10000),
                ("compute1", ["MSN_S1"], ["MSN_S1"], 5000, 10000),
                ("compute2", ["MSN_S2"], ["MSN_S2"], 5000, 10000),
                ("compute3", ["MSN_S1", "MSN_S2"], ["MSN_S1", "MSN_S2"], 1000, 1000)]
    sriov_agents = {}
    for name, bridges, pfs, bridge_bw, pf_bw in computes:
        cn = env[name] = b.provider(name)
        b.inventory(cn, "VCPU", 8)
        b.inventory(cn, "MEMORY_MB", 4096)
        b.inventory(cn, "DISK_GB", 500)
        ovs = env[f"{name}:ovs_agent"] = b.provider(f"{name}:Open vSwitch agent", parent=cn)
        b.inventory(ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", 1000)
        b.traits(ovs, *normal)
        for i, physnet in enumerate(bridges):
            suffix = "" if i == 0 else str(i + 1)
            br = env[f"{name}:br_ex{suffix}"] = b.provider(
                f"{name}:Open vSwitch agent:br-ex{suffix}", parent=ovs)
            bandwidth(br, bridge_bw)
            b.traits(br, *normal, f"CUSTOM_PHYSNET_{physnet}")
        sriov = sriov_agents[name] = b.provider(f"{name}:NIC Switch agent", parent=cn)
        env[f"{name}:sriov_agent"] = sriov
        b.traits(sriov, *direct)
        for i, physnet in enumerate(pfs):
            pf = env[f"{name}:pf{i}"] = b.provider(
                f"{name}:NIC Switch agent:enp129s0f{i}", parent=sriov)
            bandwidth(pf, pf_bw)
            b.traits(pf, *direct, f"CUSTOM_PHYSNET_{physnet}")
    # Placement's fixture publishes compute2's agent under compute3's name; so do we.
    env["compute3:sriov_agent"] = sriov_agents["compute2"]


FIXTURES: dict[str, Callable[[Builder], None]] = {
    "APIFixture": api_fixture,
    "LegacyRBACPolicyFixture": api_fixture,
    "SecureRBACPolicyFixture": api_fixture,
    "OpenPolicyFixture": api_fixture,
    "CORSFixture": api_fixture,
    "AllocationFixture": allocation_fixture,
    "SharedStorageFixture": shared_storage_fixture,
    "NUMAAggregateFixture": numa_aggregate_fixture,
    "NUMANetworkFixture": numa_network_fixture,
    "DeepNUMANetworkFixture": deep_numa_network_fixture,
    "NonSharedStorageFixture": non_shared_storage_fixture,
    "GranularFixture": granular_fixture,
    "NeutronQoSMultiSegmentFixture": neutron_qos_multi_segment_fixture,
}

#: Fixtures under Placement's new default policies; every other runs the legacy ones.
SECURE_RBAC = frozenset({"SecureRBACPolicyFixture"})


def build(url: str, fixture: str) -> dict[str, str]:
    """Build ``fixture``'s state on the server at ``url``; return its variables."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        builder = Builder(http)
        FIXTURES[fixture](builder)
        return builder.env
