"""The event log: written with its change, listed oldest first for admins.

A boot writes ``instance.create.start`` for each instance and a delete writes
``instance.delete.end``, in the change's own transaction: a boot refused (quota, no
host) leaves no event. ``GET /v1/events`` pages with the last ``message_id`` as marker
and filters by type, object and time. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

from .helpers import V1, assert_v1_error
from .scheduling import flavor


def events(v1: V1, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = v1.ok("GET", "/events", params=params)["events"]
    return found


def boot(v1: V1, name: str, count: int = 1) -> list[str]:
    r = v1.post("/instances", json={"name": name, "flavor": "small", "project_id": "p1",
                                    "count": count})
    assert r.status_code == 201, r.text
    return [i["id"] for i in r.json()["instances"]]


def test_boots_and_deletes_write_their_events_in_order(v1: V1) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    ids = boot(v1, "web", count=2)
    v1.ok("DELETE", f"/instances/{ids[0]}", status=204)
    found = events(v1, object_type="instance")
    assert [(e["event_type"], e["object_id"]) for e in found] == [
        ("instance.create.start", ids[0]), ("instance.create.start", ids[1]),
        ("instance.delete.end", ids[0])]
    first = found[0]
    assert first["object_type"] == "instance" and first["priority"] == "INFO"
    assert first["payload_version"] == "1.1" and first["sent_at"] is None
    assert first["publisher_id"].startswith("corral.")
    assert uuid.UUID(first["message_id"])
    assert first["payload"]["host"] == "cn1" and first["payload"]["project_id"] == "p1"
    assert found[2]["payload"]["state"] == "deleted"
    assert len({e["message_id"] for e in found}) == 3


def test_a_refused_boot_writes_no_event(v1: V1) -> None:
    v1.report("cn1", vcpus=1)
    flavor(v1, "small")
    boot(v1, "one")
    v1.ok("PUT", "/limits/p1", json={"limits": {"instances": 1}})
    refused = v1.post("/instances", json={"name": "two", "flavor": "small", "project_id": "p1"})
    assert refused.status_code == 403, refused.text
    assert [e["payload"]["name"] for e in events(v1, object_type="instance")] == ["one"]


def test_pages_filters_and_admin_only(v1: V1) -> None:
    v1.report("cn1")
    flavor(v1, "small")
    ids = boot(v1, "web", count=5)
    v1.ok("DELETE", f"/instances/{ids[4]}", status=204)
    page = v1.ok("GET", "/events", params={"limit": 2, "object_type": "instance"})
    assert [e["object_id"] for e in page["events"]] == ids[:2]
    rest = v1.ok("GET", "/events", params={"limit": 10, "marker": page["next_marker"],
                                           "object_type": "instance"})
    assert [e["object_id"] for e in rest["events"]] == [*ids[2:], ids[4]]
    assert rest["next_marker"] is None
    assert [e["object_id"] for e in events(v1, event_type="instance.delete.end")] == [ids[4]]
    assert len(events(v1, object_type="instance", object_id=ids[4])) == 2
    assert events(v1, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []
    assert len(events(v1, since="2000-01-01T00:00:00+00:00")) == 7  # and flavor.create
    assert_v1_error(v1.get("/events", params={"marker": "nope"}), 400)
    assert_v1_error(v1.get("/events", params={"limit": 0}), 400)
    assert_v1_error(v1.as_("alice:p1", roles="member").get("/events"), 403)
    assert_v1_error(v1.as_("alice:p1", roles="reader").get("/events"), 403)


def test_admin_changes_are_events_with_their_actor_and_tokens_are_not(v1: V1) -> None:
    """Every change the audit trail records is an event of the same name (the trail's
    before and after, and the actor), in the same transaction; token changes stay in
    the trail only."""
    v1.report("cn1")
    flavor(v1, "small")
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": False, "disabled_reason": "maintenance"})
    v1.ok("POST", "/projects", 201, json={"id": "p9", "name": "p9"})
    v1.ok("PUT", "/limits/p9", json={"limits": {"cores": 8}})
    made = v1.ok("POST", "/tokens", 201, json={"role": "member", "project_id": "p9"})
    v1.ok("DELETE", f"/tokens/{made['id']}", status=204)
    found = events(v1)
    types = [e["event_type"] for e in found]
    assert types == ["flavor.create", "host.update", "project.create", "limits.set"]
    host = found[1]
    assert host["object_type"] == "host" and host["object_id"] == "cn1"
    assert host["payload"]["before"]["enabled"] is True
    assert host["payload"]["after"]["enabled"] is False
    assert host["payload"]["actor"]["user_id"] == "admin"
    assert host["payload"]["actor"]["request_id"]
    trail = v1.ok("GET", "/audit-log", params={"sort_dir": "asc"})["entries"]
    assert [e["action"] for e in trail] == [*types, "token.create", "token.revoke"]


def test_the_backlog_counts_unsent_events_and_ages_the_oldest(v1: V1) -> None:
    # No broker in these tests: every event stays unsent, and the answer says why.
    empty = v1.ok("GET", "/events/pending")
    assert empty == {"pending": 0, "oldest_pending_at": None, "oldest_pending_age_s": 0.0,
                     "broker_configured": False}
    v1.report("cn1")
    flavor(v1, "small")
    boot(v1, "web", count=2)
    found = v1.ok("GET", "/events/pending")
    assert found["pending"] == len(events(v1)) == 3  # flavor.create and two boots
    assert found["oldest_pending_at"] == events(v1)[0]["timestamp"][:19] + "Z"  # to the second
    assert found["oldest_pending_age_s"] >= 0 and found["broker_configured"] is False
    assert_v1_error(v1.as_("alice:p1", roles="member").get("/events/pending"), 403)
