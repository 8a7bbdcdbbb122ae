"""Invariants of the capacity arithmetic (corral.domain.capacity), by hypothesis."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from corral.domain.capacity import (
    MAX_INT,
    MAX_RATIO,
    Inventory,
    fits,
    free,
    inventory_problem,
    unit_violation,
    usable_capacity,
)

ints = st.integers(min_value=0, max_value=MAX_INT)
positive = st.integers(min_value=1, max_value=MAX_INT)
ratios = st.floats(min_value=0.0625, max_value=64.0, allow_nan=False, allow_infinity=False)
amounts = st.integers(min_value=1, max_value=MAX_INT)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    total = draw(positive)
    reserved = draw(st.integers(min_value=0, max_value=total))
    min_unit = draw(st.integers(min_value=1, max_value=1024))
    max_unit = draw(st.integers(min_value=min_unit, max_value=MAX_INT))
    step = draw(st.integers(min_value=1, max_value=64))
    return Inventory(total, reserved, min_unit, max_unit, step, draw(ratios))


small = settings(max_examples=300, deadline=None)


@small
@given(inventories())
def test_capacity_is_the_rounded_down_product(inv: Inventory) -> None:
    expected = int((inv.total - inv.reserved) * inv.allocation_ratio)
    assert inv.capacity == expected == usable_capacity(inv.total, inv.reserved,
                                                       inv.allocation_ratio)
    assert inv.capacity >= 0
    assert inv.capacity <= (inv.total - inv.reserved) * inv.allocation_ratio


@small
@given(positive, ratios)
def test_reserving_everything_leaves_nothing(total: int, ratio: float) -> None:
    assert usable_capacity(total, total, ratio) == 0


@small
@given(inventories(), st.integers(min_value=1, max_value=1000))
def test_capacity_grows_with_total_and_ratio(inv: Inventory, more: int) -> None:
    assert usable_capacity(inv.total + more, inv.reserved, inv.allocation_ratio) >= inv.capacity
    assert usable_capacity(inv.total, inv.reserved, inv.allocation_ratio * 2) >= inv.capacity
    if inv.reserved >= more:
        assert usable_capacity(inv.total, inv.reserved - more,
                               inv.allocation_ratio) >= inv.capacity


@small
@given(st.integers(min_value=1, max_value=10**6))
def test_ratio_one_is_exact(n: int) -> None:
    assert usable_capacity(n, 0, 1.0) == n


@small
@given(inventories(), amounts)
def test_unit_rules(inv: Inventory, amount: int) -> None:
    ok = inv.min_unit <= amount <= inv.max_unit and amount % inv.step_size == 0
    reason = unit_violation(inv, amount)
    assert (reason is None) == ok
    if reason is not None:
        assert str(amount) in reason


@small
@given(inventories(), st.integers(min_value=0, max_value=MAX_INT), amounts)
def test_fits_is_unit_rules_and_room(inv: Inventory, used: int, amount: int) -> None:
    assert fits(inv, used, amount) == (unit_violation(inv, amount) is None
                                       and used + amount <= inv.capacity)
    assert free(inv, used) == inv.capacity - used
    if fits(inv, used, amount):
        assert amount <= free(inv, used)
        # what fits on top of some usage fits on top of less usage
        assert fits(inv, used // 2, amount)
        assert fits(inv, 0, amount)


@small
@given(inventories(), st.integers(min_value=0, max_value=MAX_INT))
def test_free_is_what_is_left(inv: Inventory, extra: int) -> None:
    used = inv.capacity + extra
    assert free(inv, used) == -extra
    # nothing more fits once usage has reached capacity
    assert not fits(inv, used, inv.min_unit)
    assert not fits(inv, used, 1)


@small
@given(inventories())
def test_filling_step_by_step_never_exceeds_capacity(inv: Inventory) -> None:
    assume(inv.capacity < 10**6)
    amount = inv.min_unit + (-inv.min_unit) % inv.step_size
    assume(amount <= inv.max_unit)
    used = 0
    while fits(inv, used, amount):
        used += amount
    assert used <= inv.capacity
    assert used + amount > inv.capacity


@small
@given(positive, ints, st.integers(min_value=1, max_value=MAX_INT),
       st.integers(min_value=1, max_value=MAX_INT),
       st.floats(min_value=1e-6, max_value=MAX_RATIO, allow_nan=False), st.booleans())
def test_inventory_problem(total: int, reserved: int, min_unit: int, max_unit: int,
                           ratio: float, from_1_26: bool) -> None:
    inv = Inventory(total, reserved, min_unit, max_unit, 1, ratio)
    problem = inventory_problem(inv, reserved_may_equal_total=from_1_26)
    if min_unit > max_unit:
        assert problem is not None and "min_unit" in problem
    elif from_1_26:
        assert (problem is None) == (inv.capacity >= 0)
    else:
        assert (problem is None) == (inv.capacity > 0)


@small
@given(positive, st.booleans())
def test_reserved_equal_total_only_from_1_26(total: int, from_1_26: bool) -> None:
    inv = Inventory(total, total)
    assert (inventory_problem(inv, reserved_may_equal_total=from_1_26) is None) == from_1_26
    over = Inventory(total, total + 1)
    assert inventory_problem(over, reserved_may_equal_total=from_1_26) is not None


@small
@given(inventories())
def test_a_valid_record_passes(inv: Inventory) -> None:
    assume(inv.capacity > 0)
    assert inventory_problem(inv, reserved_may_equal_total=False) is None
    assert inventory_problem(inv, reserved_may_equal_total=True) is None


def test_defaults() -> None:
    inv = Inventory(total=10)
    assert (inv.reserved, inv.min_unit, inv.max_unit, inv.step_size, inv.allocation_ratio) == (
        0, 1, MAX_INT, 1, 1.0)
    assert inv.capacity == 10
