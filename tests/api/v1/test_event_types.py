"""Every change writes exactly its event, with the payload docs/events.md documents.

Build results, resizes and migrations (claim, confirm, revert), and allocations written
or removed through the Placement API each write one event in their own transaction; a
change refused (no room, a stale generation, a quota) writes none. Every event these
tests see is checked against its JSON schema (domain/event_schemas.py).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from corral.domain.event_schemas import schema_of

from .helpers import V1
from .scheduling import AppFactory, app_with, flavor

__all__ = ["app_with"]

ENVELOPE = {"type": "object",
            "required": ["message_id", "event_type", "priority", "publisher_id", "timestamp",
                         "object_type", "object_id", "payload_version", "payload"]}
PLACEMENT = {"x-auth-token": "admin", "openstack-api-version": "placement 1.38"}
#: What the flavor "small" (1 vCPU, 512 MB, 1 GB) claims.
SMALL = {"DISK_GB": 1, "MEMORY_MB": 512, "VCPU": 1}
BIG = {"DISK_GB": 2, "MEMORY_MB": 1024, "VCPU": 2}


def events(v1: V1, **params: Any) -> list[dict[str, Any]]:
    """The events (oldest first), each checked against its schemas."""
    found: list[dict[str, Any]] = v1.ok("GET", "/events", params={"limit": 1000, **params}
                                        )["events"]
    for e in found:
        jsonschema.validate(e, ENVELOPE)
        jsonschema.validate(e["payload"], schema_of(e["event_type"]),
                            format_checker=jsonschema.FormatChecker())
    return found


def types(v1: V1, **params: Any) -> list[str]:
    return [e["event_type"] for e in events(v1, **params)]


def boot(v1: V1, name: str = "vm", flavor_name: str = "small") -> str:
    r = v1.post("/instances", json={"name": name, "flavor": flavor_name, "project_id": "p1",
                                    "user_id": "u1"})
    assert r.status_code == 201, r.text
    found: str = r.json()["instances"][0]["id"]
    return found


def act(v1: V1, uuid: str, action: str, **body: Any) -> Any:
    bodiless = action in ("confirm", "revert")
    return v1.ok("POST", f"/instances/{uuid}/{action}", 200, json=None if bodiless else body)


def test_a_build_reported_active_writes_create_end(v1: V1) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    vm = boot(v1)
    act(v1, vm, "build-report", status="active")
    found = events(v1, object_id=vm)
    assert [e["event_type"] for e in found] == ["instance.create.start", "instance.create.end"]
    start, end = (e["payload"] for e in found)
    assert start["state"] == "building" and end["state"] == "active"
    assert end["flavor_name"] == "small" and end["resources"] == SMALL
    assert end["host"] == "cn1" and end["user_id"] == "u1" and end["project_id"] == "p1"
    assert found[1]["payload_version"] == "1.1"
    assert end["changed_at"] == found[1]["timestamp"]


def test_a_failed_build_moves_then_releases_its_allocations(app_with: AppFactory) -> None:
    v1 = app_with(max_attempts=2)
    for name in ("cn1", "cn2"):
        v1.report(name)
    flavor(v1, "small")
    vm = boot(v1)
    first = v1.ok("GET", f"/instances/{vm}")["host"]
    act(v1, vm, "build-report", status="failed", message="disk full")
    act(v1, vm, "build-report", status="failed", message="again")
    found = events(v1, object_id=vm)
    assert [e["event_type"] for e in found] == [
        "instance.create.start", "instance.create.error", "instance.create.error"]
    moved, released = found[1]["payload"], found[2]["payload"]
    assert found[1]["priority"] == "ERROR"
    assert moved["allocations"] == "moved" and moved["failed_host"] == first
    assert moved["state"] == "building" and moved["host"] not in (None, first)
    assert moved["resources"] == SMALL and moved["fault"] == "disk full"
    assert released["allocations"] == "released" and released["state"] == "error"
    assert released["host"] is None and released["resources"] == {}
    assert released["failed_host"] == moved["host"]


def test_resize_then_confirm_and_revert(v1: V1) -> None:
    for name in ("cn1", "cn2"):
        v1.report(name)
    flavor(v1, "small")
    flavor(v1, "big", vcpus=2, ram_mb=1024, disk_gb=2)
    vm = boot(v1)
    act(v1, vm, "build-report", status="active")
    source = v1.ok("GET", f"/instances/{vm}")["host"]
    act(v1, vm, "resize", flavor="big")
    act(v1, vm, "confirm")
    act(v1, vm, "resize", flavor="small")
    act(v1, vm, "revert")
    found = events(v1, object_id=vm)
    assert [e["event_type"] for e in found][2:] == [
        "instance.resize.end", "instance.resize_confirm.end",
        "instance.resize.end", "instance.resize_revert.end"]
    resized, confirmed, again, reverted = (e["payload"] for e in found[2:])
    assert resized["state"] == "verify_resize" and resized["flavor_name"] == "big"
    assert {**resized["before"], "flavor_id": "-"} == {
        "host": source, "availability_zone": None, "flavor_id": "-", "flavor_name": "small",
        "resources": SMALL}
    assert resized["after"]["flavor_name"] == "big" and resized["after"]["resources"] == BIG
    assert resized["after"]["host"] == resized["host"] != source
    assert confirmed["state"] == "active" and confirmed["flavor_name"] == "big"
    assert confirmed["resources"] == BIG and confirmed["source"]["host"] == source
    assert again["before"]["flavor_name"] == "big" and again["after"]["flavor_name"] == "small"
    assert reverted["flavor_name"] == "big" and reverted["resources"] == BIG
    assert reverted["host"] == again["before"]["host"] and reverted["state"] == "active"


def test_migrate_then_confirm_and_revert(v1: V1) -> None:
    for name in ("cn1", "cn2"):
        v1.report(name)
    flavor(v1, "small")
    vm = boot(v1)
    act(v1, vm, "build-report", status="active")
    source = v1.ok("GET", f"/instances/{vm}")["host"]
    act(v1, vm, "migrate")
    act(v1, vm, "revert")
    act(v1, vm, "migrate")
    act(v1, vm, "confirm")
    found = events(v1, object_id=vm)
    assert [e["event_type"] for e in found][2:] == [
        "instance.migrate.end", "instance.migrate_revert.end",
        "instance.migrate.end", "instance.migrate_confirm.end"]
    moved, back, _again, kept = (e["payload"] for e in found[2:])
    assert moved["before"]["host"] == source and moved["after"]["host"] != source
    assert moved["before"]["resources"] == moved["after"]["resources"] == SMALL
    assert back["host"] == source and kept["host"] != source
    assert kept["state"] == "active" and kept["resources"] == SMALL


def test_refused_moves_and_builds_write_no_event(v1: V1) -> None:
    v1.report("cn1", vcpus=2)
    v1.report("cn2", vcpus=1)
    flavor(v1, "small")
    flavor(v1, "huge", vcpus=4)
    vm = boot(v1)
    act(v1, vm, "build-report", status="active")
    before = events(v1)
    v1.ok("POST", f"/instances/{vm}/resize", 409, json={"flavor": "huge"})  # no room
    v1.ok("POST", f"/instances/{vm}/confirm", 409)  # nothing to confirm
    v1.ok("POST", f"/instances/{vm}/build-report", 409, json={"status": "active"})
    v1.ok("PUT", "/limits/p1", json={"limits": {"cores": 1}})
    v1.ok("POST", "/instances", 403, json={"name": "x", "flavor": "small", "project_id": "p1"})
    assert types(v1) == [*[e["event_type"] for e in before], "limits.set"]


def _put(v1: V1, consumer: str, allocations: dict[str, Any], generation: int | None,
         status: int = 204) -> None:
    r = v1.client.put(f"/allocations/{consumer}", headers=PLACEMENT, json={
        "allocations": {rp: {"resources": res} for rp, res in allocations.items()},
        "project_id": "p7", "user_id": "u7", "consumer_generation": generation,
        "consumer_type": "INSTANCE"})
    assert r.status_code == status, r.text


def test_placement_writes_and_deletes_write_allocation_events(v1: V1) -> None:
    rp = v1.report("cn1", vcpus=4)["provider_uuid"]
    consumer, other = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-2222-3333-4444-555555555555"
    _put(v1, consumer, {rp: {"VCPU": 2, "MEMORY_MB": 256}}, None)
    _put(v1, consumer, {rp: {"VCPU": 3}}, 0, status=409)  # stale generation: nothing
    _put(v1, other, {rp: {"DISK_GB": 1000}}, None, status=409)  # no room: nothing
    _put(v1, consumer, {rp: {"VCPU": 1}}, 1)
    r = v1.client.delete(f"/allocations/{consumer}", headers=PLACEMENT)
    assert r.status_code == 204, r.text
    _put(v1, other, {rp: {"VCPU": 1}}, None)
    _put(v1, other, {}, 1)  # emptied by a write
    _put(v1, "bbbbbbbb-2222-3333-4444-555555555555", {}, None)  # held nothing: no event
    found = events(v1, object_type="consumer")
    assert [(e["event_type"], e["object_id"]) for e in found] == [
        ("allocation.update", consumer), ("allocation.update", consumer),
        ("allocation.delete", consumer), ("allocation.update", other),
        ("allocation.delete", other)]
    first = found[0]["payload"]
    assert first["allocations"] == {rp: {"VCPU": 2, "MEMORY_MB": 256}}
    assert first["resources"] == {"MEMORY_MB": 256, "VCPU": 2}
    assert (first["project_id"], first["user_id"], first["consumer_type"]) == (
        "p7", "u7", "INSTANCE")
    assert first["generation"] == 1 and found[1]["payload"]["generation"] == 2
    assert found[2]["payload"]["allocations"] == {} and found[2]["payload"]["project_id"] == "p7"


@pytest.mark.parametrize("event_type", ["instance.create.start", "allocation.update",
                                        "host.down", "quota.drift", "flavor.create"])
def test_every_event_type_has_a_schema_that_refuses_an_empty_payload(event_type: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({}, schema_of(event_type))
