"""The event log replays to the database's state of every instance.

Random sequences of boots, build results, resizes, migrations, confirms, reverts and
deletes (many of them refused: no room, wrong state) run through the API; then each
instance's events, folded in order, give its state, host, flavor and what it holds per
resource class, which must equal what the database says (the instance and its
allocations read over the API). This is what usage (issue 16) is computed from.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import V1
from .scheduling import flavor
from .test_event_types import PLACEMENT, events

OPS = ("boot", "active", "failed", "resize", "migrate", "confirm", "revert", "delete")
_names = itertools.count()


def _apply(v1: V1, op: str, target: str | None, new_flavor: str) -> str | None:
    """Run ``op``; the instance booted, if any. Refusals are part of the game."""
    if op == "boot":
        r = v1.post("/instances", json={"name": f"vm{next(_names)}", "flavor": "small",
                                        "project_id": "p1", "user_id": "u1"})
        assert r.status_code in (201, 409), r.text
        if r.status_code != 201:
            return None
        booted: str = r.json()["instances"][0]["id"]
        return booted
    if target is None:
        return None
    path = f"/instances/{target}"
    if op == "delete":
        r = v1.delete(path)
    elif op in ("active", "failed"):
        r = v1.post(f"{path}/build-report", json={"status": op})
    elif op == "resize":
        r = v1.post(f"{path}/resize", json={"flavor": new_flavor})
    elif op == "migrate":
        r = v1.post(f"{path}/migrate", json={})
    else:
        r = v1.post(f"{path}/{op}")
    assert r.status_code in (200, 204, 400, 404, 409), r.text
    return None


def _replayed(found: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Per instance, what its last event says it is."""
    out: dict[str, tuple[Any, ...]] = {}
    for e in found:
        p = e["payload"]
        out[e["object_id"]] = (p["state"], p["host"], p["flavor_name"], p["resources"])
    return out


def _in_database(v1: V1, uuid: str, names: dict[str, str]) -> tuple[Any, ...]:
    r = v1.get(f"/instances/{uuid}")
    held = v1.client.get(f"/allocations/{uuid}", headers=PLACEMENT).json()["allocations"]
    resources: dict[str, int] = {}
    for provider in held.values():
        for rc, amount in provider["resources"].items():
            resources[rc] = resources.get(rc, 0) + amount
    if r.status_code == 404:
        return ("deleted", "*", "*", resources)
    i = r.json()
    return (i["state"], i["host"], names[i["new_flavor_id"] or i["flavor_id"]], resources)


#: The steps that may succeed from each state (others are drawn too, and refused).
NEXT = {"building": ["active", "active", "failed"],
        "active": ["resize", "resize", "migrate", "migrate", "delete"],
        "verify_resize": ["confirm", "revert"], "error": ["delete"], "deleted": ["boot"]}


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_events_replay_to_the_database_state(v1: V1, data: st.DataObject) -> None:
    if not v1.ok("GET", "/hosts")["hosts"]:
        for name in ("cn1", "cn2", "cn3"):
            v1.report(name, disk_gb=100)
        flavor(v1, "small", disk_gb=30)
        flavor(v1, "big", vcpus=2, ram_mb=1024, disk_gb=45)
    names = {f["id"]: f["name"] for f in v1.ok("GET", "/flavors")["flavors"]}
    mine: dict[str, str] = {}  # instance -> its state
    for _step in range(data.draw(st.integers(6, 16), label="steps")):
        # Draws of a fixed shape (what they pick depends on the state): a shrink that
        # replays them against the database the earlier examples left stays consistent.
        k, o, big = data.draw(st.tuples(st.integers(0, 11), st.integers(0, 99), st.booleans()),
                              label="step")
        target = list(mine)[-1 - k % len(mine)] if mine and k % 4 != 3 else None
        likely = NEXT[mine[target]] if target is not None else ["boot"]
        pool = [*likely * (24 // len(likely)), *OPS]
        op = pool[o % len(pool)]
        booted = _apply(v1, op, target, "big" if big else "small")
        touched = booted or target
        if touched is not None:  # after every step, not only at the end
            mine[touched] = _check(v1, touched, names)
    for uuid in mine:
        assert v1.delete(f"/instances/{uuid}").status_code in (204, 404)  # room for the next


def _check(v1: V1, uuid: str, names: dict[str, str]) -> str:
    """The instance's events replay to its state in the database; that state."""
    want = _replayed(events(v1, object_id=uuid))[uuid]
    state, host, flavor_name, resources = _in_database(v1, uuid, names)
    if state == "deleted":
        assert (want[0], want[3]) == ("deleted", {}), uuid
    else:
        assert want == (state, host, flavor_name, resources), uuid
    return str(state)
