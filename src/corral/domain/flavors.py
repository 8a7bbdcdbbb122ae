"""Flavors and server groups: what a boot asks for, as values, rules and a Placement request.

A :class:`Flavor` is the shape of an instance (vcpus, RAM, disks) plus extra specs, the
operator's free-form key/value pairs. This module owns the rules for both: the ranges of
the numeric fields, which extra-spec namespaces corral accepts and what each one's
values must look like (:func:`check_extra_specs`), and how a flavor becomes what it asks
of Placement (:func:`placement_request`), as Nova's ``resources_from_flavor`` and
``ResourceRequest`` do it. Server groups are small: a policy and one optional rule
(:func:`check_server_group`). Everything here is pure: the catalogue of known resource
classes and traits is passed in by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from corral.domain import bounds, errors
from corral.domain.names import CUSTOM_NAME

#: Largest value of an integer field (the columns are 32-bit, as Nova's).
MAX_INT = bounds.INT32_MAX
#: Longest extra-spec key or value, flavor name, flavor id or description.
MAX_LENGTH = 255

# -- the flavor --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flavor:
    """A flavor as corral stores it. ``id`` is the public flavor id (free-form)."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    is_public: bool = True
    description: str | None = None
    extra_specs: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def snapshot(flavor: Flavor) -> dict[str, Any]:
    """What an instance keeps of its flavor, so that it can still be resized, migrated or
    rescheduled after the flavor is changed or deleted (as Nova embeds it)."""
    return {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus,
            "ram_mb": flavor.ram_mb, "disk_gb": flavor.disk_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap_mb": flavor.swap_mb,
            "extra_specs": dict(flavor.extra_specs)}


def from_snapshot(data: Mapping[str, Any]) -> Flavor:
    return Flavor(id=data["id"], name=data["name"], vcpus=data["vcpus"], ram_mb=data["ram_mb"],
                  disk_gb=data["disk_gb"], ephemeral_gb=data["ephemeral_gb"],
                  swap_mb=data["swap_mb"], extra_specs=dict(data["extra_specs"]))


#: Field -> smallest value allowed (the largest is MAX_INT).
INT_FIELDS: dict[str, int] = {
    "vcpus": 1, "ram_mb": 1, "disk_gb": 0, "ephemeral_gb": 0, "swap_mb": 0}

#: A flavor id: printable, no leading or trailing space, no '/' (it is a URL segment).
FLAVOR_ID = re.compile(r"^(?! )[A-Za-z0-9._ -]+(?<! )$")


def _check_text(value: str, field_name: str, what: str) -> None:
    if not 1 <= len(value) <= MAX_LENGTH:
        raise errors.InvalidInput(
            f"{what} must be 1 to {MAX_LENGTH} characters long (got {len(value)})",
            field=field_name)
    if value != value.strip():
        raise errors.InvalidInput(f"{what} {value!r} has leading or trailing whitespace",
                                  field=field_name)
    if any(not ch.isprintable() for ch in value):
        raise errors.InvalidInput(f"{what} {value!r} contains a control character",
                                  field=field_name)


def check_flavor_name(name: str) -> None:
    _check_text(name, "name", "a flavor name")


def check_flavor_id(flavor_id: str) -> None:
    _check_text(flavor_id, "id", "a flavor id")
    if not FLAVOR_ID.match(flavor_id):
        raise errors.InvalidInput(
            f"flavor id {flavor_id!r} may use only letters, digits, '.', '_', '-' and "
            "inner spaces", field="id")


def check_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_LENGTH:
        raise errors.InvalidInput(
            f"a description is at most {MAX_LENGTH} characters (got {len(description)})",
            field="description")


def check_flavor_sizes(**sizes: int) -> None:
    """Each of vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb within its range.

    Raises:
        InvalidInput: naming the first field out of range.
    """
    for name, value in sizes.items():
        low = INT_FIELDS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
            raise errors.InvalidInput(
                f"{name} must be a whole number from {low} to {MAX_INT}, got {value!r}",
                field=name)


# -- extra specs -------------------------------------------------------------------------

