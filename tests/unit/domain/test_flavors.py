"""Flavor rules: field ranges, every extra-spec namespace, and the Placement request."""

from __future__ import annotations

import pytest

from corral.domain import errors
from corral.domain.flavors import (
    MAX_INT,
    Catalogue,
    Flavor,
    PlacementRequest,
    RequestGroup,
    check_extra_specs,
    check_flavor_id,
    check_flavor_name,
    check_flavor_sizes,
    check_server_group,
    disk_gb,
    placement_request,
)

CAT = Catalogue(frozenset({"VCPU", "PCPU", "MEMORY_MB", "DISK_GB", "SRIOV_NET_VF"}),
                frozenset({"HW_CPU_X86_AVX2", "COMPUTE_STATUS_DISABLED"}))


def check(specs: dict[str, str]) -> None:
    check_extra_specs(specs, CAT)


def refused(specs: dict[str, str], key: str, *fragments: str) -> errors.InvalidInput:
    with pytest.raises(errors.InvalidInput) as info:
        check(specs)
    assert info.value.field == f"extra_specs.{key}", info.value.field
    for fragment in fragments:
        assert fragment in info.value.detail, (fragment, info.value.detail)
    assert repr(key) in info.value.detail or key in info.value.detail
    return info.value


# -- extra specs: accepted ---------------------------------------------------------------

@pytest.mark.parametrize("key,value", [
    ("resources:VCPU", "0"), ("resources:VCPU", "8"), ("resources:CUSTOM_GPU", "1"),
    ("resources:MEMORY_MB", str(MAX_INT)),
    ("resources:CUSTOM_NOT_YET_CREATED", "3"),
    ("trait:HW_CPU_X86_AVX2", "required"), ("trait:COMPUTE_STATUS_DISABLED", "forbidden"),
    ("trait:CUSTOM_SSD", "required"),
    ("group_policy", "none"), ("group_policy", "isolate"),
    ("aggregate_instance_extra_specs:ssd", "true"),
    ("aggregate_instance_extra_specs:any key at all", "any value"),
    ("hw:cpu_policy", "shared"), ("hw:cpu_policy", "dedicated"), ("hw:cpu_policy", "mixed"),
    ("hw:mem_page_size", "small"), ("hw:mem_page_size", "large"), ("hw:mem_page_size", "any"),
    ("hw:mem_page_size", "2048"), ("hw:mem_page_size", "2MB"), ("hw:mem_page_size", "1GB"),
    ("hw:mem_page_size", "1GiB"), ("hw:mem_page_size", "4kb"),
    ("hw:numa_nodes", "1"), ("hw:numa_nodes", "2"),
    ("hw:cpu_thread_policy", "prefer"), ("hw:numa_cpus.0", "0-3"), ("hw:numa_mem.1", "2048"),
    ("quota:cpu_shares", "2048"), ("quota:disk_read_bytes_sec", "10240000"),
    ("hw_rng:allowed", "True"), ("hw_video:ram_max_mb", "64"), ("os:secure_boot", "required"),
    ("pci_passthrough:alias", "gpu:1"),
    ("quota:" + "x" * 249, "v" * 255),
])
def test_a_good_extra_spec_is_accepted(key: str, value: str) -> None:
    check({key: value})


def test_grouped_specs_with_a_policy_are_accepted() -> None:
    check({"resources1:SRIOV_NET_VF": "1", "trait1:CUSTOM_PHYSNET_A": "required",
           "resources2:SRIOV_NET_VF": "1", "resources_GPU:CUSTOM_GPU": "1",
           "group_policy": "isolate"})


# -- extra specs: refused, naming the key and why ------------------------------------------

