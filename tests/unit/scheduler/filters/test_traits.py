"""Filter traits: every required trait in the host's tree, no forbidden one on it."""

from __future__ import annotations

from corral.scheduler.filters.traits import FILTER

from ..fleet import Fleet, plain


def fleet() -> Fleet:
    return Fleet([plain(1, "gpu", traits=frozenset({"CUSTOM_GPU"})),
                  plain(2, "gpu-ssd", traits=frozenset({"CUSTOM_GPU", "STORAGE_DISK_SSD"})),
                  plain(3, "bare")])


def test_required_and_forbidden_traits() -> None:
    assert fleet().kept(FILTER, required_traits=frozenset({"CUSTOM_GPU"})) == ["gpu", "gpu-ssd"]
    assert fleet().kept(FILTER, required_traits=frozenset({"CUSTOM_GPU"}),
                        forbidden_traits=frozenset({"STORAGE_DISK_SSD"})) == ["gpu"]
    assert fleet().kept(FILTER) == ["bare", "gpu", "gpu-ssd"]


def test_explains_with_the_traits() -> None:
    [bucket] = fleet().buckets(FILTER, required_traits=frozenset({"CUSTOM_GPU"}),
                               forbidden_traits=frozenset({"STORAGE_DISK_SSD"}))
    assert bucket.constraint == "trait"
    assert bucket.message == ("2 hosts: lack one of the required traits CUSTOM_GPU or carry "
                              "a forbidden trait of STORAGE_DISK_SSD")
    assert sorted(bucket.host_names) == ["bare", "gpu-ssd"]