#: ``resources[GROUP]:CLASS`` and ``trait[GROUP]:NAME``. GROUP is a number (``resources1``)
#: or starts with ``_`` or ``-`` (``resources_GPU``), so that a typo such as ``traits:``
#: is refused instead of read as group "s"; at most 64 characters, as Placement's (1.33).
_GROUPED = re.compile(r"^(resources|trait)([0-9]{1,64}|[_-][A-Za-z0-9_-]{1,63})?$")
_AMOUNT = re.compile(r"^[0-9]+$")
_PAGE_SIZE = re.compile(r"^([1-9][0-9]*)(k|kb|kib|m|mb|mib|g|gb|gib)?$", re.IGNORECASE)

CPU_POLICIES = ("shared", "dedicated", "mixed")
GROUP_POLICIES = ("none", "isolate")
TRAIT_VALUES = ("required", "forbidden")
#: Namespaces whose keys take any non-empty suffix, with values stored as strings.
FREE_NAMESPACES = ("quota", "hw_rng", "hw_video", "os")

#: ``hw:`` keys corral stores without checking the value (the virt driver's business).
#: Checked ones are hw:cpu_policy, hw:mem_page_size and hw:numa_nodes.
HW_STORED = frozenset({
    "hw:cpu_thread_policy", "hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads",
    "hw:cpu_max_sockets", "hw:cpu_max_cores", "hw:cpu_max_threads",
    "hw:cpu_realtime", "hw:cpu_realtime_mask", "hw:cpu_dedicated_mask",
    "hw:emulator_threads_policy", "hw:mem_encryption", "hw:pmu", "hw:pmem",
    "hw:serial_port_count", "hw:tpm_model", "hw:tpm_version", "hw:watchdog_action",
    "hw:boot_menu", "hw:vif_multiqueue_enabled", "hw:hide_hypervisor_id",
})
#: ``hw:`` keys with a NUMA node index: ``hw:numa_cpus.0``, ``hw:numa_mem.1``.
_HW_INDEXED = re.compile(r"^hw:numa_(cpus|mem)\.[0-9]+$")