@pytest.mark.parametrize("key,value,why", [
    ("resources:VCPUS", "1", "neither a standard resource class nor a valid CUSTOM_"),
    ("resources:custom_gpu", "1", "neither a standard resource class"),
    ("resources:CUSTOM_", "1", "neither a standard resource class"),
    ("resources:VCPU", "-1", "whole number from 0"),
    ("resources:VCPU", "1.5", "whole number from 0"),
    ("resources:VCPU", "two", "whole number from 0"),
    ("resources:VCPU", " 1", "whole number from 0"),
    ("resources:VCPU", str(MAX_INT + 1), "whole number from 0"),
    ("trait:AVX2", "required", "neither a standard trait nor a valid CUSTOM_"),
    ("trait:HW_CPU_X86_AVX2", "yes", "'required' or 'forbidden'"),
    ("trait:HW_CPU_X86_AVX2", "Required", "'required' or 'forbidden'"),
    ("group_policy", "strict", "none, isolate"),
    ("aggregate_instance_extra_specs:", "true", "empty"),
    ("hw:cpu_policy", "exclusive", "shared, dedicated, mixed"),
    ("hw:mem_page_size", "huge", "small, large, any"),
    ("hw:mem_page_size", "0", "small, large, any"),
    ("hw:mem_page_size", "2TB", "small, large, any"),
    ("hw:numa_nodes", "0", "at least 1"),
    ("hw:numa_nodes", "two", "at least 1"),
    ("hw:cpu_wishes", "lots", "not a known hw: key"),
    ("quota:", "1", "empty"),
    ("os:", "1", "empty"),
    ("pci_passthrough:other", "x", "unknown namespace 'pci_passthrough'"),
    ("capabilities:hypervisor_type", "QEMU", "unknown namespace 'capabilities'"),
    ("vmware:hw_version", "x", "unknown namespace 'vmware'"),
    ("traits:HW_CPU_X86_AVX2", "required", "unknown namespace 'traits'"),
    ("resourcesX:VCPU", "1", "unknown namespace 'resourcesX'"),
    ("ssd", "true", "unscoped keys are not accepted"),
    ("quota:cpu_shares", "", "1 to 255"),
    ("quota:cpu_shares", "v" * 256, "1 to 255"),
])
def test_a_bad_extra_spec_is_refused_naming_key_and_reason(key: str, value: str, why: str) -> None:
    refused({key: value}, key, why)


def test_an_unknown_namespace_lists_the_accepted_ones() -> None:
    exc = refused({"foo:bar": "1"}, "foo:bar", "unknown namespace 'foo'")
    for namespace in ("resources[GROUP]", "trait[GROUP]", "group_policy",
                      "aggregate_instance_extra_specs", "hw:", "hw_rng", "hw_video", "os:*",
                      "quota:*", "pci_passthrough:alias"):
        assert namespace in exc.detail


def test_a_key_longer_than_255_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="1 to 255"):
        check({"quota:" + "x" * 250: "1"})


def test_a_suffixed_group_with_traits_but_no_resources_is_refused() -> None:
    refused({"trait1:CUSTOM_X": "required"}, "trait1:CUSTOM_X", "no resources")
    refused({"trait1:CUSTOM_X": "required", "resources1:VCPU": "0"}, "trait1:CUSTOM_X")


def test_two_suffixed_groups_need_a_group_policy() -> None:
    refused({"resources1:VCPU": "1", "resources2:VCPU": "1"}, "group_policy", "1, 2")
    check({"resources1:VCPU": "1", "resources2:VCPU": "0"})  # a zeroed group does not count


def test_the_unsuffixed_group_may_ask_for_traits_alone() -> None:
    check({"trait:HW_CPU_X86_AVX2": "required"})


# -- flavor fields ---------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("vcpus", 0), ("ram_mb", 0), ("disk_gb", -1), ("ephemeral_gb", -1), ("swap_mb", -1),
    ("vcpus", MAX_INT + 1), ("ram_mb", MAX_INT + 1), ("disk_gb", MAX_INT + 1),
    ("vcpus", True),
])
def test_a_size_out_of_range_names_its_field(field: str, value: int) -> None:
    sizes = {"vcpus": 1, "ram_mb": 1, "disk_gb": 0, "ephemeral_gb": 0, "swap_mb": 0, field: value}
    with pytest.raises(errors.InvalidInput) as info:
        check_flavor_sizes(**sizes)
    assert info.value.field == field


def test_sizes_at_their_bounds_are_accepted() -> None:
    check_flavor_sizes(vcpus=1, ram_mb=1, disk_gb=0, ephemeral_gb=0, swap_mb=0)
    check_flavor_sizes(vcpus=MAX_INT, ram_mb=MAX_INT, disk_gb=MAX_INT, ephemeral_gb=MAX_INT,
                       swap_mb=MAX_INT)


