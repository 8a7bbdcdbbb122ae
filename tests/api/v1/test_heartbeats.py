"""Heartbeats between processes: two apps over one database, as two server processes.

A heartbeat received by one app is seen by the other's scheduler through the log of
heartbeat flushes, without either re-reading every host; a host that stops
heartbeating goes down; the bulk route of agent aggregators refuses bad input naming
the field. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from corral.persistence import Store
from corral.services import liveness

from .helpers import SQLITE_ONLY, V1, assert_v1_error
from .scheduling import AppFactory, app_with, boot, booted, flavor, host_of, refused

__all__ = ["app_with"]

BIG = {"vcpus": 16, "memory_mb": 32768, "disk_gb": 1000}
#: Heartbeats are kept to the whole second: 4 s of grace is 3 to 4 s of silence, room
#: enough for a loaded machine between a report and the first boot.
DOWN_AFTER_S = 4


def builds(app: V1) -> int:
    """How many times the app's scheduler built its host table whole."""
    inner: Any = app.client.app
    while not hasattr(inner, "state"):  # through the middleware around the FastAPI app
        inner = inner.app
    found: int = inner.state.scheduler.hosts.builds
    return found


def beat(v1: V1, *names: str) -> dict[str, Any]:
    found: dict[str, Any] = v1.ok("POST", "/hosts/heartbeats", json={"hosts": list(names)})
    return found


def test_a_heartbeat_received_by_one_process_is_seen_by_the_other(
        v1: V1, app_with: AppFactory) -> None:
    other = app_with(host_down_after_s=DOWN_AFTER_S)
    v1.report("cn1")
    v1.report("cn2", **BIG)  # spread prefers it
    flavor(v1, "small")
    assert host_of(other, "a") == "cn2"
    time.sleep(DOWN_AFTER_S + 1.1)  # both silent: down for the other process
    refused(boot(other, "b"), "hosts_unavailable", filter="compute")
    found = beat(v1, "cn1")
    assert found["recorded"] == 1 and found["unknown"] == []
    # Answered after the commit: what the store says is what was answered.
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == found["last_heartbeat"]
    time.sleep(0.5)  # the other re-reads heartbeats every tenth of host_down_after_s
    assert host_of(other, "c") == "cn1"  # cn2 is still down
    # The other process did not read every host again for it: one build, the first.
    assert builds(other) == 1


def test_a_host_that_stops_heartbeating_goes_down(v1: V1, app_with: AppFactory) -> None:
    other = app_with(host_down_after_s=DOWN_AFTER_S)
    v1.report("cn1")
    v1.report("cn2", **BIG)
    flavor(v1, "small")
    assert host_of(other, "a") == "cn2"
    until = time.monotonic() + DOWN_AFTER_S + 1.2
    while time.monotonic() < until:  # an aggregator that hears from cn1 only
        beat(v1, "cn1")
        time.sleep(0.4)
    v1.ok("POST", "/hosts/cn1/heartbeat", 204)  # the single route feeds the same log
    time.sleep(0.5)
    assert host_of(other, "b") == "cn1"
    down = other.ok("GET", "/hosts?state=down")["hosts"]
    assert [h["name"] for h in down] == ["cn2"]
    assert builds(other) == 1


def test_host_changes_reach_the_other_process_without_a_rebuild(
        v1: V1, app_with: AppFactory) -> None:
    other = app_with()
    v1.report("cn1")
    v1.report("cn2", **BIG)
    flavor(v1, "small")
    assert host_of(other, "a") == "cn2"
    v1.ok("PATCH", "/hosts/cn2", json={"enabled": False, "disabled_reason": "rack work"})
    assert host_of(other, "b") == "cn1"
    v1.report("cn3", **{**BIG, "vcpus": 32})  # a new host, more free than any
    assert host_of(other, "c") == "cn3"
    v1.ok("PATCH", "/hosts/cn3", json={"forced_down": True})
    assert host_of(other, "d") == "cn1"
    v1.aggregate("az", availability_zone="zone-a")
    v1.add("az", "cn2")
    v1.ok("PATCH", "/hosts/cn2", json={"enabled": True})
    assert host_of(other, "e", availability_zone="zone-a") == "cn2"
    assert builds(other) == 1
    # Deleting a host is the one change that builds the table again.
    v1.report("cn4")
    assert host_of(other, "f") == "cn2"
    v1.ok("DELETE", "/hosts/cn4", 204)
    assert host_of(other, "g") == "cn2"
    assert builds(other) == 2


