"""Every filter, through HTTP: a boot it refuses (or steers) goes to the forbidden host,
or is refused for another reason, on an app that runs every filter but that one."""

from __future__ import annotations

import time

from .helpers import V1
from .scheduling import AppFactory, app_with, booted, flavor, host_of, refused, without
from .scheduling import boot as boot_

__all__ = ["app_with", "without"]

BIG = {"vcpus": 16, "memory_mb": 32768, "disk_gb": 1000}


def test_compute_skips_a_disabled_host(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": False, "disabled_reason": "maintenance"})
    explanation = refused(boot_(v1), "hosts_unavailable", filter="compute")
    assert explanation["buckets"][0]["message"] == "1 hosts: disabled"
    assert host_of(without("compute")) == "cn1"
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": True})
    assert host_of(v1) == "cn1"


def test_compute_skips_a_forced_down_host(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2", **BIG)  # spread would pick it: the most free
    flavor(v1, "small")
    v1.ok("PATCH", "/hosts/cn2", json={"forced_down": True})
    assert host_of(v1, "a") == "cn1"
    assert host_of(without("compute"), "b") == "cn2"
    v1.ok("PATCH", "/hosts/cn1", json={"forced_down": True})
    explanation = refused(boot_(v1), "hosts_unavailable", filter="compute")
    assert explanation["buckets"][0]["hosts"] == 2
    assert "down (forced down" in explanation["buckets"][0]["message"]


def test_compute_skips_a_host_whose_heartbeat_is_stale(v1: V1, app_with: AppFactory,
                                                       without: AppFactory) -> None:
    # Heartbeats are kept to the whole second: 4 s of grace is 3 to 4 s of silence,
    # more than a loaded machine takes between the report and the next request.
    strict = app_with(host_down_after_s=4)
    flavor(v1, "small")
    v1.report("cn1")
    assert host_of(strict, "fresh") == "cn1"
    time.sleep(5.1)
    explanation = refused(boot_(strict), "hosts_unavailable", filter="compute")
    assert "no heartbeat for over 4 s" in explanation["buckets"][0]["message"]
    assert explanation["kind"] == "transient"
    assert host_of(without("compute", host_down_after_s=4), "stale") == "cn1"
    assert host_of(v1, "default-60s") == "cn1"  # 60 s: still up


def test_availability_zone(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2", **BIG)
    v1.aggregate("az-a", availability_zone="zone-a")
    v1.aggregate("az-b", availability_zone="zone-b")
    v1.add("az-a", "cn1")
    v1.add("az-b", "cn2")
    v1.aggregate("az-c", availability_zone="zone-c")  # no host in it
    flavor(v1, "small")
    bare = without("availability_zone")
    assert host_of(v1, "a", availability_zone="zone-a") == "cn1"
    assert host_of(bare, "b", availability_zone="zone-a") == "cn2"
    refused(boot_(v1, availability_zone="zone-c"), "constraint_unsatisfiable",
            filter="availability_zone", constraint="zone")
    assert host_of(bare, "c", availability_zone="zone-c") == "cn2"


def test_aggregate_extra_specs(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2", **BIG)
    v1.aggregate("fast", ssd="true,nvme")
    v1.add("fast", "cn1")
    flavor(v1, "ssd", specs={"aggregate_instance_extra_specs:ssd": "true"})
    flavor(v1, "nvme", specs={"aggregate_instance_extra_specs:ssd": "nvme"})
    flavor(v1, "gpu", specs={"aggregate_instance_extra_specs:gpu": "yes"})
    bare = without("aggregate_extra_specs")
    assert host_of(v1, "a", "ssd") == "cn1"
    assert host_of(v1, "b", "nvme") == "cn1"  # one item of a comma list
    assert host_of(bare, "c", "ssd") == "cn2"
    explanation = refused(boot_(v1, flavor="gpu"), "constraint_unsatisfiable",
                          filter="aggregate_extra_specs", constraint="aggregate")
    assert "gpu=yes" in explanation["buckets"][0]["message"]
    assert host_of(bare, "d", "gpu") == "cn2"


def test_tenant_isolation(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2", **BIG)
    v1.aggregate("private", filter_tenant_id="p-owner", filter_tenant_id2="p-friend")
    v1.add("private", "cn2")
    flavor(v1, "small")
    bare = without("tenant_isolation")
    assert host_of(v1, "a", project_id="p-other") == "cn1"
    assert host_of(v1, "b", project_id="p-owner") == "cn2"
    assert host_of(v1, "c", project_id="p-friend") == "cn2"
    assert host_of(bare, "d", project_id="p-other") == "cn2"
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": False})
    refused(boot_(v1, project_id="p-other"), "constraint_unsatisfiable",
            filter="tenant_isolation", constraint="isolation")


def test_traits_required_and_forbidden(v1: V1, without: AppFactory) -> None:
    v1.report("avx", traits=["HW_CPU_X86_AVX2"])
    flavor(v1, "avx2", specs={"trait:HW_CPU_X86_AVX2": "required"})
    flavor(v1, "sse", specs={"trait:HW_CPU_X86_SSE42": "required"})
    flavor(v1, "no-avx2", specs={"trait:HW_CPU_X86_AVX2": "forbidden"})
    assert host_of(v1, "a", "avx2") == "avx"
    for name in ("sse", "no-avx2"):
        explanation = refused(boot_(v1, flavor=name), "constraint_unsatisfiable",
                              filter="traits", constraint="trait")
        assert explanation["kind"] == "structural"
        # Without the filter the host is picked, and the allocation's own trait check
        # refuses the boot with no filter to blame.
        other = refused(boot_(without("traits"), flavor=name), "claim_conflict")
        assert "filter" not in other


def test_resources_under_ratio_and_reserved_memory(v1: V1, without: AppFactory) -> None:
    v1.report("cn1", memory_mb=4096)  # 4096 - 512 reserved, ratio 1.0: 3584 MB
    flavor(v1, "fits", ram_mb=3584)
    flavor(v1, "over", ram_mb=3585)
    explanation = refused(boot_(v1, flavor="over"), "no_capacity", filter="resources",
                          resource_class="MEMORY_MB")
    assert "needs 3585 MB free RAM under ratio 1.0 and 512 MB reserved; the best has " \
        "3584 MB RAM" in explanation["buckets"][0]["message"]
    # Without the filter the claim still refuses to overcommit, but nobody says why.
    other = refused(boot_(without("resources"), flavor="over"), "claim_conflict")
    assert "filter" not in other
    assert host_of(v1, "a", "fits") == "cn1"
    refused(boot_(v1, flavor="fits"), "no_capacity",
            filter="resources", resource_class="MEMORY_MB")


def test_same_host(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    anchor = booted(v1, "anchor")
    v1.report("cn2", **BIG)
    hints = {"same_host": [anchor["id"]]}
    assert host_of(v1, "a", hints=hints) == "cn1"
    assert host_of(without("same_host"), "b", hints=hints) == "cn2"
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": False})
    refused(boot_(v1, hints=hints), "constraint_unsatisfiable", filter="same_host",
            constraint="same_host")


def test_different_host(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    anchor = booted(v1, "anchor")
    hints = {"different_host": [anchor["id"]]}
    explanation = refused(boot_(v1, hints=hints), "constraint_unsatisfiable",
                          filter="different_host", constraint="different_host")
    assert explanation["kind"] == "structural"
    assert host_of(without("different_host"), "a", hints=hints) == "cn1"
    v1.report("cn2")
    assert host_of(v1, "b", hints=hints) == "cn2"


def group(v1: V1, policy: str, **rules: int) -> str:
    body: dict[str, object] = {"name": policy, "policy": policy, "project_id": "p1"}
    if rules:
        body["rules"] = rules
    found: str = v1.ok("POST", "/server-groups", 201, json=body)["id"]
    return found


def test_server_group_affinity(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2")
    flavor(v1, "small")
    gid = group(v1, "affinity")
    first = host_of(v1, "m1", server_group=gid)
    assert host_of(v1, "m2", server_group=gid) == first  # spread would pick the other
    # Without the filter the spread pick breaks the policy; the claim's re-check under
    # the group's lock refuses it every round.
    refused(boot_(without("server_group"), "m3", server_group=gid), "claim_conflict")
    assert host_of(v1, "loner") != first


def test_server_group_anti_affinity(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    v1.report("cn2", **BIG)
    flavor(v1, "small")
    gid = group(v1, "anti-affinity")
    assert host_of(v1, "m1", server_group=gid) == "cn2"
    assert host_of(v1, "m2", server_group=gid) == "cn1"
    explanation = refused(boot_(v1, "m3", server_group=gid), "constraint_unsatisfiable",
                          filter="server_group", constraint="group_policy")
    assert explanation["kind"] == "structural"
    refused(boot_(without("server_group"), "m3", server_group=gid), "claim_conflict")


def test_server_group_max_server_per_host(v1: V1, without: AppFactory) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    gid = group(v1, "anti-affinity", max_server_per_host=2)
    assert host_of(v1, "m1", server_group=gid) == "cn1"
    assert host_of(v1, "m2", server_group=gid) == "cn1"
    explanation = refused(boot_(v1, "m3", server_group=gid), "constraint_unsatisfiable",
                          filter="server_group", constraint="group_policy")
    assert "max_server_per_host 2" in explanation["buckets"][0]["message"]
    refused(boot_(without("server_group"), "m3", server_group=gid), "claim_conflict")


def test_num_instances_from_settings(app_with: AppFactory, without: AppFactory) -> None:
    capped = app_with(max_instances_per_host=2)
    capped.report("cn1")
    flavor(capped, "small")
    assert [host_of(capped, f"m{k}") for k in range(2)] == ["cn1", "cn1"]
    explanation = refused(boot_(capped), "no_capacity", filter="num_instances",
                          resource_class="instances")
    assert "max_instances_per_host instances (2)" in explanation["buckets"][0]["message"]
    assert host_of(without("num_instances", max_instances_per_host=2), "m3") == "cn1"


def test_num_instances_from_an_aggregate(v1: V1, without: AppFactory) -> None:
    v1.report("cn1", **BIG)
    v1.report("cn2")
    v1.aggregate("tiny", max_instances_per_host=1)
    v1.aggregate("small-cap", max_instances_per_host=3)
    v1.add("tiny", "cn1")
    v1.add("small-cap", "cn1")  # the smallest value wins
    flavor(v1, "small")
    assert host_of(v1, "a") == "cn1"
    assert host_of(v1, "b") == "cn2"
    assert host_of(without("num_instances"), "c") == "cn1"
    v1.ok("PATCH", "/hosts/cn2", json={"enabled": False})
    refused(boot_(v1), "no_capacity", filter="num_instances", resource_class="instances")


def test_a_heartbeat_brings_a_silent_host_back(v1: V1, app_with: AppFactory) -> None:
    strict = app_with(host_down_after_s=2)
    v1.report("cn1")
    flavor(v1, "small")
    time.sleep(3.1)
    refused(boot_(strict), "hosts_unavailable", filter="compute")
    v1.ok("POST", "/hosts/cn1/heartbeat", 204)
    time.sleep(0.3)  # heartbeats are re-read every tenth of host_down_after_s here
    assert host_of(strict, "back") == "cn1"
