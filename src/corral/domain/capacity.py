"""Capacity arithmetic for one inventory record, as Placement defines it.

usable capacity = int((total - reserved) * allocation_ratio), and an amount asked of
an inventory must also respect its unit rules: min_unit <= amount <= max_unit and
amount % step_size == 0. This module is the single place these rules live: the
inventory service, the provider list filter and (later) the claim path use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.domain import bounds

#: Largest value of an integer inventory field (a signed 32-bit column in Placement).
MAX_INT = bounds.INT32_MAX
#: Largest allocation ratio: the largest single-precision float, as Placement stores it.
MAX_RATIO = bounds.PLACEMENT_RATIO.high


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class's inventory on one provider."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        """Usable capacity: (total - reserved) x allocation_ratio, rounded down."""
        return usable_capacity(self.total, self.reserved, self.allocation_ratio)


def usable_capacity(total: int, reserved: int, allocation_ratio: float) -> int:
    """Return the usable capacity, rounded down to a whole unit."""
    return int((total - reserved) * allocation_ratio)


def unit_violation(inventory: Inventory, amount: int) -> str | None:
    """Say why ``amount`` breaks the inventory's unit rules, or None when it does not.

    Args:
        inventory: the inventory the amount is asked of.
        amount: a positive amount of the inventory's resource class.

    Returns:
        A short human reason naming the rule broken, or None.
    """
    if amount < inventory.min_unit:
        return f"{amount} is below min_unit {inventory.min_unit}"
    if amount > inventory.max_unit:
        return f"{amount} is above max_unit {inventory.max_unit}"
    if amount % inventory.step_size:
        return f"{amount} is not a multiple of step_size {inventory.step_size}"
    return None


def free(inventory: Inventory, used: int) -> int:
    """Units still free to allocate; negative when usage exceeds a lowered capacity."""
    return inventory.capacity - used


def fits(inventory: Inventory, used: int, amount: int) -> bool:
    """True when ``amount`` more units can be allocated on top of ``used``."""
    return unit_violation(inventory, amount) is None and used + amount <= inventory.capacity


def inventory_problem(inventory: Inventory, *, reserved_may_equal_total: bool) -> str | None:
    """Say what is wrong with an inventory record as a whole, or None.

    Placement refuses a record with no usable capacity. From microversion 1.26 a
    record whose ``reserved`` equals its ``total`` (capacity 0) is allowed, for a
    provider that is temporarily taken out of service.

    Args:
        inventory: the record to check.
        reserved_may_equal_total: True from microversion 1.26.

    Returns:
        A short reason, or None when the record is acceptable.
    """
    for name, low in (("total", 1), ("reserved", 0), ("min_unit", 1), ("max_unit", 1),
                      ("step_size", 1)):
        value = getattr(inventory, name)
        if not low <= value <= MAX_INT:
            return f"{name} {value} is outside {low}..{MAX_INT}"
    if not 0 < inventory.allocation_ratio <= MAX_RATIO:
        return f"allocation_ratio {inventory.allocation_ratio} must be above 0 and at most {MAX_RATIO}"
    if inventory.min_unit > inventory.max_unit:
        return f"min_unit {inventory.min_unit} is greater than max_unit {inventory.max_unit}"
    capacity = inventory.capacity
    if reserved_may_equal_total:
        if capacity < 0:
            return "The reserved value is greater than total."
    elif capacity <= 0:
        return "The reserved value is greater than or equal to total."
    return None
