"""The doctor's checks on what cannot be provoked quickly on the test cluster: a network
partition, a quorum queue without a leader, and the edges of the relay's lag.

The documents have the shape RabbitMQ 3.10's management API answers (GET /api/nodes,
/api/queues); tests/integration/test_doctor_rabbit.py provokes the rest for real.
"""

from __future__ import annotations

from typing import Any

from corral.cli import rabbit_checks as checks

LIMITS = checks.Limits(max_relay_lag_s=60.0)


def node(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "running": True, "mem_alarm": False, "disk_free_alarm": False,
            "partitions": [], **fields}


def test_a_partition_and_a_disk_alarm_are_critical() -> None:
    found = checks.nodes([node("rabbit@a", partitions=["rabbit@c"]),
                          node("rabbit@b", disk_free_alarm=True, disk_free=2**20,
                               disk_free_limit=50 * 2**20),
                          node("rabbit@c")])
    assert [(f.severity, f.check, f.object) for f in found] == [
        ("critical", "partition", "node rabbit@a"), ("critical", "disk_alarm", "node rabbit@b")]
    assert "rabbit@c" in found[0].detail and "1 MiB free" in found[1].detail


def test_a_quorum_queue_without_a_leader_is_critical() -> None:
    members = ["rabbit@a", "rabbit@b", "rabbit@c"]
    queue = {"name": "ledger", "vhost": "/", "type": "quorum", "durable": True,
             "consumers": 1, "members": members, "online": ["rabbit@a"], "leader": ""}
    found = checks.queues([queue], LIMITS, frozenset({"rabbit@b", "rabbit@c"}))
    assert [(f.severity, f.check, f.object) for f in found] == [
        ("critical", "quorum_leaderless", "queue ledger")]
    # A leader on a node that is down is no leader either.
    queue = {**queue, "leader": "rabbit@b", "online": members}
    found = checks.queues([queue], LIMITS, frozenset({"rabbit@b"}))
    assert [f.check for f in found] == ["quorum_leaderless"]


def test_an_exclusive_or_server_named_queue_is_no_finding() -> None:
    queues = [{"name": "amq.gen-x1", "vhost": "/", "type": "classic", "durable": False,
               "auto_delete": True, "exclusive": False, "consumers": 1},
              {"name": "reply", "vhost": "/", "type": "classic", "durable": False,
               "auto_delete": True, "exclusive": True, "consumers": 0, "messages_ready": 4}]
    assert checks.queues(queues, LIMITS, frozenset()) == []


def test_the_relay_lags_by_the_age_of_its_oldest_unsent_event() -> None:
    def lag(pending: int, age: float, broker: bool = True) -> list[tuple[str, str]]:
        backlog = {"pending": pending, "oldest_pending_age_s": age,
                   "oldest_pending_at": "2026-12-08T00:00:00Z", "broker_configured": broker}
        return [(f.severity, f.check) for f in checks.relay(backlog, LIMITS)]

    assert lag(0, 0.0) == []
    assert lag(5, 60.0) == []
    assert lag(5, 61.0) == [("warning", "relay_lag")]
    assert lag(5, 601.0) == [("critical", "relay_lag")]
    assert lag(5, 9999.0, broker=False) == [("info", "relay_off")]


def test_the_report_is_ordered_and_its_worst_decides() -> None:
    info = checks.Finding("info", "idle_queue", "queue a", "d", "h")
    warn = checks.Finding("warning", "orphan_queue", "queue b", "d", "h")
    crit = checks.Finding("critical", "node_down", "node c", "d", "h")
    assert checks.ordered([info, warn, crit]) == [crit, warn, info]
    assert checks.worst([info, warn]) == "warning"
    assert checks.worst([info]) == "info" and checks.worst([]) is None