ACCEPTED = ("resources[GROUP]:<RESOURCE_CLASS>", "trait[GROUP]:<TRAIT>", "group_policy",
            "aggregate_instance_extra_specs:<key>", "hw:<known key>", "hw_rng:*", "hw_video:*",
            "os:*", "quota:*", "pci_passthrough:alias")


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The names an extra spec may use besides valid CUSTOM_ names."""

    resource_classes: frozenset[str]
    traits: frozenset[str]


def _bad(key: str, why: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"extra spec {key!r}: {why}", field=f"extra_specs.{key}")


def _amount(key: str, value: str) -> int:
    if not _AMOUNT.match(value) or int(value) > MAX_INT:
        raise _bad(key, f"the amount must be a whole number from 0 to {MAX_INT}, got {value!r}")
    return int(value)


def _check_one(key: str, value: str, catalogue: Catalogue) -> None:
    if not 1 <= len(key) <= MAX_LENGTH:
        raise errors.InvalidInput(
            f"an extra spec key must be 1 to {MAX_LENGTH} characters (got {len(key)})",
            field=f"extra_specs.{key[:40]}")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_LENGTH:
        length = len(value) if isinstance(value, str) else type(value).__name__
        raise _bad(key, f"the value must be a string of 1 to {MAX_LENGTH} characters "
                        f"(got {length})")
    namespace, sep, name = key.partition(":")
    if not sep:
        if key == "group_policy":
            if value not in GROUP_POLICIES:
                raise _bad(key, f"must be one of {', '.join(GROUP_POLICIES)}, got {value!r}")
            return
        raise _bad(key, "unscoped keys are not accepted (Nova matches them against both host "
                        f"capabilities and aggregates); the accepted keys are: {', '.join(ACCEPTED)}")
    grouped = _GROUPED.match(namespace)
    if grouped:
        if grouped.group(1) == "resources":
            if not (name in catalogue.resource_classes or CUSTOM_NAME.match(name)):
                raise _bad(key, f"{name!r} is neither a standard resource class nor a valid "
                                "CUSTOM_ name (CUSTOM_ followed by A-Z, 0-9 and _)")
            _amount(key, value)
        else:
            if not (name in catalogue.traits or CUSTOM_NAME.match(name)):
                raise _bad(key, f"{name!r} is neither a standard trait nor a valid CUSTOM_ name "
                                "(CUSTOM_ followed by A-Z, 0-9 and _)")
            if value not in TRAIT_VALUES:
                raise _bad(key, f"must be 'required' or 'forbidden', got {value!r}")
        return
    if namespace == "aggregate_instance_extra_specs":
        if not name:
            raise _bad(key, "the aggregate metadata key after the ':' is empty")
        return
    if namespace == "hw":
        _check_hw(key, value)
        return
    if namespace in FREE_NAMESPACES:
        if not name:
            raise _bad(key, f"the key after '{namespace}:' is empty")
        return
    if key == "pci_passthrough:alias":
        return
    raise _bad(key, f"unknown namespace {namespace!r}; the accepted keys are: {', '.join(ACCEPTED)}")


def _check_hw(key: str, value: str) -> None:
    if key == "hw:cpu_policy":
        if value not in CPU_POLICIES:
            raise _bad(key, f"must be one of {', '.join(CPU_POLICIES)}, got {value!r}")
    elif key == "hw:mem_page_size":
        if value not in ("small", "large", "any") and not _PAGE_SIZE.match(value):
            raise _bad(key, "must be small, large, any or a page size in KiB (2048) or with a "
                            f"unit (2MB, 1GB), got {value!r}")
    elif key == "hw:numa_nodes":
        if not _AMOUNT.match(value) or not 1 <= int(value) <= MAX_INT:
            raise _bad(key, f"must be a whole number of at least 1, got {value!r}")
    elif key not in HW_STORED and not _HW_INDEXED.match(key):
        raise _bad(key, "not a known hw: key; corral checks hw:cpu_policy, hw:mem_page_size, "
                        "hw:numa_nodes and stores " + ", ".join(sorted(HW_STORED))
                        + ", hw:numa_cpus.N and hw:numa_mem.N")


def check_extra_specs(specs: Mapping[str, str], catalogue: Catalogue) -> None:
    """Check every key and value, then the set as a whole, as Placement will read it.

    The whole-set rules: a suffixed group that asks for traits must ask for some
    resource too, and more than one suffixed group needs ``group_policy``.

    Raises:
        InvalidInput: naming the key (``field`` is ``extra_specs.<key>``) and why.
    """
    for key in sorted(specs):
        _check_one(key, specs[key], catalogue)
    groups = _groups(specs)
    for suffix, (resources, required, forbidden) in groups.items():
        if suffix and not any(resources.values()) and (required or forbidden):
            trait_key = f"trait{suffix}:{sorted(required | forbidden)[0]}"
            raise _bad(trait_key, f"request group {suffix!r} asks for traits but no resources "
                                  f"(add resources{suffix}:<CLASS>=N)")
    numbered = sorted(s for s, (res, _, _) in groups.items() if s and any(res.values()))
    if len(numbered) > 1 and "group_policy" not in specs:
        raise _bad("group_policy", f"required when a flavor has more than one request group "
                                   f"(it has {', '.join(numbered)}): set none or isolate")


_Group = tuple[dict[str, int], set[str], set[str]]


def _groups(specs: Mapping[str, str]) -> dict[str, _Group]:
    """Suffix -> (resources, required traits, forbidden traits), from the specs alone."""
    found: dict[str, _Group] = {}
    for key, value in specs.items():
        namespace, sep, name = key.partition(":")
        grouped = _GROUPED.match(namespace) if sep else None
        if grouped is None:
            continue
        resources, required, forbidden = found.setdefault(grouped.group(2) or "",
                                                          ({}, set(), set()))
        if grouped.group(1) == "resources":
            resources[name] = _amount(key, value)
        elif value == "required":
            required.add(name)
        elif value == "forbidden":
            forbidden.add(name)
    return found


# -- what a flavor asks of Placement -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestGroup:
    """One request group; ``suffix`` is "" for the unsuffixed one."""

    suffix: str
    resources: Mapping[str, int]
    required_traits: frozenset[str] = frozenset()
    forbidden_traits: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """A flavor's request: the unsuffixed group, suffixed groups, policy, aggregate specs."""

    resources: Mapping[str, int]
    required_traits: frozenset[str]
    forbidden_traits: frozenset[str]
    groups: tuple[RequestGroup, ...]
    group_policy: str | None
    aggregate_specs: Mapping[str, str]