@pytest.mark.parametrize("name", ["", " lead", "trail ", "x" * 256, "tab\there"])
def test_a_bad_flavor_name_is_refused(name: str) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        check_flavor_name(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("flavor_id", ["a/b", "", " x", "x?", "é"])
def test_a_bad_flavor_id_is_refused(flavor_id: str) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        check_flavor_id(flavor_id)
    assert info.value.field == "id"


def test_free_form_flavor_ids_are_accepted() -> None:
    for flavor_id in ("1", "m1.small", "gpu_large-2", "my flavor"):
        check_flavor_id(flavor_id)


# -- the Placement request ----------------------------------------------------------------

def flavor(**kw: object) -> Flavor:
    base: dict[str, object] = {"id": "f", "name": "f", "vcpus": 2, "ram_mb": 4096,
                               "disk_gb": 20, "ephemeral_gb": 0, "swap_mb": 0}
    base.update(kw)
    return Flavor(**base)  # type: ignore[arg-type]


def test_a_plain_flavor_asks_for_vcpu_memory_and_disk() -> None:
    assert placement_request(flavor()) == PlacementRequest(
        resources={"DISK_GB": 20, "MEMORY_MB": 4096, "VCPU": 2}, required_traits=frozenset(),
        forbidden_traits=frozenset(), groups=(), group_policy=None, aggregate_specs={})


@pytest.mark.parametrize("swap_mb,extra", [(0, 0), (1, 1), (1023, 1), (1024, 1), (1025, 2),
                                           (4096, 4)])
def test_disk_is_root_plus_ephemeral_plus_swap_rounded_up_to_gib(swap_mb: int, extra: int) -> None:
    f = flavor(disk_gb=10, ephemeral_gb=5, swap_mb=swap_mb)
    assert disk_gb(f) == 15 + extra
    assert placement_request(f).resources["DISK_GB"] == 15 + extra


def test_a_flavor_without_disk_does_not_ask_for_disk() -> None:
    assert "DISK_GB" not in placement_request(flavor(disk_gb=0)).resources


def test_resources_override_add_and_zero_out_classes() -> None:
    req = placement_request(flavor(extra_specs={
        "resources:VCPU": "0", "resources:PCPU": "2", "resources:MEMORY_MB": "8192",
        "resources:CUSTOM_GPU": "1", "resources:DISK_GB": "0"}))
    assert req.resources == {"CUSTOM_GPU": 1, "MEMORY_MB": 8192, "PCPU": 2}


def test_traits_groups_policy_and_aggregate_specs() -> None:
    req = placement_request(flavor(extra_specs={
        "trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_SLOW": "forbidden",
        "resources1:SRIOV_NET_VF": "1", "trait1:CUSTOM_PHYSNET_A": "required",
        "resources2:SRIOV_NET_VF": "2", "trait2:CUSTOM_PHYSNET_B": "forbidden",
        "resources3:VCPU": "0",
        "group_policy": "isolate", "aggregate_instance_extra_specs:ssd": "true",
        "hw:cpu_policy": "dedicated", "quota:cpu_shares": "10"}))
    assert req.required_traits == {"HW_CPU_X86_AVX2"}
    assert req.forbidden_traits == {"CUSTOM_SLOW"}
    assert req.groups == (
        RequestGroup("1", {"SRIOV_NET_VF": 1}, frozenset({"CUSTOM_PHYSNET_A"})),
        RequestGroup("2", {"SRIOV_NET_VF": 2}, frozenset(), frozenset({"CUSTOM_PHYSNET_B"})))
    assert req.group_policy == "isolate"
    assert req.aggregate_specs == {"ssd": "true"}
    assert req.resources == {"DISK_GB": 20, "MEMORY_MB": 4096, "VCPU": 2}


# -- server groups ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["affinity", "anti-affinity", "soft-affinity",
                                    "soft-anti-affinity"])
def test_every_policy_is_accepted(policy: str) -> None:
    check_server_group("g", policy, None)


@pytest.mark.parametrize("name,policy,rule,field", [
    ("g", "anti_affinity", None, "policy"),
    ("g", "affinity", 2, "rules.max_server_per_host"),
    ("g", "soft-anti-affinity", 2, "rules.max_server_per_host"),
    ("g", "anti-affinity", 0, "rules.max_server_per_host"),
    ("g", "anti-affinity", MAX_INT + 1, "rules.max_server_per_host"),
    ("", "affinity", None, "name"),
])
def test_a_bad_server_group_names_its_field(name: str, policy: str, rule: int | None,
                                            field: str) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        check_server_group(name, policy, rule)
    assert info.value.field == field


def test_anti_affinity_takes_the_rule() -> None:
    check_server_group("g", "anti-affinity", 3)
