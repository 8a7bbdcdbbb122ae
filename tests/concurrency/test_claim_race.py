"""Claims racing through the public HTTP API: real server processes, real client processes.

Two ``corral serve`` processes share one database (SQLite or PostgreSQL: the ``store``
fixture); several client processes race for the last units of a small fleet. What
must hold afterwards, whatever the interleaving:

- no provider's usage exceeds its usable capacity;
- every request got a clean answer (204, or 409 with a code), never a 500;
- what the clients were told matches what is stored, counted three ways: the
  winners' claims, the providers' usages over HTTP, and the allocation rows;
- with consumer generations (1.28+) every successful write moved the generation by
  exactly one and no write was lost.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest
from integration.conftest import Server
from sqlalchemy import text

from corral.persistence import Store

from . import clients
from .conftest import PROVIDERS, VCPU_USABLE, placement_client, race

pytestmark = pytest.mark.slow

#: Client processes per race (the machine has 2 cores; the servers need them too).
RACERS = 5

def http_usages(server: Server, providers: list[str]) -> dict[str, int]:
    with placement_client(server.placement) as api:
        out = {}
        for rp in providers:
            r = api.get(f"/resource_providers/{rp}/usages")
            assert r.status_code == 200, r.text
            out[rp] = r.json()["usages"].get("VCPU", 0)
        return out


def http_consumers(server: Server, providers: list[str]) -> dict[str, dict[str, int]]:
    """consumer -> {provider: VCPU} from GET /resource_providers/{uuid}/allocations."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    with placement_client(server.placement) as api:
        for rp in providers:
            r = api.get(f"/resource_providers/{rp}/allocations")
            assert r.status_code == 200, r.text
            for consumer, alloc in r.json()["allocations"].items():
                found[consumer][rp] = alloc["resources"]["VCPU"]
    return dict(found)


def db_totals(store: Store) -> tuple[int, int]:
    """(sum of used, distinct consumers) straight from the allocation rows."""
    with store.engine.connect() as conn:
        total, consumers = conn.execute(text(
            "SELECT COALESCE(SUM(used), 0), COUNT(DISTINCT consumer_id) FROM allocations")).one()
    return int(total), int(consumers)


def assert_clean_answers(records: list[dict[str, Any]]) -> None:
    statuses = Counter(r["status"] for r in records)
    bad = [r for r in records if r["status"] not in (204, 409)]
    assert not bad, f"statuses {dict(statuses)}; first unexpected: {bad[:3]}"
    unparsable = [r for r in records if r["code"] and r["code"].startswith("unparsable")]
    assert not unparsable, unparsable[:3]


def test_claims_for_the_last_units_never_overcommit(
        store: Store, servers: list[Server], fleet: list[str]) -> None:
    bases = [s.placement for s in servers]
    claims_each = 24  # 5 x 24 claims of 1-3 VCPU (about 240 units) for 60 usable
    records = race(clients.claimer, [(bases, fleet, claims_each, seed) for seed in range(RACERS)])

    assert len(records) == RACERS * claims_each, "a racer ran out of time"
    assert_clean_answers(records)
    won = [r for r in records if r["status"] == 204]
    lost = [r for r in records if r["status"] == 409]
    assert lost and won, Counter(r["status"] for r in records)

    # 1. Nothing overcommitted, and the fleet really was fought over to its last units.
    usages = http_usages(servers[1], fleet)
    for rp, used in usages.items():
        assert used <= VCPU_USABLE, f"provider {rp} overcommitted: {used} > {VCPU_USABLE}"
    assert sum(usages.values()) > PROVIDERS * (VCPU_USABLE - 3), usages

    # 2. What the winners were told is exactly what is stored, counted three ways.
    won_per_rp: Counter[str] = Counter()
    for r in won:
        won_per_rp[r["provider"]] += r["amount"]
    assert dict(usages) == {rp: won_per_rp.get(rp, 0) for rp in fleet}
    db_sum, db_consumers = db_totals(store)
    assert db_sum == sum(usages.values()) == sum(r["amount"] for r in won)

    # 3. One consumer per 204, holding exactly what it asked for; no loser holds anything.
    held = http_consumers(servers[0], fleet)
    assert len(won) == len(held) == db_consumers
    assert held == {r["consumer"]: {r["provider"]: r["amount"]} for r in won}
    assert not {r["consumer"] for r in lost} & set(held)


