"""corral demo and services/demo.py: the fleet, its refusals, --force and --if-empty."""

from __future__ import annotations

import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from corral.domain import capacity, errors
from corral.domain.capacity import Inventory
from corral.domain.model import Provider, ProviderFilter
from corral.persistence import Store, tables
from corral.services import allocations, catalog, demo
from corral.services import providers as svc

from .conftest import Cli, assert_fails, assert_one_error_line


@dataclass
class Seen:
    provider: Provider
    inventories: dict[str, Inventory]
    traits: list[str]
    aggregates: list[str]


def fleet(store: Store) -> dict[str, Seen]:
    """Every provider with its inventories, traits and aggregates, by name."""
    return {p.name: Seen(p, svc.get_inventories(store, p.uuid).inventories,
                         svc.get_provider_traits(store, p.uuid)[1],
                         svc.get_provider_aggregates(store, p.uuid)[1])
            for p in svc.list_providers(store, ProviderFilter())}


def test_demo_seeds_the_fleet_on_both_backends(any_cli: Cli, store: Store) -> None:
    result = any_cli.ok("demo")
    assert "seeded the demo fleet: 49 providers, 4 aggregates\n" \
           "  40 compute hosts, 8 child providers, 1 sharing provider" in result.stdout
    for name, uuid in demo.AGGREGATES.items():
        assert name in result.stdout and uuid in result.stdout

    seen = fleet(store)
    assert len(seen) == 49
    hosts = [n for n in seen if n.startswith("compute-") and "-numa" not in n and "-pgpu" not in n]
    assert hosts == [f"compute-{z}-{i:02d}" for z in ("az1", "az2") for i in range(1, 21)]
    for name in hosts:
        p = seen[name].provider
        assert p.parent_uuid is None and p.root_uuid == p.uuid

    # Nesting: two NUMA nodes under host 19 and two GPUs under host 20, in each zone.
    children = {n: v for n, v in seen.items() if v.provider.parent_uuid}
    assert sorted(children) == sorted(f"compute-{z}-{h}-{kind}{i}" for z in ("az1", "az2")
                                      for h, kind in (("19", "numa"), ("20", "pgpu"))
                                      for i in (0, 1))
    for name, child in children.items():
        host = seen[name.rsplit("-", 1)[0]].provider
        assert child.provider.parent_uuid == host.uuid
        assert child.provider.root_uuid == host.uuid
        if "-pgpu" in name:
            assert set(child.inventories) == {"VGPU"}
            assert child.traits == ["CUSTOM_GPU"]
        else:
            assert set(child.inventories) == {"VCPU", "MEMORY_MB"}
            assert child.traits == ["HW_NUMA_ROOT"]
    assert set(seen["compute-az1-19"].inventories) == {"DISK_GB"}

    # Inventories as the operators asked: CPU overcommit, RAM not, reserved host RAM.
    small = seen["compute-az2-01"].inventories
    assert small == {"VCPU": Inventory(32, 0, 1, 32, 1, 4.0),
                     "MEMORY_MB": Inventory(131072, 512, 1, 131072, 1, 1.0),
                     "DISK_GB": Inventory(1000, 0, 1, 1000, 1, 1.0)}
    assert seen["compute-az1-13"].inventories["VCPU"].total == 64

    # Traits: AVX2 on most, SSD on some, two hosts disabled.
    trait_count = Counter(t for name in hosts for t in seen[name].traits)
    assert trait_count["HW_CPU_X86_AVX2"] == 36
    assert trait_count["CUSTOM_SSD"] == 12
    assert [n for n in hosts if "COMPUTE_STATUS_DISABLED" in seen[n].traits] == [
        "compute-az1-07", "compute-az2-15"]
    assert {"CUSTOM_SSD", "CUSTOM_GPU"} <= set(catalog.list_traits(store, prefix="CUSTOM_"))

    # Aggregates: zones, ssd, gpu; the sharing provider shares through az1.
    members = Counter(a for v in seen.values() for a in v.aggregates)
    assert members == {demo.AGGREGATES["az1"]: 21, demo.AGGREGATES["az2"]: 20,
                       demo.AGGREGATES["ssd"]: 12, demo.AGGREGATES["gpu"]: 2}
    shared = seen["shared-storage-az1"]
    assert shared.traits == ["MISC_SHARES_VIA_AGGREGATE"]
    assert shared.aggregates == [demo.AGGREGATES["az1"]]
    assert set(shared.inventories) == {"DISK_GB"}
    # Every change moved the generation, as the API would have.
    assert seen["compute-az1-01"].provider.generation == 3


def test_the_plan_is_deterministic_and_valid() -> None:
    first, second = demo.demo_plan(), demo.demo_plan()
    assert first == second
    assert len({p.uuid for p in first}) == len({p.name for p in first}) == len(first) == 49
    for planned in first:
        assert planned.uuid == demo.demo_uuid("provider", planned.name)
        for record in planned.inventories.values():
            assert capacity.inventory_problem(record, reserved_may_equal_total=False) is None
    assert demo.AGGREGATES["az1"] == str(uuidlib.uuid5(demo.NAMESPACE, "aggregate:az1"))
    index = {p.name: i for i, p in enumerate(first)}
    assert all(index[p.parent] < index[p.name] for p in first if p.parent)


def test_demo_refuses_a_database_that_has_providers(any_cli: Cli, store: Store) -> None:
    svc.create_provider(store, "mine")
    assert_one_error_line(any_cli("demo"), "already has 1 resource provider(s)",
                          "'corral demo --force'")
    assert [p.name for p in svc.list_providers(store, ProviderFilter())] == ["mine"]
    with pytest.raises(demo.DemoNotEmpty) as caught:
        demo.seed_demo(store, force=False)
    assert caught.value.providers == 1


