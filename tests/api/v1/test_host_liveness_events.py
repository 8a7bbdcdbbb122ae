"""host.down and host.up: told once each, by whichever process sees the change first.

The sweep (services/host_liveness.py, run by every ``corral serve``) is called here
with the time it should believe, so that nothing waits for a real host to go silent.
Several sweeps racing over one database (threads, as processes would) tell each change
exactly once. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from corral.config import Settings
from corral.persistence import Store
from corral.persistence.clock import utcnow
from corral.services import host_liveness

from .helpers import V1
from .test_event_types import events

SETTINGS = Settings(host_down_after_s=60)


def told(v1: V1) -> list[tuple[str, str, str]]:
    return [(e["event_type"], e["object_id"], e["payload"]["reason"])
            for e in events(v1, object_type="host") if e["event_type"] in ("host.up", "host.down")]


def test_a_silent_host_is_told_down_once_and_up_again_when_it_beats(v1: V1, store: Store
                                                                     ) -> None:
    v1.report("cn1")
    v1.report("cn2")
    now = utcnow()
    assert host_liveness.sweep(store, SETTINGS, now=now) == []
    later = now + timedelta(seconds=120)
    assert sorted(host_liveness.sweep(store, SETTINGS, now=later)) == ["cn1", "cn2"]
    assert host_liveness.sweep(store, SETTINGS, now=later) == []  # told already
    v1.ok("POST", "/hosts/cn1/heartbeat", 204)
    # Back at the real time, both heartbeated less than a minute ago: up again.
    assert host_liveness.sweep(store, SETTINGS, now=utcnow()) == ["cn1", "cn2"]
    v1.ok("PATCH", "/hosts/cn1", json={"forced_down": True})
    assert host_liveness.sweep(store, SETTINGS, now=utcnow()) == ["cn1"]
    v1.ok("POST", "/hosts/cn2/heartbeat", 204)
    assert host_liveness.sweep(store, SETTINGS, now=utcnow()) == []
    assert told(v1) == [("host.down", "cn1", "heartbeat"), ("host.down", "cn2", "heartbeat"),
                        ("host.up", "cn1", "heartbeat"), ("host.up", "cn2", "heartbeat"),
                        ("host.down", "cn1", "forced_down")]
    down = events(v1, event_type="host.down")
    assert down[0]["priority"] == "WARN" and down[0]["payload"]["state"] == "down"
    assert down[0]["payload"]["provider_uuid"] == v1.host("cn1")["provider_uuid"]
    assert down[0]["payload"]["last_heartbeat"] is not None


def test_racing_sweeps_tell_each_change_once(v1: V1, store: Store) -> None:
    for k in range(6):
        v1.report(f"cn{k}")
    later = utcnow() + timedelta(seconds=120)
    start = threading.Barrier(4)
    found: list[Any] = []

    def run() -> None:
        start.wait()
        found.append(host_liveness.sweep(store, SETTINGS, now=later))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(name for names in found for name in names) == [f"cn{k}" for k in range(6)]
    assert sorted(name for _type, name, _why in told(v1)) == [f"cn{k}" for k in range(6)]
