"""corral audit-log and corral event list: clients of GET /v1/audit-log and /v1/events."""

from __future__ import annotations

import json

from .conftest import Cli


def test_the_audit_log_and_the_events_of_changes_made_through_the_cli(cli: Cli) -> None:
    cli.ok("project", "create", "p1")
    cli.ok("limit", "set", "p1", "cores=8")
    cli.ok("flavor", "create", "small", "--vcpus", "1", "--ram", "512", "--disk", "1")
    trail = json.loads(cli.ok("audit-log", "--sort", "asc", "-f", "json").stdout)
    assert [e["action"] for e in trail] == ["project.create", "limits.set", "flavor.create"]
    assert trail[1]["after"]["cores"] == 8
    assert trail[1]["actor_user_id"] == "admin"
    first = cli.ok("audit-log", "--sort", "asc", "--limit", "1")
    assert "project.create" in first.stdout and "--marker" in first.stderr
    only = json.loads(cli.ok("audit-log", "--action", "flavor.create", "-f", "json").stdout)
    assert [e["object_type"] for e in only] == ["flavor"]

    events = json.loads(cli.ok("event", "list", "-f", "json").stdout)
    assert [e["event_type"] for e in events] == ["project.create", "limits.set",
                                                 "flavor.create"]
    assert events[2]["payload"]["after"]["name"] == "small"
    table = cli.ok("event", "list", "--type", "limits.set").stdout
    assert "limits.set" in table and "flavor.create" not in table