def test_force_replaces_everything_children_first_and_keeps_uuids(any_cli: Cli,
                                                                 store: Store) -> None:
    any_cli.ok("demo")
    before = {p.name: p.uuid for p in svc.list_providers(store, ProviderFilter())}
    root = svc.create_provider(store, "mine")
    mid = svc.create_provider(store, "mine-child", parent_uuid=root.uuid)
    svc.create_provider(store, "mine-grandchild", parent_uuid=mid.uuid)
    result = any_cli.ok("demo", "--force")
    assert "deleted 52 existing provider(s)" in result.stdout
    after = {p.name: p.uuid for p in svc.list_providers(store, ProviderFilter())}
    assert after == before


def test_force_refuses_when_providers_have_allocations(any_cli: Cli, store: Store) -> None:
    host = svc.create_provider(store, "busy-host")
    svc.set_inventories(store, host.uuid, 0, {"VCPU": Inventory(4)},
                        reserved_may_equal_total=True)
    allocations.write_allocations(store, [allocations.ConsumerWrite(
        consumer=str(uuidlib.uuid4()), allocations={host.uuid: {"VCPU": 1}},
        project_id="p", user_id="u")])
    svc.create_provider(store, "idle-host")
    assert_one_error_line(any_cli("demo", "--force"), "1 of them have allocations",
                          "(busy-host)", "Nothing was changed")
    assert sorted(p.name for p in svc.list_providers(store, ProviderFilter())) == [
        "busy-host", "idle-host"]


def test_if_empty_seeds_an_empty_database_and_leaves_data_alone(cli: Cli,
                                                               sqlite_store: Store) -> None:
    assert "seeded the demo fleet" in cli.ok("demo", "--if-empty").stdout
    assert len(svc.list_providers(sqlite_store, ProviderFilter())) == 49
    again = cli.ok("demo", "--if-empty")
    assert again.stdout.strip() == "the database already has 49 resource provider(s): " \
                                   "left them alone"
    svc.delete_provider(sqlite_store, demo.demo_uuid("provider", "compute-az1-01"))
    cli.ok("demo", "--if-empty")
    assert len(svc.list_providers(sqlite_store, ProviderFilter())) == 48


def test_force_and_if_empty_contradict(cli: Cli) -> None:
    assert_fails(cli("demo", "--force", "--if-empty"), 2, "'--force'", "contradict")


def test_the_seed_is_one_transaction(sqlite_store: Store) -> None:
    """A failure part-way (no VGPU class: the first GPU is the 20th host) leaves nothing."""
    with sqlite_store.engine.begin() as conn:
        conn.execute(delete(tables.resource_classes)
                     .where(tables.resource_classes.c.name == "VGPU"))
    with pytest.raises(errors.UnknownResourceClass):
        demo.seed_demo(sqlite_store, force=False)
    assert svc.list_providers(sqlite_store, ProviderFilter()) == []
    assert catalog.list_traits(sqlite_store, prefix="CUSTOM_") == []


def test_demo_needs_an_upgraded_schema(tmp_path: object) -> None:
    fresh = Cli(f"sqlite:///{tmp_path}/fresh.sqlite")
    assert_one_error_line(fresh("demo"), "run 'corral db upgrade'")


def test_the_demo_fleet_is_ready_to_boot_on(any_cli: Cli, store: Store, tmp_path: object) -> None:
    from corral.config import Settings
    from corral.domain import scheduling
    from corral.services import hosts as host_svc
    from corral.services import instances
    from corral.services.candidates import CandidateFinder
    from corral.services.scheduler import Scheduler

    any_cli.ok("demo")
    settings = Settings(data_dir=str(tmp_path), host_down_after_s=3600)
    hosts = host_svc.list_hosts(store, settings)
    assert len(hosts) == 38  # every compute host but the two NUMA hosts
    assert {h.name for h in hosts if not h.enabled} == set(demo.DISABLED)
    assert {h.availability_zone for h in hosts} == {"az1", "az2"}
    scheduler = Scheduler(store, settings, CandidateFinder(store))

    def boot(flavor: str, **kw: object) -> list[scheduling.Instance]:
        req = instances.BootRequest(name="t", flavor=flavor, project_id="demo", user_id="u",
                                    **kw)  # type: ignore[arg-type]
        return instances.boot(store, scheduler, req).instances

    # ssd.large goes only to hosts 01-06 (the ssd aggregate and trait), in the zone asked
    placed = boot("ssd.large", count=4, availability_zone="az2")
    assert all(i.host is not None and i.host.startswith("compute-az2-0")
               and int(i.host[-2:]) <= demo.SSD_UP_TO for i in placed)
    # gpu.large takes a VGPU from a GPU child of host 20
    gpu = boot("gpu.large")[0]
    assert gpu.host is not None and gpu.host.endswith("-20")
    held = allocations.get_consumer_allocations(store, gpu.id).allocations
    pgpus = {demo.demo_uuid("provider", f"{gpu.host}-pgpu{n}") for n in (0, 1)}
    assert sum(res.get("VGPU", 0) for rp, res in held.items() if rp in pgpus) == 1


def test_the_demo_has_a_quota_tree_with_limits(cli: Cli) -> None:
    cli.ok("demo")
    shown = cli.ok("quota", "show", "acme").stdout
    for fragment in ("acme", "demo", "research", "cores=0/160", "cores=0/64"):
        assert fragment in shown, (fragment, shown)
    assert "projects" in cli.ok("demo", "--force").stdout  # seeding again keeps the tree
    assert "cores=0/96" in cli.ok("quota", "show", "research").stdout
