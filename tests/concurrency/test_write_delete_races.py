"""Writes that empty or delete a consumer, racing a write that moves it.

Each round, two client processes hit one consumer (generation 1, on provider A) at
the same moment through two server processes: one moves it to provider B with
generation 1, the other empties it (PUT ``{}`` with generation 1) or deletes it
(DELETE). What must hold:

- a move and an empty write that both name generation 1 cannot both win;
- B's generation moves once per successful move onto it and, as Placement's, not when
  a delete then takes the consumer off again; the delete still marks B changed, so the
  candidate engines of both server processes see B's true usage afterwards.

On SQLite writers are serialised by ``BEGIN IMMEDIATE``. On PostgreSQL both broke
while claims read the consumer (and the providers it held) before locking anything:
a stale empty write won alongside the move, and a DELETE freed the provider the move
had just written without locking it or moving its generation. Claims now lock the
consumers first (commit 630e8de); these are its regression tests.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from integration.conftest import Server

from corral.persistence import Store

from . import clients
from .conftest import placement_client, race

pytestmark = pytest.mark.slow

#: Consumers (1 VCPU each, one per round): they must all fit on one provider (20 usable).
ROUNDS = 18


def _consumers_on(api: httpx.Client, provider: str, count: int) -> list[str]:
    made = []
    for _ in range(count):
        consumer = str(uuid.uuid4())
        r = api.put(f"/allocations/{consumer}", json={
            "allocations": {provider: {"resources": {"VCPU": 1}}}, "consumer_generation": None,
            "project_id": clients.PROJECT, "user_id": clients.USER})
        assert r.status_code == 204, r.text
        made.append(consumer)
    return made


def _generation(api: httpx.Client, provider: str) -> int:
    return int(api.get(f"/resource_providers/{provider}").json()["generation"])


def test_empty_write_with_a_stale_generation_loses(
        store: Store, servers: list[Server], fleet: list[str]) -> None:
    source, target = fleet[0], fleet[1]
    with placement_client(servers[0].placement, "1.28") as api:
        consumers = _consumers_on(api, source, ROUNDS)
    bases = [s.placement for s in servers]
    records = race(clients.stale_pair, [(bases, consumers, source, target, role)
                                        for role in ("move", "empty")])
    by_round: dict[int, dict[str, int]] = {}
    for r in records:
        assert r["status"] in (204, 409), r
        by_round.setdefault(r["round"], {})[r["role"]] = r["status"]
    assert len(by_round) == ROUNDS, "the racers ran out of time"
    both = sorted(i for i, s in by_round.items() if s == {"move": 204, "empty": 204})
    assert not both, f"{len(both)} of {len(by_round)} rounds: move and empty write both won"


def test_delete_racing_a_move_leaves_every_engine_with_the_true_usage(
        store: Store, servers: list[Server], fleet: list[str]) -> None:
    source, target = fleet[0], fleet[1]
    with placement_client(servers[0].placement, "1.28") as api:
        consumers = _consumers_on(api, source, ROUNDS)
        before = _generation(api, target)
    bases = [s.placement for s in servers]
    records = race(clients.stale_pair, [(bases, consumers, source, target, role)
                                        for role in ("move", "delete")])
    by_round: dict[int, dict[str, int]] = {}
    for r in records:
        assert r["status"] in (204, 404, 409), r
        by_round.setdefault(r["round"], {})[r["role"]] = r["status"]
    assert len(by_round) == ROUNDS, "the racers ran out of time"
    moved = sum(1 for s in by_round.values() if s.get("move") == 204)
    # A move that won and a delete that also won: the delete came second and took the
    # consumer off the target again.
    freed = sum(1 for s in by_round.values() if s == {"move": 204, "delete": 204})
    with placement_client(servers[1].placement, "1.28") as api:
        after = _generation(api, target)
        usage = api.get(f"/resource_providers/{target}/usages").json()["usages"]["VCPU"]
    assert usage == moved - freed
    assert after - before == moved, (
        f"target generation moved {after - before} times for {moved} moves onto it "
        f"(and {freed} deletes off it, which move none)")
    for server in servers:  # each process's engine noticed every change, deletes included
        with placement_client(server.placement, "1.28") as api:
            found = api.get("/allocation_candidates?resources=VCPU:1").json()
        assert found["provider_summaries"][target]["resources"]["VCPU"]["used"] == usage
