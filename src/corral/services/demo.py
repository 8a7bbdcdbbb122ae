"""The demo fleet: a small, realistic cloud to try corral on (``corral demo``).

Two availability zones (aggregates ``az1`` and ``az2``) of twenty compute hosts each,
with the shapes, traits and nesting operators meet in practice:

- hosts 01-12 of each zone: 32 cores, 128 GiB, 1000 GB; hosts 13-20: 64 cores,
  256 GiB, 2000 GB (and AVX-512). VCPU overcommit 4.0; RAM ratio 1.0 with 512 MB
  reserved for the host; disk ratio 1.0.
- HW_CPU_X86_AVX2 on every host but 11 and 12 of each zone (an older batch);
  CUSTOM_SSD on hosts 01-06 (also the ``ssd`` aggregate); COMPUTE_STATUS_DISABLED
  on compute-az1-07 and compute-az2-15.
- nesting: host 19 of each zone reports its CPU and RAM on two NUMA-node children
  (trait HW_NUMA_ROOT), host 20 has two physical-GPU children with VGPU inventory
  (trait CUSTOM_GPU; the hosts form the ``gpu`` aggregate).
- a sharing provider, ``shared-storage-az1``: 100 TB of DISK_GB with
  MISC_SHARES_VIA_AGGREGATE, in the ``az1`` aggregate.

For the scheduler (``/v1``), the same fleet is registered as compute hosts (all but
the NUMA hosts, whose CPU and memory live on their children, so they stay Placement
providers only; the two with COMPUTE_STATUS_DISABLED are disabled), with host
aggregates mirroring the four Placement aggregates (``az1`` and ``az2`` are
availability zones; ``ssd`` and ``gpu`` carry ``ssd=true`` / ``gpu=true`` for flavors'
``aggregate_instance_extra_specs``), and a few flavors (:data:`FLAVORS`). The demo hosts
never heartbeat: the seed records ``host_down_after_s`` of a year as a default of this
database's fleet (:data:`DOWN_AFTER_S`; explicit configuration still wins), so the
server and the CLI both keep them up.

Every UUID is derived with uuid5 from a name, so seeding again gives the same UUIDs
(the aggregates keep theirs across re-seeds). The seed is one transaction written
against the Repository: it lands whole or not at all.
"""

from __future__ import annotations

import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from corral.domain import errors
from corral.domain.capacity import Inventory
from corral.domain.flavors import Flavor
from corral.domain.fleet_policy import DEFAULT
from corral.domain.model import Provider, ProviderFilter
from corral.domain.project_checks import ProjectExists
from corral.persistence.clock import utcnow
from corral.services import projects as project_svc
from corral.services.audit_log import local_actor
from corral.services.stores import AggregateStore, FlavorStore, HostStore, ProviderStore, Store

#: Namespace of every demo UUID (itself uuid5 of a fixed name, so it never changes).
NAMESPACE = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, "demo.corral.invalid")

ZONES = ("az1", "az2")
HOSTS_PER_ZONE = 20
LARGE_FROM = 13          # hosts 13..20 are the large shape
OLD_CPU = (11, 12)       # no AVX2
SSD_UP_TO = 6            # hosts 1..6 have local SSDs
DISABLED = ("compute-az1-07", "compute-az2-15")
NUMA_HOST = 19
GPU_HOST = 20
SHARED_STORAGE = "shared-storage-az1"
CUSTOM_TRAITS = ("CUSTOM_SSD", "CUSTOM_GPU")
AGGREGATE_NAMES = ("az1", "az2", "ssd", "gpu")
#: Host aggregate metadata (the scheduler's view of the same aggregates).
AGGREGATE_METADATA: dict[str, dict[str, str]] = {
    "az1": {"availability_zone": "az1"}, "az2": {"availability_zone": "az2"},
    "ssd": {"ssd": "true"}, "gpu": {"gpu": "true"}}
