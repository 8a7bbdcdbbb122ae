"""What ``corral doctor rabbit`` looks for, in what the management API and corral said.

Pure functions over the JSON documents of a :class:`~corral.cli.rabbit_api.Snapshot`
(and corral's ``GET /v1/events/pending``): each returns :class:`Finding`\\ s, with a
severity, a stable check name (scripts key on it), the object, what is wrong and a
one-line fix. ``critical``: the cluster loses availability or data now (a node down, a
partition, an alarm blocking publishers, a quorum queue without a leader);
``warning``: something operators chase by hand before it bites; ``info``: worth
knowing, healthy all the same (docs/events.md, "Operations").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    check: str
    object: str
    detail: str
    hint: str

    def row(self) -> dict[str, str]:
        return {"severity": self.severity, "check": self.check, "object": self.object,
                "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class Limits:
    """Where a number becomes a finding."""

    max_ready: int = 1000
    max_unacked: int = 1000
    max_heartbeat_s: int = 60
    max_relay_lag_s: float = 60.0


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by check and object (a stable report)."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.check, f.object))


def worst(findings: Sequence[Finding]) -> Severity | None:
    return min((f.severity for f in findings), key=SEVERITIES.index, default=None)


# -- nodes -----------------------------------------------------------------------------------

def nodes(found: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Nodes down, partitions, memory and disk alarms."""
    out: list[Finding] = []
    for node in found:
        name = str(node.get("name"))
        if not node.get("running", False):
            out.append(Finding("critical", "node_down", f"node {name}",
                               "the node is not running: its queues' replicas are offline",
                               "start it again, or remove it for good with 'rabbitmqctl "
                               f"forget_cluster_node {name}'"))
            continue
        if node.get("partitions"):
            out.append(Finding("critical", "partition", f"node {name}",
                               "cannot reach " + ", ".join(map(str, node["partitions"])),
                               "keep one side, restart the other side's nodes (rabbitmqctl "
                               "stop_app; start_app); set cluster_partition_handling = "
                               "pause_minority"))
        if node.get("mem_alarm"):
            out.append(Finding("critical", "memory_alarm", f"node {name}",
                               f"memory alarm: {_mib(node.get('mem_used'))} used of a "
                               f"{_mib(node.get('mem_limit'))} watermark; publishers are blocked",
                               "find the queue or connection holding memory (rabbitmq-diagnostics "
                               "memory_breakdown), drain it, or raise vm_memory_high_watermark"))
        if node.get("disk_free_alarm"):
            out.append(Finding("critical", "disk_alarm", f"node {name}",
                               f"disk alarm: {_mib(node.get('disk_free'))} free, limit "
                               f"{_mib(node.get('disk_free_limit'))}; publishers are blocked",
                               "free disk space under the node's data directory or lower "
                               "disk_free_limit"))
    return out


def _mib(value: Any) -> str:
    return f"{int(value) // 2**20} MiB" if isinstance(value, int | float) else "?"


# -- policies and queues ----------------------------------------------------------------------

def _where(vhost: Any, name: Any) -> str:
    return f"{name}" if vhost in (None, "/") else f"{name} (vhost {vhost})"