def test_bulk_heartbeats_report_unknown_names(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    before = v1.ok("GET", "/hosts/cn2")["last_heartbeat"]
    time.sleep(1.1)  # heartbeats are kept to the second
    found = beat(v1, "cn1", "ghost", "cn1", "nobody")
    assert found["recorded"] == 1
    assert found["unknown"] == ["ghost", "nobody"]
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == found["last_heartbeat"]
    assert v1.ok("GET", "/hosts/cn2")["last_heartbeat"] == before  # not named: unmoved
    empty = beat(v1)
    assert empty["recorded"] == 0 and empty["unknown"] == []


@SQLITE_ONLY
def test_bulk_heartbeats_refuse_bad_input_naming_the_field(v1: V1) -> None:
    v1.report("cn1")
    before = v1.ok("GET", "/hosts/cn1")["last_heartbeat"]
    time.sleep(1.1)  # heartbeats are kept to the second
    cases: list[tuple[Any, str]] = [
        ({}, "hosts"),
        ({"hosts": "cn1"}, "hosts"),
        ({"hosts": ["cn1", 7]}, "hosts.1"),
        ({"hosts": ["cn1"], "extra": 1}, "extra"),
        ({"hosts": ["cn1", "a/b"]}, "hosts.1"),
        ({"hosts": ["cn1", ""]}, "hosts.1"),
        ({"hosts": ["cn1", "x" * 300]}, "hosts.1"),
        ({"hosts": ["cn1"] * 1001}, "hosts"),
    ]
    for body, field in cases:
        assert_v1_error(v1.post("/hosts/heartbeats", json=body), 400, field=field)
    # Nothing half-written: a refused request recorded no heartbeat.
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == before


@SQLITE_ONLY
def test_the_bulk_route_describes_its_limit(v1: V1) -> None:
    """/openapi.json says what the route enforces: at most 1,000 names, each a string (a
    client generated from the description, or a fuzzer, then knows where 400 starts)."""
    doc = v1.client.get("/openapi.json").json()
    body = doc["paths"]["/v1/hosts/heartbeats"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    hosts = doc["components"]["schemas"][ref]["properties"]["hosts"]
    assert hosts["type"] == "array" and hosts["items"]["type"] == "string", hosts
    assert hosts["maxItems"] == 1000, hosts
    assert doc["components"]["schemas"][ref]["required"] == ["hosts"]


def test_a_flush_that_commits_late_never_moves_a_heartbeat_back(v1: V1, store: Store) -> None:
    """A flush takes its time before it queues for the host rows: one of another
    process may commit after a later one. The later time stays."""
    v1.report("cn1")
    later = beat(v1, "cn1")["last_heartbeat"]
    earlier = datetime.fromisoformat(later.removesuffix("Z")) - timedelta(seconds=5)
    with store.write() as repo:  # the other process's flush, timed 5 s before
        assert list(repo.record_heartbeats(["cn1"], earlier)) == ["cn1"]
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == later
    liveness.fold(store, keep_s=0)  # the log folded into the row: the later time still
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == later


def _row_beat(store: Store, name: str) -> datetime | None:
    with store.read() as repo:
        row = repo.get_host_row(name)
    assert row is not None
    return row.last_heartbeat


def test_a_heartbeat_is_logged_and_folded_into_the_row_later(v1: V1, store: Store) -> None:
    """A flush writes its log row and no host row (at 100,000 hosts rewriting rows cost
    the claims their write lock); readers take the later of the row and the log, and a
    fold moves the log into the rows and empties it."""
    v1.report("cn1")
    reported = _row_beat(store, "cn1")
    time.sleep(1.1)  # heartbeats are kept to the second
    found = beat(v1, "cn1")
    assert _row_beat(store, "cn1") == reported  # the row is untouched
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == found["last_heartbeat"]
    assert liveness.fold(store, keep_s=0) == 1
    with store.read() as repo:
        assert repo.unfolded() == []
    answered = datetime.fromisoformat(found["last_heartbeat"].removesuffix("Z"))
    assert _row_beat(store, "cn1") == answered
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == found["last_heartbeat"]
    assert liveness.fold(store, keep_s=0) == 0  # nothing left to fold


def test_a_process_started_later_reads_the_log_not_folded_yet(
        v1: V1, app_with: AppFactory, store: Store) -> None:
    """A new process builds its host table from the rows and the log: a host heard from
    only through the log is up for it, before and after the fold."""
    v1.report("cn1")
    v1.report("cn2", **BIG)  # spread would prefer it, were it up
    flavor(v1, "small")
    time.sleep(DOWN_AFTER_S + 1.1)  # both rows now too old
    beat(v1, "cn1")
    assert host_of(app_with(host_down_after_s=DOWN_AFTER_S), "a") == "cn1"
    liveness.fold(store, keep_s=0)
    assert host_of(app_with(host_down_after_s=DOWN_AFTER_S), "b") == "cn1"


def test_a_name_deleted_and_reported_again_beats_for_the_new_host(v1: V1) -> None:
    """A flush takes host ids from the process's host table while no host was deleted
    since it was read; a host deleted and reported again under its name has a new id,
    which the flush must log, not the table's old one."""
    v1.report("cn1")
    v1.report("cn2")  # so that cn1's id is not the highest, and not taken again
    flavor(v1, "small")
    vm = booted(v1, "a")  # the scheduler's table now holds cn1's id
    v1.ok("DELETE", f"/instances/{vm['id']}", 204)
    v1.ok("DELETE", "/hosts/cn1", 204)
    v1.report("cn1")
    time.sleep(1.1)  # heartbeats are kept to the second
    found = beat(v1, "cn1")
    assert found["recorded"] == 1
    assert v1.ok("GET", "/hosts/cn1")["last_heartbeat"] == found["last_heartbeat"]


def test_a_fold_leaves_recent_flushes_and_skips_the_hosts_they_name(
        v1: V1, store: Store) -> None:
    """A host heard from in a flush the fold leaves in the log needs no row write: only
    the hosts whose latest time is in the folded part are written."""
    v1.report("cn1")
    v1.report("cn2")
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.write() as repo:
        repo.record_heartbeats(["cn1", "cn2"], now - timedelta(seconds=100))
    with store.write() as repo:
        repo.record_heartbeats(["cn1"], now - timedelta(seconds=5))
    assert liveness.fold(store, keep_s=50) == 1  # cn2 only: cn1's later beat is kept
    with store.read() as repo:
        left = repo.unfolded()
    assert [f[3] for f in left] == [now - timedelta(seconds=5)]
    assert liveness.fold(store, keep_s=0) == 1  # now cn1's