def test_consumer_generation_race_loses_no_write(
        store: Store, servers: list[Server], fleet: list[str]) -> None:
    consumer = str(uuid.uuid4())
    with placement_client(servers[0].placement, "1.39") as api:
        r = api.put(f"/allocations/{consumer}", json={
            "allocations": {fleet[0]: {"resources": {"VCPU": 1}}}, "consumer_generation": None,
            "project_id": clients.PROJECT, "user_id": clients.USER, "consumer_type": "INSTANCE"})
        assert r.status_code == 204, r.text
        assert api.get(f"/allocations/{consumer}").json()["consumer_generation"] == 1

    bases = [s.placement for s in servers]
    rounds = 30
    records = race(clients.generation_racer,
                   [(bases, consumer, fleet, rounds, seed) for seed in range(RACERS)])

    assert_clean_answers(records)
    won = [r for r in records if r["status"] == 204]
    lost = [r for r in records if r["status"] == 409]
    assert won and lost, Counter(r["status"] for r in records)
    assert {r["code"] for r in lost} == {"placement.concurrent_update"}, lost[:3]

    # Each generation was won by one write only, and the wins form an unbroken chain.
    seen_by_winners = sorted(r["seen"] for r in won)
    assert seen_by_winners == list(range(1, 1 + len(won))), seen_by_winners

    with placement_client(servers[1].placement, "1.39") as api:
        final = api.get(f"/allocations/{consumer}").json()
    assert final["consumer_generation"] == 1 + len(won)
    last = max(won, key=lambda r: r["seen"])
    assert final["allocations"] == {last["provider"]: {
        "generation": final["allocations"][last["provider"]]["generation"],
        "resources": {"VCPU": last["amount"]}}}
    db_sum, db_consumers = db_totals(store)
    assert (db_sum, db_consumers) == (last["amount"], 1)
    assert sum(http_usages(servers[0], fleet).values()) == last["amount"]


def test_moves_of_several_consumers_are_all_or_nothing(
        store: Store, servers: list[Server], fleet: list[str]) -> None:
    # Ten consumers, 2 or 3 VCPU each (25 units), all on the first provider to begin with:
    # no provider can hold them all, so moves lose on capacity as well as on generations.
    rnd = random.Random(7)
    amounts = {str(uuid.uuid4()): rnd.choice((2, 3)) for _ in range(10)}
    while sum(amounts.values()) <= VCPU_USABLE:
        amounts[next(c for c, a in amounts.items() if a == 2)] = 3
    generation = {}
    with placement_client(servers[0].placement, "1.39") as api:
        first = dict(list(amounts.items())[:6])
        for consumer, amount in amounts.items():
            home = fleet[0] if consumer in first else fleet[1]
            r = api.put(f"/allocations/{consumer}", json={
                "allocations": {home: {"resources": {"VCPU": amount}}},
                "consumer_generation": None, "project_id": clients.PROJECT,
                "user_id": clients.USER, "consumer_type": "INSTANCE"})
            assert r.status_code == 204, r.text
            generation[consumer] = 1

    bases = [s.placement for s in servers]
    records = race(clients.mover,
                   [(bases, amounts, fleet, 20, 3, seed) for seed in range(RACERS)])

    assert_clean_answers(records)
    won = [r for r in records if r["status"] == 204]
    lost = [r for r in records if r["status"] == 409]
    assert won and lost, Counter(r["status"] for r in records)

    held = http_consumers(servers[1], fleet)
    usages = http_usages(servers[0], fleet)
    # Nothing overcommitted, nothing lost or duplicated: every consumer holds its own
    # amount on exactly one provider.
    assert all(used <= VCPU_USABLE for used in usages.values()), usages
    assert held.keys() == amounts.keys()
    for consumer, where in held.items():
        assert list(where.values()) == [amounts[consumer]], (consumer, where)
    assert sum(usages.values()) == sum(amounts.values()) == db_totals(store)[0]

    # Per consumer: generation moved once per successful move that included it, and it
    # sits where the last of those moves put it (each generation won by one move only).
    with placement_client(servers[1].placement, "1.39") as api:
        for consumer in amounts:
            moves = sorted((r["seen"][consumer], r["target"]) for r in won if consumer in r["seen"])
            assert [g for g, _ in moves] == list(range(1, 1 + len(moves))), (consumer, moves)
            final = api.get(f"/allocations/{consumer}").json()
            assert final["consumer_generation"] == generation[consumer] + len(moves)
            if moves:
                assert list(held[consumer]) == [moves[-1][1]], (consumer, moves)