def disk_gb(flavor: Flavor) -> int:
    """DISK_GB a flavor asks for: root + ephemeral + swap in whole GiB, rounded up (Nova)."""
    return flavor.disk_gb + flavor.ephemeral_gb + -(-flavor.swap_mb // 1024)


def placement_request(flavor: Flavor) -> PlacementRequest:
    """What ``flavor`` asks of Placement, as Nova computes it.

    VCPU = vcpus, MEMORY_MB = ram_mb and DISK_GB = :func:`disk_gb`; then every
    ``resources:CLASS=N`` replaces or adds its class (``N = 0`` drops it). Suffixed
    ``resourcesG:`` and ``traitG:`` keys make group ``G``. Classes with amount 0 are left
    out, and a suffixed group left with nothing is dropped. The specs are assumed valid
    (:func:`check_extra_specs`); keys outside the namespaces read here are ignored.
    """
    groups = _groups(flavor.extra_specs)
    base: dict[str, int] = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb,
                            "DISK_GB": disk_gb(flavor)}
    unsuffixed, required, forbidden = groups.pop("", ({}, set(), set()))
    base.update(unsuffixed)
    suffixed: list[RequestGroup] = []
    for suffix in sorted(groups):
        resources, req, forb = groups[suffix]
        kept = {rc: n for rc, n in sorted(resources.items()) if n > 0}
        if kept or req or forb:
            suffixed.append(RequestGroup(suffix, kept, frozenset(req), frozenset(forb)))
    prefix = "aggregate_instance_extra_specs:"
    return PlacementRequest(
        resources={rc: n for rc, n in sorted(base.items()) if n > 0},
        required_traits=frozenset(required), forbidden_traits=frozenset(forbidden),
        groups=tuple(suffixed),
        group_policy=flavor.extra_specs.get("group_policy"),
        aggregate_specs={k[len(prefix):]: v for k, v in sorted(flavor.extra_specs.items())
                         if k.startswith(prefix)},
    )


def resources_of(flavor: Flavor) -> dict[str, int]:
    """Everything ``flavor`` claims per resource class, its groups' included (what an
    instance of it holds, summed over providers)."""
    request = placement_request(flavor)
    out = dict(request.resources)
    for group in request.groups:
        for rc, amount in group.resources.items():
            out[rc] = out.get(rc, 0) + amount
    return dict(sorted(out.items()))


# -- server groups -----------------------------------------------------------------------

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


@dataclass(frozen=True, slots=True)
class ServerGroup:
    """A server group. ``max_server_per_host`` is None unless set (anti-affinity only)."""

    id: str
    name: str
    policy: str
    project_id: str
    user_id: str
    max_server_per_host: int | None = None
    members: tuple[str, ...] = ()
    created_at: datetime | None = None


def check_server_group(name: str, policy: str, max_server_per_host: int | None) -> None:
    """A name of 1-255 characters, a known policy, and the rule only with anti-affinity.

    Raises:
        InvalidInput: naming the field.
    """
    _check_text(name, "name", "a server group name")
    if policy not in POLICIES:
        raise errors.InvalidInput(
            f"policy must be one of {', '.join(POLICIES)}, got {policy!r}", field="policy")
    if max_server_per_host is None:
        return
    if policy != "anti-affinity":
        raise errors.InvalidInput(
            f"the max_server_per_host rule applies only to the anti-affinity policy, not "
            f"{policy}", field="rules.max_server_per_host")
    if isinstance(max_server_per_host, bool) or not 1 <= max_server_per_host <= MAX_INT:
        raise errors.InvalidInput(
            f"max_server_per_host must be a whole number from 1 to {MAX_INT}, got "
            f"{max_server_per_host!r}", field="rules.max_server_per_host")