#: The demo hosts never heartbeat: the fleet's default host_down_after_s (a year).
DOWN_AFTER_S = 365 * 24 * 3600
#: name -> (vcpus, ram_mb, disk_gb, extra specs)
FLAVORS: dict[str, tuple[int, int, int, dict[str, str]]] = {
    "m1.small": (1, 2048, 20, {}),
    "m1.medium": (2, 4096, 40, {}),
    "m1.large": (4, 8192, 80, {}),
    "m1.xlarge": (8, 16384, 160, {"trait:HW_CPU_X86_AVX2": "required"}),
    "ssd.large": (4, 8192, 80, {"aggregate_instance_extra_specs:ssd": "true",
                                "trait:CUSTOM_SSD": "required"}),
    "gpu.large": (8, 32768, 100, {"resources:VGPU": "1", "trait:CUSTOM_GPU": "required"}),
}


class _HostsRepo(HostStore, AggregateStore, Protocol):
    """What registering the demo's hosts writes."""


def demo_uuid(kind: str, name: str) -> str:
    """The fixed UUID of a demo provider or aggregate."""
    return str(uuidlib.uuid5(NAMESPACE, f"{kind}:{name}"))


#: Aggregate name -> UUID (placement aggregates have no names; these are ours).
AGGREGATES: dict[str, str] = {name: demo_uuid("aggregate", name) for name in AGGREGATE_NAMES}


class DemoNotEmpty(errors.Conflict):
    """The database already holds providers and the caller did not ask to replace them."""

    def __init__(self, providers: int) -> None:
        super().__init__(
            f"the database already has {providers} resource provider(s); the demo fleet "
            "is only seeded into an empty database unless asked to replace what is there")
        self.providers = providers


