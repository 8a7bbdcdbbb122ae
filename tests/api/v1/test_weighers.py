"""Weighers through /v1: pack and spread, aggregate overrides, soft group policies,
build failures and host_subset_size, each read from where the instances land."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .helpers import V1
from .scheduling import AppFactory, app_with, booted, flavor, host_of, per_host
from .scheduling import boot as boot_

__all__ = ["app_with"]

# 16 vCPUs x 4.0, 16 GiB usable after 512 MB reserved, 200 GB: 32 small instances (RAM).
HOST = {"vcpus": 16, "memory_mb": 16384 + 512, "disk_gb": 200}
PER_HOST = 32


def fleet(v1: V1, n: int) -> list[str]:
    names = [f"cn{k:02d}" for k in range(n)]
    for name in names:
        v1.report(name, **HOST)
    flavor(v1, "small")
    return names


def boot_many(v1: V1, total: int, batch: int = 20, **body: Any) -> None:
    for k in range(0, total, batch):
        r = boot_(v1, f"b{k}", count=min(batch, total - k), **body)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("strategy", ["pack", "spread"])
def test_pack_fills_few_hosts_and_spread_levels_the_fleet(app_with: AppFactory,
                                                          strategy: str) -> None:
    v1 = app_with(strategy=strategy)
    names = fleet(v1, 20)
    boot_many(v1, 200)
    counts = per_host(v1)
    assert sum(counts.values()) == 200
    if strategy == "pack":  # 6 full hosts and 8 on a seventh
        assert sorted(counts.values(), reverse=True) == [PER_HOST] * 6 + [8]
    else:
        assert sorted(counts) == names and set(counts.values()) == {10}


def test_an_aggregate_strategy_overrides_the_default_for_its_hosts(v1: V1) -> None:
    names = fleet(v1, 4)
    boot_many(v1, 8, batch=4)
    assert per_host(v1) == Counter({n: 2 for n in names})  # spread (the default)
    v1.aggregate("a-dense", scheduler_strategy="pack")
    v1.aggregate("b-loose", scheduler_strategy="spread")  # the first by name wins
    for name in names:
        v1.add("a-dense", name)
        v1.add("b-loose", name)
    boot_many(v1, 8, batch=4)
    assert per_host(v1) == Counter({"cn00": 10, "cn01": 2, "cn02": 2, "cn03": 2})


def test_an_aggregate_ram_weight_multiplier_overrides_the_default(
        app_with: AppFactory) -> None:
    v1 = app_with(cpu_weight_multiplier=0.0, disk_weight_multiplier=0.0)
    names = fleet(v1, 3)
    boot_many(v1, 3)
    assert per_host(v1) == Counter({n: 1 for n in names})
    v1.aggregate("a", ram_weight_multiplier="2.0")
    v1.aggregate("b", ram_weight_multiplier="-1.0")  # the smallest wins: less free RAM
    for name in names:
        v1.add("a", name)
    v1.add("b", "cn01")
    v1.add("b", "cn02")
    # cn00 weighs +2 x free RAM, cn01 and cn02 -1 x free RAM: cn00 wins while it has the
    # most free; once it has the least it scores 0 against cn01/cn02's 0 too, and name
    # order keeps it.
    boot_many(v1, 4, batch=1)
    assert per_host(v1)["cn00"] >= 3
    v1.set_metadata("a", ram_weight_multiplier="-1.0")
    before = per_host(v1)
    boot_many(v1, 6, batch=3)
    after = per_host(v1)
    grown = {h for h in names if after[h] > before[h]}
    assert grown == {max(before, key=lambda h: (before[h], h))}  # packs on the fullest


def group(v1: V1, policy: str) -> str:
    found: str = v1.ok("POST", "/server-groups", 201,
                       json={"name": policy, "policy": policy, "project_id": "p1"})["id"]
    return found


def test_soft_affinity_gathers_the_group(app_with: AppFactory) -> None:
    v1 = app_with(soft_affinity_weight_multiplier=10.0)
    fleet(v1, 3)
    gid = group(v1, "soft-affinity")
    hosts = [host_of(v1, f"m{k}", server_group=gid) for k in range(4)]
    assert len(set(hosts)) == 1
    others = {host_of(v1, f"o{k}") for k in range(2)}
    assert hosts[0] not in others  # spread, outside the group


def test_soft_anti_affinity_scatters_the_group_under_pack(app_with: AppFactory) -> None:
    v1 = app_with(strategy="pack", soft_anti_affinity_weight_multiplier=10.0)
    fleet(v1, 3)
    gid = group(v1, "soft-anti-affinity")
    hosts = [host_of(v1, f"m{k}", server_group=gid) for k in range(3)]
    assert sorted(hosts) == ["cn00", "cn01", "cn02"]
    assert host_of(v1, "m3", server_group=gid) in hosts  # soft: a fourth still fits
    packed = {host_of(v1, f"o{k}") for k in range(3)}
    assert len(packed) == 1  # pack, outside the group


def test_a_host_that_failed_a_build_is_avoided(v1: V1) -> None:
    fleet(v1, 2)
    first = booted(v1, "first")
    assert (first["host"], first["alternates"]) == ("cn00", ["cn01"])
    moved = v1.ok("POST", f"/instances/{first['id']}/build-report",
                  json={"status": "failed", "message": "libvirt error"})
    assert moved["host"] == "cn01" and moved["attempts"] == 2
    # cn00 is empty and spread would pick it, but it failed a build recently.
    assert [host_of(v1, f"n{k}") for k in range(3)] == ["cn01"] * 3
    v1.ok("POST", f"/instances/{moved['id']}/build-report", json={"status": "active"})
    assert host_of(v1, "after-success") == "cn01"  # success elsewhere does not clear it
    # A success on cn00 clears its record.
    v1.ok("PATCH", "/hosts/cn01", json={"enabled": False})
    on_cn00 = booted(v1, "probe")
    assert on_cn00["host"] == "cn00"
    v1.ok("POST", f"/instances/{on_cn00['id']}/build-report", json={"status": "active"})
    v1.ok("PATCH", "/hosts/cn01", json={"enabled": True})
    assert host_of(v1, "cleared") == "cn00"


def dry_run_hosts(v1: V1, times: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for k in range(times):
        r = boot_(v1, f"d{k}", dry_run=True)
        assert r.status_code == 200, r.text
        (placement,) = r.json()["placements"]
        seen[placement["host"]] += 1
    return seen


def test_host_subset_size_picks_among_the_best(app_with: AppFactory) -> None:
    exact = app_with()
    fleet(exact, 6)
    boot_many(exact, 3, batch=1)  # cn00..cn02 hold one each: cn03..cn05 are the best
    assert dry_run_hosts(exact, 10) == Counter({"cn03": 10})
    subset = app_with(host_subset_size=3)
    seen = dry_run_hosts(subset, 60)
    assert set(seen) <= {"cn03", "cn04", "cn05"}
    # All 60 picks on one host has probability 3 x (1/3)^60: this does not flake.
    assert len(seen) >= 2
