"""The filter options of ``corral provider list``, checked before anything is sent.

``--member-of``, ``--required`` and ``--resources`` take Placement's own syntax; a
value that is not valid exits 2 naming the option (the server would refuse it with a
400, less precisely).
"""

from __future__ import annotations

from corral.cli.context import bad_input
from corral.domain import bounds
from corral.domain.names import RESOURCE_CLASS_NAME, TRAIT_NAME, normalize_uuid


def _uuid_list(raw: str, option: str) -> frozenset[str]:
    found = set()
    for item in raw.split(","):
        canonical = normalize_uuid(item.strip())
        if canonical is None:
            bad_input(option, f"{item.strip()!r} is not an aggregate UUID (in {raw!r})")
        found.add(canonical)
    return frozenset(found)


def parse_member_of(values: list[str]) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """``UUID``, ``in:UUID,UUID`` (any of), ``!UUID`` or ``!in:UUID,UUID`` (none of).

    Each value is one condition; all must hold (as repeated ``member_of`` in Placement).
    """
    option = "--member-of"
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        negate = value.startswith("!")
        body = value[1:] if negate else value
        if body.startswith("in:"):
            uuids = _uuid_list(body[3:], option)
        elif "," in body:
            bad_input(option, f"use 'in:UUID,UUID' to give several aggregates, got {value!r}")
        else:
            uuids = _uuid_list(body, option)
        if negate:
            forbidden |= uuids
        else:
            required.append(uuids)
    clash = forbidden.intersection(*(g for g in required if len(g) == 1))
    if clash:
        bad_input(option, f"aggregate {sorted(clash)[0]} is both required and forbidden")
    return tuple(required), frozenset(forbidden)


def parse_required(values: list[str]) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """``T1,!T2`` (all of T1, none of T2) or ``in:T1,T2`` (any of); repeatable."""
    option = "--required"
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        if value.startswith("in:"):
            names = [n.strip() for n in value[3:].split(",")]
            for name in names:
                if not TRAIT_NAME.match(name):
                    bad_input(option, f"{name!r} is not a trait name (in {value!r})")
            required.append(frozenset(names))
            continue
        for item in (n.strip() for n in value.split(",")):
            name = item[1:] if item.startswith("!") else item
            if not TRAIT_NAME.match(name):
                bad_input(option, f"{item!r} is not a trait name or !trait "
                                  f"(expected e.g. 'HW_CPU_X86_AVX2,!CUSTOM_SLOW', got {value!r})")
            if item.startswith("!"):
                forbidden.add(name)
            else:
                required.append(frozenset([name]))
    clash = forbidden & {n for group in required if len(group) == 1 for n in group}
    if clash:
        bad_input(option, f"trait {sorted(clash)[0]} is both required and forbidden")
    return tuple(required), frozenset(forbidden)


def parse_resources(value: str) -> tuple[tuple[str, int], ...]:
    """``VCPU:2,MEMORY_MB:512``: classes with an amount of at least 1, each once."""
    option = "--resources"
    amounts: dict[str, int] = {}
    for item in value.split(","):
        name, sep, amount = (part.strip() for part in item.partition(":"))
        if not sep or not RESOURCE_CLASS_NAME.match(name):
            bad_input(option,
                      f"expected CLASS:AMOUNT,... like 'VCPU:2,MEMORY_MB:512', got {value!r}")
        number = bounds.integer_text(amount)
        if number is None:
            bad_input(option, f"the amount of {name} must be a whole number, got {amount!r}")
        if number < 1:
            bad_input(option, f"the amount of {name} must be at least 1, got {number}")
        if number not in bounds.AMOUNT:
            bad_input(option, f"the amount of {name} must be {bounds.AMOUNT.describe()}, "
                              f"got {number}")
        if name in amounts:
            bad_input(option, f"{name} appears more than once in {value!r}")
        amounts[name] = number
    return tuple(amounts.items())