@dataclass(frozen=True, slots=True)
class PlannedProvider:
    """One provider of the demo fleet, before it is written."""

    name: str
    uuid: str
    inventories: dict[str, Inventory]
    traits: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()   # aggregate names, see AGGREGATES
    parent: str | None = None          # the parent's name


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What ``seed_demo`` wrote (and, with force, what it deleted first)."""

    providers: int
    compute_hosts: int
    children: int
    sharing: int
    deleted: int
    custom_traits_created: tuple[str, ...]
    aggregates: dict[str, str] = field(default_factory=dict)          # name -> uuid
    aggregate_members: dict[str, int] = field(default_factory=dict)   # name -> providers
    scheduler_hosts: int = 0
    flavors: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()


def _cpu(cores: int) -> Inventory:
    return Inventory(total=cores, max_unit=cores, allocation_ratio=4.0)


def _ram(mb: int, reserved: int = 512) -> Inventory:
    return Inventory(total=mb, reserved=reserved, max_unit=mb, allocation_ratio=1.0)


def _disk(gb: int) -> Inventory:
    return Inventory(total=gb, max_unit=gb, allocation_ratio=1.0)


def _host(zone: str, index: int) -> list[PlannedProvider]:
    name = f"compute-{zone}-{index:02d}"
    large = index >= LARGE_FROM
    cores, ram_mb, disk_gb = (64, 262144, 2000) if large else (32, 131072, 1000)
    traits = ["HW_CPU_X86_SSE42"]
    if index not in OLD_CPU:
        traits.append("HW_CPU_X86_AVX2")
    if large:
        traits.append("HW_CPU_X86_AVX512F")
    aggregates = [zone]
    if index <= SSD_UP_TO:
        traits.append("CUSTOM_SSD")
        aggregates.append("ssd")
    if name in DISABLED:
        traits.append("COMPUTE_STATUS_DISABLED")
    if index == GPU_HOST:
        aggregates.append("gpu")

    children: list[PlannedProvider] = []
    if index == NUMA_HOST:
        # CPU and memory live on the NUMA nodes; the host keeps its disk.
        inventories = {"DISK_GB": _disk(disk_gb)}
        for node in range(2):
            child = f"{name}-numa{node}"
            children.append(PlannedProvider(
                name=child, uuid=demo_uuid("provider", child), parent=name,
                inventories={"VCPU": _cpu(cores // 2),
                             "MEMORY_MB": _ram(ram_mb // 2, reserved=256)},
                traits=("HW_NUMA_ROOT",)))
    else:
        inventories = {"VCPU": _cpu(cores), "MEMORY_MB": _ram(ram_mb), "DISK_GB": _disk(disk_gb)}
    if index == GPU_HOST:
        for gpu in range(2):
            child = f"{name}-pgpu{gpu}"
            children.append(PlannedProvider(
                name=child, uuid=demo_uuid("provider", child), parent=name,
                inventories={"VGPU": Inventory(total=16, max_unit=16)},
                traits=("CUSTOM_GPU",)))
    host = PlannedProvider(name=name, uuid=demo_uuid("provider", name), inventories=inventories,
                           traits=tuple(sorted(traits)), aggregates=tuple(aggregates))
    return [host, *children]


def demo_plan() -> list[PlannedProvider]:
    """The whole fleet, parents before children, always the same."""
    plan: list[PlannedProvider] = []
    for zone in ZONES:
        for index in range(1, HOSTS_PER_ZONE + 1):
            plan.extend(_host(zone, index))
    plan.append(PlannedProvider(
        name=SHARED_STORAGE, uuid=demo_uuid("provider", SHARED_STORAGE),
        inventories={"DISK_GB": _disk(100_000)},
        traits=("MISC_SHARES_VIA_AGGREGATE",), aggregates=("az1",)))
    return plan


def seed_demo(store: Store, *, force: bool) -> DemoSummary:
    """Write the demo fleet, in one transaction.

    Args:
        store: the store to seed.
        force: delete every existing provider first (children before parents)
            instead of refusing a database that has any.

    Returns:
        What was written and deleted.

    Raises:
        DemoNotEmpty: the database has providers and ``force`` is False.
        ProviderInUse: with ``force``, some providers have allocations; nothing is
            deleted or written.
        UnknownTrait, UnknownResourceClass: the standard catalogues were never synced
            (``corral db upgrade`` does it).
    """
    plan = demo_plan()
    with store.write() as repo:
        existing = repo.count_providers()
        deleted = 0
        if existing:
            if not force:
                raise DemoNotEmpty(existing)
            deleted = _delete_all_providers(repo)
        created_traits = tuple(name for name in CUSTOM_TRAITS if repo.create_trait(name))
        wanted_traits = {name for p in plan for name in p.traits}
        trait_ids = repo.trait_ids(wanted_traits)
        missing = wanted_traits - set(trait_ids)
        if missing:
            raise errors.UnknownTrait(sorted(missing), " (run 'corral db upgrade' to load "
                                      "the standard traits)")
        written = _write_providers(repo, plan, trait_ids)
        hosts = _register_hosts(repo, plan, written)
        flavors = _create_flavors(repo)
        repo.set_fleet_policy(DEFAULT, "host_down_after_s", DOWN_AFTER_S, "corral demo")
    projects = _create_projects(store)
    members = Counter(a for p in plan for a in p.aggregates)
    return DemoSummary(
        providers=len(plan),
        compute_hosts=sum(1 for p in plan if p.parent is None and p.name.startswith("compute-")),
        children=sum(1 for p in plan if p.parent is not None),
        sharing=sum(1 for p in plan if "MISC_SHARES_VIA_AGGREGATE" in p.traits),
        deleted=deleted,
        custom_traits_created=created_traits,
        aggregates=dict(AGGREGATES),
        aggregate_members={name: members[name] for name in AGGREGATE_NAMES},
        scheduler_hosts=hosts, flavors=flavors, projects=projects,
    )


def _write_providers(repo: ProviderStore, plan: list[PlannedProvider],
                     trait_ids: dict[str, int]) -> dict[str, Provider]:
    """Create the planned providers, parents first; each kind of change moves the
    generation once, as the API would."""
    written: dict[str, Provider] = {}
    for planned in plan:
        parent = written[planned.parent] if planned.parent else None
        provider = repo.create_provider(planned.uuid, planned.name, parent)
        generation = provider.generation
        repo.replace_inventories(provider, planned.inventories)
        generation = repo.bump_generation(provider, generation)
        if planned.traits:
            repo.set_provider_traits(provider, [trait_ids[t] for t in planned.traits])
            generation = repo.bump_generation(provider, generation)
        if planned.aggregates:
            repo.set_provider_aggregates(provider, [AGGREGATES[a] for a in planned.aggregates])
            generation = repo.bump_generation(provider, generation)
        written[planned.name] = provider
    return written


#: The demo's quota tree: (project, parent, limits). The limits fit both models.
DEMO_PROJECTS = (
    ("acme", None, {"instances": 40, "cores": 160, "ram": 327680}),
    ("demo", "acme", {"instances": 20, "cores": 64}),
    ("research", "acme", {"instances": 20, "cores": 96}),
)


def _create_projects(store: Store) -> tuple[str, ...]:
    """The demo's project tree with limits (kept as it is when already there)."""
    made = []
    for project, parent, limits in DEMO_PROJECTS:
        try:
            project_svc.create_project(store, project, model="overbook", parent_id=parent,
                                       limits=limits, actor=local_actor("corral demo"))
        except ProjectExists:
            continue
        made.append(project)
    return tuple(made)


