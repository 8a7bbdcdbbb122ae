"""Boots racing through /v1/instances: two scheduler processes, one database.

Two ``corral serve`` processes share one database (SQLite or PostgreSQL: the ``store``
fixture); several client processes boot instances (count 1 each) at the same moment,
alternating between the servers. Each server decides from its own in-memory engine, so
two decisions can pick the same place; the claim (allocations locked and re-checked,
and for a hard group policy the group row locked and its members re-counted) is what
must keep the rules. Whatever the interleaving:

- every boot got 201 or 409 ``no_valid_host``, never a 500;
- exactly as many boots won as there were places (later boots fill what a boot that
  lost a claim race left), and the winners are exactly the live instances;
- anti-affinity: no host holds more members than the group allows;
- affinity: every member is on one host;
- no provider's usage exceeds its capacity (Placement inventories), and the usage is
  exactly what the instances on it asked for.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TypedDict

import httpx
import pytest
from integration.conftest import Server

from . import scheduler_clients
from .clients import HEADERS, PROJECT
from .conftest import placement_client, race

pytestmark = pytest.mark.slow

#: Client processes per race (the machine has 2 cores; the servers need them too).
RACERS = 6
#: Boots per client process in each race.
BOOTS = 3


class Flavor(TypedDict):
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


#: One flavor for every race: 1 VCPU, 1 GiB RAM, 1 GB disk.
FLAVOR: Flavor = {"name": "race", "vcpus": 1, "ram_mb": 1024, "disk_gb": 1}
#: The default reserved_host_memory_mb, taken off every host's RAM.
RESERVED_MB = 512


def host_size(slots: int) -> dict[str, int]:
    """A host with room for ``slots`` instances of FLAVOR by RAM (VCPU and disk to spare)."""
    return {"vcpus": 64, "memory_mb": RESERVED_MB + slots * FLAVOR["ram_mb"], "disk_gb": 500}


#: Wall-clock budget of one race; the clients stop at it.
RACE_SECONDS = 120.0


# -- set-up over HTTP ------------------------------------------------------------------------

def v1_client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30.0, headers=HEADERS)


def add_hosts(server: Server, prefix: str, count: int, slots: int) -> dict[str, str]:
    """``count`` hosts with room for ``slots`` instances each; name -> provider uuid."""
    out = {}
    with v1_client(server) as api:
        for i in range(count):
            name = f"{prefix}{i}"
            r = api.put(f"/v1/hosts/{name}", json=host_size(slots))
            assert r.status_code == 201, r.text
            out[name] = r.json()["provider_uuid"]
    return out


def add_flavor(server: Server) -> str:
    with v1_client(server) as api:
        r = api.post("/v1/flavors", json=FLAVOR)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def add_group(server: Server, name: str, policy: str, max_per_host: int | None = None) -> str:
    body: dict[str, Any] = {"name": name, "policy": policy, "project_id": PROJECT}
    if max_per_host is not None:
        body["rules"] = {"max_server_per_host": max_per_host}
    with v1_client(server) as api:
        r = api.post("/v1/server-groups", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


# -- reading back ----------------------------------------------------------------------------

def boot_all(servers: list[Server], flavor: str, group: str | None,
             boots: int = BOOTS) -> list[dict[str, Any]]:
    """RACERS client processes x ``boots`` boots each, spread over both servers."""
    bases = [s.url for s in servers]
    records = race(scheduler_clients.booter,
                   [(bases, flavor, group, boots, seed) for seed in range(RACERS)],
                   seconds=RACE_SECONDS)
    assert len(records) == RACERS * boots, "a racer ran out of time"
    statuses = Counter(r["status"] for r in records)
    bad = [r for r in records if r["status"] not in (201, 409)]
    assert not bad, f"statuses {dict(statuses)}; first unexpected: {bad[:3]}"
    wrong = [r for r in records if r["status"] == 409 and r["code"] != "no_valid_host"]
    assert not wrong, wrong[:3]
    assert all(len(r["instances"]) == 1 for r in records if r["status"] == 201)
    return records


def winners(records: list[dict[str, Any]]) -> dict[str, str]:
    """instance id -> host, as the 201 answers said."""
    return {iid: host for r in records if r["status"] == 201 for iid, host in r["instances"]}


def live_instances(server: Server) -> dict[str, str]:
    """instance id -> host, for every live instance, from GET /v1/instances (admin)."""
    with v1_client(server) as api:
        r = api.get("/v1/instances")
        assert r.status_code == 200, r.text
        found = r.json()["instances"]
    assert all(i["host"] for i in found), [i for i in found if not i["host"]][:3]
    return {i["id"]: i["host"] for i in found}


def group_members(server: Server, group: str) -> set[str]:
    with v1_client(server) as api:
        r = api.get(f"/v1/server-groups/{group}")
        assert r.status_code == 200, r.text
        return set(r.json()["members"])


def assert_within_capacity(server: Server, hosts: dict[str, str],
                           placed: dict[str, str]) -> None:
    """Every provider's usage is within (total - reserved) x ratio of its inventory, and is
    exactly FLAVOR times the instances on it."""
    per_host = Counter(placed.values())
    asked = {"VCPU": FLAVOR["vcpus"], "MEMORY_MB": FLAVOR["ram_mb"], "DISK_GB": FLAVOR["disk_gb"]}
    with placement_client(server.placement, "1.39") as api:
        for name, rp in hosts.items():
            r = api.get(f"/resource_providers/{rp}/inventories")
            assert r.status_code == 200, r.text
            inventories = r.json()["inventories"]
            r = api.get(f"/resource_providers/{rp}/usages")
            assert r.status_code == 200, r.text
            usages = r.json()["usages"]
            for rc, inv in inventories.items():
                capacity = int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])
                assert usages.get(rc, 0) <= capacity, (
                    f"host {name} over capacity: {rc} {usages.get(rc)} > {capacity}")
            expected = {rc: n * per_host[name] for rc, n in asked.items()}
            assert {rc: usages.get(rc, 0) for rc in asked} == expected, (name, usages)


def assert_stored_as_answered(server: Server, records: list[dict[str, Any]],
                              everything: dict[str, str] | None = None) -> dict[str, str]:
    """The live instances are exactly the winners, on the hosts their answers named."""
    won = winners(records)
    live = live_instances(server)
    if everything is None:
        assert live == won
    else:
        assert {i: live.get(i) for i in won} == won
        assert live == everything | won
    return won


# -- the races -------------------------------------------------------------------------------

ANTI_AFFINITY_ROUNDS = 3


def test_anti_affinity_one_member_per_host(servers: list[Server]) -> None:
    hosts = add_hosts(servers[0], "anti", count=8, slots=64)  # plenty of room
    flavor = add_flavor(servers[0])
    placed: dict[str, str] = {}
    for round_ in range(ANTI_AFFINITY_ROUNDS):
        group = add_group(servers[round_ % 2], f"anti-{round_}", "anti-affinity")
        records = boot_all(servers, flavor, group)

        won = assert_stored_as_answered(servers[1], records, placed)
        placed |= won
        assert len(won) == len(hosts), (round_, Counter(r["status"] for r in records))
        per_host = Counter(won.values())
        assert max(per_host.values()) == 1, f"round {round_}: two members on one host {per_host}"
        assert set(per_host) == set(hosts)
        assert group_members(servers[0], group) == set(won)
        assert group_members(servers[1], group) == set(won)
    assert_within_capacity(servers[0], hosts, placed)


def test_anti_affinity_max_server_per_host(servers: list[Server]) -> None:
    hosts = add_hosts(servers[0], "rule", count=5, slots=64)
    flavor = add_flavor(servers[0])
    group = add_group(servers[0], "anti-two", "anti-affinity", max_per_host=2)
    records = boot_all(servers, flavor, group)

    won = assert_stored_as_answered(servers[1], records)
    assert len(won) == 2 * len(hosts), Counter(r["status"] for r in records)
    per_host = Counter(won.values())
    assert max(per_host.values()) <= 2, f"more than 2 members on one host: {per_host}"
    assert per_host == dict.fromkeys(hosts, 2)
    assert group_members(servers[0], group) == set(won)
    assert_within_capacity(servers[0], hosts, won)


def test_boots_for_the_last_slots_never_overcommit(servers: list[Server]) -> None:
    hosts = add_hosts(servers[0], "cap", count=6, slots=2)  # 12 slots by RAM
    flavor = add_flavor(servers[0])
    records = boot_all(servers, flavor, None, boots=4)  # 24 boots

    won = assert_stored_as_answered(servers[1], records)
    assert len(won) == 2 * len(hosts), Counter(r["status"] for r in records)
    assert Counter(won.values()) == dict.fromkeys(hosts, 2)
    assert_within_capacity(servers[0], hosts, won)
    assert_within_capacity(servers[1], hosts, won)


def test_affinity_members_share_one_host(servers: list[Server]) -> None:
    slots = 8
    hosts = add_hosts(servers[0], "aff", count=4, slots=slots)  # 18 boots, 8 fit on one host
    flavor = add_flavor(servers[0])
    group = add_group(servers[0], "together", "affinity")
    records = boot_all(servers, flavor, group)

    won = assert_stored_as_answered(servers[1], records)
    assert len(set(won.values())) == 1, f"affinity members on several hosts: {Counter(won.values())}"
    assert len(won) == slots, Counter(r["status"] for r in records)
    assert group_members(servers[0], group) == set(won)
    assert_within_capacity(servers[0], hosts, won)
