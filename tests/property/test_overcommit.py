"""Invariants of the overcommit resolution (corral.domain.overcommit), by hypothesis.

Rules checked: a host value always wins with source ``host``; without one, the value is
the minimum of the aggregates' values and the source names an aggregate holding it
(the first by name on a tie); with neither, the default; the answer does not depend on
the order the aggregates come in; and the inventories built from it carry exactly the
effective ratio and reserved memory, are always valid Placement records, and never
offer less capacity when a ratio grows.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from corral.domain.capacity import inventory_problem
from corral.domain.overcommit import (
    KEYS,
    Defaults,
    host_inventories,
    resolve,
    resolve_all,
)

ratios = st.floats(min_value=0.01, max_value=1000.0, allow_nan=False, allow_infinity=False)
names = st.text(alphabet="abcdefgh-", min_size=1, max_size=6)
aggregate_values = st.lists(st.tuples(names, ratios), max_size=6)
maybe = st.none() | ratios


@given(maybe, aggregate_values, ratios)
def test_resolution_order(host: float | None, aggs: list[tuple[str, float]],
                          default: float) -> None:
    got = resolve(host, aggs, default)
    if host is not None:
        assert (got.value, got.source) == (host, "host")
    elif aggs:
        smallest = min(v for _, v in aggs)
        assert got.value == smallest
        name = got.source.removeprefix("aggregate:")
        assert got.source.startswith("aggregate:") and (name, smallest) in aggs
        assert name == min(n for n, v in aggs if v == smallest)
    else:
        assert (got.value, got.source) == (default, "default")


@given(maybe, aggregate_values, ratios, st.randoms(use_true_random=False))
def test_order_of_aggregates_does_not_matter(host: float | None, aggs: list[tuple[str, float]],
                                             default: float, rnd: object) -> None:
    shuffled = list(aggs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert resolve(host, aggs, default) == resolve(host, shuffled, default)


@given(st.integers(0, 4096), st.integers(0, 1 << 20), st.integers(0, 1 << 16),
       st.fixed_dictionaries({k: maybe for k in KEYS[:3]}),
       st.integers(0, 1 << 16), ratios)
def test_inventories_carry_the_effective_values(vcpus: int, memory: int, disk: int,
                                                host: dict[str, float | None], reserved: int,
                                                bigger: float) -> None:
    eff = resolve_all({**host, "reserved_host_memory_mb": reserved}, {}, Defaults())
    invs = host_inventories(vcpus, memory, disk, eff)
    for name, total, key in (("VCPU", vcpus, "cpu_allocation_ratio"),
                             ("MEMORY_MB", memory, "ram_allocation_ratio"),
                             ("DISK_GB", disk, "disk_allocation_ratio")):
        if total == 0:
            assert name not in invs
            continue
        inv = invs[name]
        assert inv.total == total and inv.allocation_ratio == eff.get(key).value
        assert inv.reserved == (min(reserved, total) if name == "MEMORY_MB" else 0)
        assert inventory_problem(inv, reserved_may_equal_total=True) is None
        # A larger ratio never shrinks what the host offers.
        grown = resolve_all({**host, key: max(bigger, inv.allocation_ratio),
                             "reserved_host_memory_mb": reserved}, {}, Defaults())
        assert host_inventories(vcpus, memory, disk, grown)[name].capacity >= inv.capacity