def policies(found: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Classic mirroring policies (ha-*): deprecated, gone in RabbitMQ 4 (where they
    linger doing nothing)."""
    out: list[Finding] = []
    for policy in found:
        keys = sorted(k for k in (policy.get("definition") or {}) if str(k).startswith("ha-"))
        if keys:
            vhost = policy.get("vhost", "/")
            out.append(Finding("warning", "mirrored_policy",
                               f"policy {_where(vhost, policy.get('name'))}",
                               f"classic queue mirroring ({', '.join(keys)}) for queues "
                               f"matching {policy.get('pattern')!r}",
                               "declare quorum queues (x-queue-type: quorum) instead, then "
                               f"'rabbitmqctl clear_policy -p {vhost} {policy.get('name')}'"))
    return out


def queues(found: Sequence[Mapping[str, Any]], limits: Limits,
           down: frozenset[str]) -> list[Finding]:
    """Mirrored classic queues, transient queues with well-known names, orphans, piles of
    ready or unacknowledged messages, quorum queues without a leader or with members
    offline (``down``: the nodes not running)."""
    out: list[Finding] = []
    for queue in found:
        name = f"queue {_where(queue.get('vhost'), queue.get('name'))}"
        out.extend(_shape(queue, name))
        out.extend(_load(queue, name, limits))
        if queue.get("type") == "quorum":
            out.extend(_quorum(queue, name, down))
    return out


def _shape(queue: Mapping[str, Any], name: str) -> list[Finding]:
    out: list[Finding] = []
    mirrored = queue.get("slave_nodes") or any(
        str(k).startswith("ha-") for k in (queue.get("effective_policy_definition") or {}))
    if queue.get("type", "classic") == "classic" and mirrored:
        out.append(Finding("warning", "mirrored_queue", name,
                           "a classic mirrored queue (mirrors on "
                           f"{', '.join(map(str, queue.get('slave_nodes') or [])) or 'none yet'}): "
                           "it may confirm too early and loses messages on failover",
                           "move it to a quorum queue (x-queue-type: quorum) and drop the "
                           "ha-* policy"))
    well_known = not str(queue.get("name", "")).startswith("amq.")
    if well_known and not queue.get("exclusive"):
        kinds = [k for k, bad in (("auto-delete", queue.get("auto_delete")),
                                  ("not durable", not queue.get("durable", True))) if bad]
        if kinds:
            out.append(Finding("warning", "transient_queue", name,
                               f"{' and '.join(kinds)}, with a well-known name: a client "
                               "that reconnects races the broker deleting it",
                               "make it durable (a quorum queue with x-expires if it may go "
                               "away), or exclusive and server-named"))
    return out


def _load(queue: Mapping[str, Any], name: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    ready = int(queue.get("messages_ready") or 0)
    unacked = int(queue.get("messages_unacknowledged") or 0)
    consumers = int(queue.get("consumers") or 0)
    if consumers == 0 and not queue.get("exclusive"):
        if ready:
            out.append(Finding("warning", "orphan_queue", name,
                               f"{ready} message(s) ready and no consumer",
                               "bring its consumer back, or delete the queue if none will "
                               "come (give per-consumer queues x-expires)"))
        else:
            out.append(Finding("info", "idle_queue", name, "no consumer, empty",
                               "delete it if nothing will consume it again"))
    elif ready >= limits.max_ready:
        out.append(Finding("warning", "queue_backlog", name,
                           f"{ready} message(s) ready, {consumers} consumer(s) not keeping up",
                           "add consumers or find the slow one (a higher prefetch helps "
                           "quorum queues)"))
    if unacked >= limits.max_unacked:
        out.append(Finding("warning", "unacked_pile", name,
                           f"{unacked} message(s) delivered and not acknowledged",
                           "find the consumer holding them (rabbitmqctl list_consumers); "
                           "ack after commit, lower its prefetch_count"))
    return out


def _quorum(queue: Mapping[str, Any], name: str, down: frozenset[str]) -> list[Finding]:
    members = [str(m) for m in queue.get("members") or []]
    online = {str(m) for m in queue.get("online") or []} - down
    leader = queue.get("leader")
    if not leader or str(leader) not in online:
        return [Finding("critical", "quorum_leaderless", name,
                        f"no leader ({len(online)} of {len(members)} members online): "
                        "nothing is delivered or confirmed",
                        "bring its members' nodes back: a majority elects a leader")]
    offline = [m for m in members if m not in online]
    if offline:
        return [Finding("warning", "quorum_member_down", name,
                        f"member(s) offline on {', '.join(offline)}: "
                        f"{len(members) - len(offline)} of {len(members)} replicas left",
                        "restart those nodes; if one is gone for good, 'rabbitmq-queues "
                        "shrink NODE' and 'grow' onto a new one")]
    return []


# -- connections ------------------------------------------------------------------------------

def connections(found: Sequence[Mapping[str, Any]], limits: Limits) -> list[Finding]:
    """Connections without heartbeats, or with heartbeats too long to notice a dead peer."""
    out: list[Finding] = []
    for conn in found:
        props = conn.get("client_properties") or {}
        label = props.get("connection_name") or conn.get("name")
        who = f"connection {label} (user {conn.get('user')}, from {conn.get('peer_host')})"
        heartbeat = conn.get("timeout")
        if heartbeat == 0:
            out.append(Finding("warning", "no_heartbeat", who,
                               "heartbeats are off: a half-open connection is never noticed",
                               "set the client's heartbeat to 10-15 s (corral: "
                               "amqp_heartbeat_s)"))
        elif isinstance(heartbeat, int) and heartbeat > limits.max_heartbeat_s:
            out.append(Finding("warning", "long_heartbeat", who,
                               f"heartbeat {heartbeat} s: a dead peer goes unnoticed for "
                               "minutes", "set the client's heartbeat to 10-15 s"))
    return out


# -- corral's relay ---------------------------------------------------------------------------

def relay(backlog: Mapping[str, Any], limits: Limits) -> list[Finding]:
    """corral's own lag: events the broker has not confirmed (GET /v1/events/pending)."""
    pending = int(backlog.get("pending") or 0)
    age = float(backlog.get("oldest_pending_age_s") or 0.0)
    if not backlog.get("broker_configured", True):
        return [Finding("info", "relay_off", "corral relay",
                        f"no broker configured: {pending} event(s) only in corral's log",
                        "set broker_urls ([events]) to publish them")]
    if pending and age > limits.max_relay_lag_s:
        severity: Severity = "critical" if age > 10 * limits.max_relay_lag_s else "warning"
        return [Finding(severity, "relay_lag", "corral relay",
                        f"{pending} event(s) unsent, the oldest for {age:.0f} s "
                        f"(since {backlog.get('oldest_pending_at')})",
                        "check that a relay runs (corral_events_relay_leader) and reaches "
                        "the broker (corral_events_relay_link_lost_total)")]
    return []


def relay_unknown(reason: str) -> Finding:
    return Finding("warning", "relay_unknown", "corral relay",
                   f"corral's lag is unknown: {reason}",
                   "set CORRAL_URL and an admin CORRAL_TOKEN, or pass --skip-relay")
