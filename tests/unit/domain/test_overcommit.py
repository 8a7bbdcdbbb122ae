"""corral.domain.overcommit and the host/aggregate rules in corral.domain.hosts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from corral.domain import errors
from corral.domain.capacity import Inventory, inventory_problem
from corral.domain.hosts import check_metadata_item, host_state
from corral.domain.overcommit import Defaults, Resolved, host_inventories, resolve, resolve_all

DEFAULTS = Defaults()


def test_resolve_prefers_the_host_then_the_smallest_aggregate_then_the_default() -> None:
    aggs = [("b", 2.0), ("a", 3.0)]
    assert resolve(8.0, aggs, 4.0) == Resolved(8.0, "host")
    assert resolve(None, aggs, 4.0) == Resolved(2.0, "aggregate:b")
    assert resolve(None, [], 4.0) == Resolved(4.0, "default")
    # A host value smaller or larger than the aggregates' still wins.
    assert resolve(0.5, aggs, 4.0).source == "host"


def test_a_tie_between_aggregates_names_the_first_by_name() -> None:
    assert resolve(None, [("zeta", 2.0), ("alpha", 2.0)], 4.0) == Resolved(2.0, "aggregate:alpha")


def test_resolve_all_keys_and_whole_reserved_memory() -> None:
    eff = resolve_all({"cpu_allocation_ratio": 16.0},
                      {"reserved_host_memory_mb": [("big", 2048.0)],
                       "ram_allocation_ratio": [("x", 1.5), ("y", 1.2)]}, DEFAULTS)
    assert eff.as_dict() == {
        "cpu_allocation_ratio": {"value": 16.0, "source": "host"},
        "ram_allocation_ratio": {"value": 1.2, "source": "aggregate:y"},
        "disk_allocation_ratio": {"value": 1.0, "source": "default"},
        "reserved_host_memory_mb": {"value": 2048, "source": "aggregate:big"}}
    assert isinstance(eff.reserved_host_memory_mb.value, int)


def test_host_inventories() -> None:
    eff = resolve_all({}, {}, DEFAULTS)
    invs = host_inventories(4, 8192, 0, eff, {"CUSTOM_GPU": Inventory(total=2)})
    assert set(invs) == {"VCPU", "MEMORY_MB", "CUSTOM_GPU"}  # disk 0: no inventory
    assert invs["VCPU"] == Inventory(total=4, reserved=0, min_unit=1, max_unit=4, step_size=1,
                                     allocation_ratio=4.0)
    assert invs["MEMORY_MB"].reserved == 512 and invs["MEMORY_MB"].capacity == 7680
    tiny = host_inventories(1, 256, 1, eff)["MEMORY_MB"]
    assert tiny.reserved == 256 and tiny.capacity == 0 and tiny.max_unit == 256
    assert inventory_problem(tiny, reserved_may_equal_total=True) is None


def test_host_state() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0)
    assert host_state(False, now - timedelta(seconds=60), now, 60) == "up"
    assert host_state(False, now - timedelta(seconds=61), now, 60) == "down"
    assert host_state(True, now, now, 60) == "down"
    assert host_state(False, None, now, 60) == "down"


@pytest.mark.parametrize(("key", "value"), [
    ("cpu_allocation_ratio", "0"), ("cpu_allocation_ratio", "inf"), ("ram_allocation_ratio", "x"),
    ("disk_allocation_ratio", "1000.01"), ("reserved_host_memory_mb", "-1"),
    ("reserved_host_memory_mb", "2147483648"), ("scheduler_strategy", "Pack"),
    ("io_weight_multiplier", "nan"), ("max_instances_per_host", "1.0"),
    ("availability_zone", " "), ("filter_tenant_id_x", ""), ("", "v"), ("k", "a\nb"),
])
def test_metadata_rules_refuse(key: str, value: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        check_metadata_item(key, value)
    assert caught.value.field == f"metadata.{key}"


@pytest.mark.parametrize(("key", "value"), [
    ("cpu_allocation_ratio", "1000"), ("ram_allocation_ratio", "0.5"),
    ("reserved_host_memory_mb", "0"), ("scheduler_strategy", "spread"),
    ("io_weight_multiplier", "-1e3"), ("max_instances_per_host", "50"),
    ("availability_zone", "az-1"), ("filter_tenant_id3", "p"), ("anything", "goes"),
])
def test_metadata_rules_accept(key: str, value: str) -> None:
    assert check_metadata_item(key, value) == value