def _register_hosts(repo: _HostsRepo, plan: list[PlannedProvider],
                    written: dict[str, Provider]) -> int:
    """The compute hosts and host aggregates of the scheduler over the written providers."""
    for name in AGGREGATE_NAMES:  # left from an earlier seed (their hosts went with it)
        row = repo.get_aggregate_row(name)
        if row is not None:
            repo.delete_aggregate(row.id)
    aggregate_ids = {name: repo.insert_aggregate(name, AGGREGATES[name],
                                                 AGGREGATE_METADATA[name])
                     for name in AGGREGATE_NAMES}
    now = utcnow()
    count = 0
    for planned in plan:
        base = planned.inventories
        if planned.parent is not None or "VCPU" not in base:
            continue  # children, the sharing pool, and the NUMA hosts
        host_id = repo.insert_host(planned.name, written[planned.name].id,
                                   vcpus=base["VCPU"].total, memory_mb=base["MEMORY_MB"].total,
                                   disk_gb=base["DISK_GB"].total, heartbeat=now)
        if "COMPUTE_STATUS_DISABLED" in planned.traits:
            repo.update_host(host_id, {"enabled": False,
                                       "disabled_reason": "demo: in maintenance"})
        for name in planned.aggregates:
            repo.add_aggregate_host(aggregate_ids[name], host_id)
        count += 1
    return count


def _create_flavors(repo: FlavorStore) -> tuple[str, ...]:
    created = []
    for name, (vcpus, ram_mb, disk_gb, specs) in FLAVORS.items():
        try:
            repo.get_flavor(name)
            continue  # kept from an earlier seed (instances may use it)
        except errors.FlavorNotFound:
            pass
        repo.create_flavor(Flavor(id=demo_uuid("flavor", name), name=name, vcpus=vcpus,
                                  ram_mb=ram_mb, disk_gb=disk_gb, extra_specs=specs))
        created.append(name)
    return tuple(created)


def _delete_all_providers(repo: ProviderStore) -> int:
    """Delete every provider, deepest first; refuse if any has allocations."""
    providers = repo.list_providers(ProviderFilter())
    in_use = [p.name for p in providers if repo.has_allocations(p.id)]
    if in_use:
        shown = ", ".join(in_use[:5]) + (f" and {len(in_use) - 5} more" if len(in_use) > 5 else "")
        raise errors.ProviderInUse(
            f"cannot replace the existing providers: {len(in_use)} of them have allocations "
            f"({shown}); delete those allocations first. Nothing was changed.")
    by_uuid = {p.uuid: p for p in providers}

    def depth(p: Provider) -> int:
        d = 0
        while p.parent_uuid is not None:
            p = by_uuid[p.parent_uuid]
            d += 1
        return d

    for provider in sorted(providers, key=depth, reverse=True):
        repo.delete_provider(provider)
    return len(providers)
