"""Invariants of flavor extra specs and the flavor -> Placement translation, by hypothesis.

Rules checked:

1. Every generated well-formed spec set is accepted, and its request equals an oracle
   written independently: VCPU/MEMORY_MB/DISK_GB from the sizes (swap rounded up to
   whole GiB), unsuffixed ``resources:`` overriding or adding, zeros dropped; suffixed
   groups carrying exactly their resources and traits; aggregate specs without prefix.
2. No amount in a request is ever 0 or negative, and the request does not depend on
   the order the specs were given in.
3. A key in any namespace outside the accepted ones is refused, naming that key.
4. A ``resources:`` amount that is not a plain whole number 0..MAX_INT is refused.
"""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from corral.domain import errors
from corral.domain.flavors import (
    MAX_INT,
    Flavor,
    check_extra_specs,
    placement_request,
)
from corral.services.flavors import CATALOGUE

CLASSES = sorted(CATALOGUE.resource_classes)
TRAITS = sorted(CATALOGUE.traits)
custom = st.from_regex(r"CUSTOM_[A-Z0-9_]{1,12}", fullmatch=True)
class_names = st.one_of(st.sampled_from(CLASSES), custom)
trait_names = st.one_of(st.sampled_from(TRAITS), custom)
sizes = st.integers(min_value=0, max_value=MAX_INT)
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)


@st.composite
def flavors(draw: st.DrawFn) -> Flavor:
    specs: dict[str, str] = {}
    for rc, amount in draw(st.dictionaries(class_names, st.integers(0, MAX_INT),
                                           max_size=5)).items():
        specs[f"resources:{rc}"] = str(amount)
    for name, value in draw(st.dictionaries(trait_names, st.sampled_from(["required", "forbidden"]),
                                            max_size=4)).items():
        specs[f"trait:{name}"] = value
    suffixes = draw(st.lists(st.one_of(st.integers(1, 99).map(str),
                                       st.from_regex(r"_[A-Z0-9]{1,6}", fullmatch=True)),
                             unique=True, max_size=3))
    for suffix in suffixes:
        # a suffixed group asks for at least one resource, so it may carry traits
        resources = draw(st.dictionaries(class_names, st.integers(1, MAX_INT), min_size=1,
                                         max_size=3))
        specs.update({f"resources{suffix}:{rc}": str(n) for rc, n in resources.items()})
        for name, value in draw(st.dictionaries(trait_names,
                                                st.sampled_from(["required", "forbidden"]),
                                                max_size=2)).items():
            specs[f"trait{suffix}:{name}"] = value
    if len(suffixes) > 1 or draw(st.booleans()):
        specs["group_policy"] = draw(st.sampled_from(["none", "isolate"]))
    for key, value in draw(st.dictionaries(st.text(string.ascii_lowercase + "_", min_size=1,
                                                   max_size=10),
                                           st.text(string.ascii_letters, min_size=1, max_size=8),
                                           max_size=3)).items():
        specs[f"aggregate_instance_extra_specs:{key}"] = value
    if draw(st.booleans()):
        specs["hw:cpu_policy"] = draw(st.sampled_from(["shared", "dedicated", "mixed"]))
    return Flavor(id="f", name="f", vcpus=draw(st.integers(1, MAX_INT)),
                  ram_mb=draw(st.integers(1, MAX_INT)), disk_gb=draw(sizes),
                  ephemeral_gb=draw(sizes), swap_mb=draw(sizes), extra_specs=specs)


def oracle_resources(f: Flavor) -> dict[str, int]:
    wanted = {"VCPU": f.vcpus, "MEMORY_MB": f.ram_mb,
              "DISK_GB": f.disk_gb + f.ephemeral_gb + (f.swap_mb + 1023) // 1024}
    for key, value in f.extra_specs.items():
        if key.startswith("resources:"):
            wanted[key.removeprefix("resources:")] = int(value)
    return {rc: n for rc, n in wanted.items() if n != 0}


@SETTINGS
@given(flavors())
def test_well_formed_specs_are_accepted_and_translate_as_the_oracle_says(f: Flavor) -> None:
    check_extra_specs(f.extra_specs, CATALOGUE)
    req = placement_request(f)
    assert dict(req.resources) == oracle_resources(f)
    assert req.required_traits == {k[6:] for k, v in f.extra_specs.items()
                                   if k.startswith("trait:") and v == "required"}
    assert req.forbidden_traits == {k[6:] for k, v in f.extra_specs.items()
                                    if k.startswith("trait:") and v == "forbidden"}
    suffixes = {k.split(":", 1)[0].removeprefix("resources") for k in f.extra_specs
                if k.startswith("resources") and not k.startswith("resources:")}
    assert sorted(g.suffix for g in req.groups) == sorted(suffixes)
    for group in req.groups:
        assert dict(group.resources) == {
            k.split(":", 1)[1]: int(v) for k, v in f.extra_specs.items()
            if k.startswith(f"resources{group.suffix}:")}
        assert group.required_traits | group.forbidden_traits == {
            k.split(":", 1)[1] for k in f.extra_specs if k.startswith(f"trait{group.suffix}:")}
    assert req.group_policy == f.extra_specs.get("group_policy")
    assert dict(req.aggregate_specs) == {
        k.split(":", 1)[1]: v for k, v in f.extra_specs.items()
        if k.startswith("aggregate_instance_extra_specs:")}


@SETTINGS
@given(flavors(), st.randoms(use_true_random=False))
def test_no_zero_amounts_and_the_order_of_specs_does_not_matter(f: Flavor,
                                                               rnd: random.Random) -> None:
    req = placement_request(f)
    assert all(n > 0 for n in req.resources.values())
    assert all(n > 0 for g in req.groups for n in g.resources.values())
    items = list(f.extra_specs.items())
    rnd.shuffle(items)
    shuffled = Flavor(id=f.id, name=f.name, vcpus=f.vcpus, ram_mb=f.ram_mb, disk_gb=f.disk_gb,
                      ephemeral_gb=f.ephemeral_gb, swap_mb=f.swap_mb, extra_specs=dict(items))
    assert placement_request(shuffled) == req


ACCEPTED_NAMESPACES = {"aggregate_instance_extra_specs", "hw", "hw_rng", "hw_video", "os",
                       "quota", "pci_passthrough"}


@SETTINGS
@given(st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=30),
       st.text(string.ascii_letters + "_", min_size=1, max_size=20))
def test_a_key_outside_the_accepted_namespaces_is_refused(namespace: str, name: str) -> None:
    assume(namespace not in ACCEPTED_NAMESPACES)
    assume(not namespace.startswith(("resources", "trait")))
    key = f"{namespace}:{name}"
    with pytest.raises(errors.InvalidInput) as info:
        check_extra_specs({key: "1"}, CATALOGUE)
    assert info.value.field == f"extra_specs.{key}"
    assert "unknown namespace" in info.value.detail


@SETTINGS
@given(st.one_of(st.text(max_size=12), st.integers(MAX_INT + 1).map(str),
                 st.integers(max_value=-1).map(str), st.floats().map(str)))
def test_an_amount_that_is_not_a_plain_whole_number_is_refused(value: str) -> None:
    assume(not (value.isascii() and value.isdigit() and int(value) <= MAX_INT))
    with pytest.raises(errors.InvalidInput) as info:
        check_extra_specs({"resources:VCPU": value}, CATALOGUE)
    assert info.value.field == "extra_specs.resources:VCPU"
