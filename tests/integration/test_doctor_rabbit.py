"""``corral doctor rabbit`` against the real 3-node cluster, each finding provoked for real.

The doctor runs as the ``corral`` command (a process of its own), reading the nodes'
management API. Queue findings are provoked in a virtual host of the test's own
(deleted at the end, with its queues and policies) and checked with ``--vhost``, so
that the other tests of the shared cluster (``xdist_group("rabbit")``) neither see
them nor disturb them; node findings (an alarm, a node stopped) are undone before the
test ends and the test waits until the cluster is healthy again. The management
statistics are refreshed every second (rabbit_cluster.py): each check polls until the
report names what it should, within a bound that does not depend on machine speed.

Not provoked: a network partition and a quorum queue without a leader (they need two
nodes lost, or minutes of a frozen node): tests/unit/cli/test_rabbit_checks.py checks
them on documents of the shape the management API answers.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from .conftest import clean_env, corral_command, free_port, start_server
from .rabbit_cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rabbit")]

WAIT_S = 90.0


def doctor(tmp_path: Path, cluster: Cluster, *args: str, urls: list[str] | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**clean_env(tmp_path / "data"),
                   "CORRAL_RABBIT_MANAGEMENT_URLS": ",".join(urls or cluster.management_urls),
                   "CORRAL_RABBIT_MANAGEMENT_USER": "guest",
                   "CORRAL_RABBIT_MANAGEMENT_PASSWORD": "guest", **(env or {})}
    return subprocess.run(corral_command("doctor", "rabbit", *args), env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode in (0, 3, 8), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def until(tmp_path: Path, cluster: Cluster, wanted: set[tuple[str, str, str]], *args: str,
          **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the doctor (JSON) until every (severity, check, object) of ``wanted`` is in
    its report; the last run and its findings."""
    deadline = time.monotonic() + WAIT_S
    while True:
        result = doctor(tmp_path, cluster, "-f", "json", *args, **kwargs)
        found = findings(result)
        seen = {(f["severity"], f["check"], f["object"]) for f in found}
        if wanted <= seen or time.monotonic() > deadline:
            assert wanted <= seen, (wanted - seen, found)
            return result, found
        time.sleep(1.0)


@pytest.fixture
def vhost(rabbit: Cluster) -> Iterator[str]:
    name = f"doctor-{uuid.uuid4().hex[:8]}"
    node = rabbit.nodes[0]
    rabbit.ctl(node, "add_vhost", name)
    rabbit.ctl(node, "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield name
    finally:
        rabbit.ctl(node, "delete_vhost", name)


def amqp(cluster: Cluster, vhost: str, heartbeat: int, name: str) -> str:
    port = cluster.nodes[0].amqp_port
    return (f"amqp://guest:guest@127.0.0.1:{port}/{vhost}?heartbeat={heartbeat}"
            f"&name={name}")


def test_a_healthy_cluster_is_healthy(tmp_path: Path, rabbit: Cluster, vhost: str) -> None:
    result = doctor(tmp_path, rabbit, "--vhost", vhost, "--skip-relay", "-f", "json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert [f for f in findings(result) if f["severity"] != "info"] == []
    table = doctor(tmp_path, rabbit, "--vhost", vhost, "--skip-relay")
    summary = " ".join(table.stdout.split())  # rich wraps the line where the width ends
    assert table.returncode == 0 and "3 nodes" in summary and "healthy" in summary


def test_queue_and_connection_findings_are_named(tmp_path: Path, rabbit: Cluster,
                                                 vhost: str) -> None:
    node = rabbit.nodes[0]
    rabbit.ctl(node, "set_policy", "-p", vhost, "--apply-to", "queues", "old-ha",
               "^mirrored\\.", '{"ha-mode": "all"}')
    wanted = {("warning", "orphan_queue", "queue orders (vhost {v})"),
              ("warning", "transient_queue", "queue legacy.fanout (vhost {v})"),
              ("warning", "mirrored_policy", "policy old-ha (vhost {v})"),
              ("warning", "mirrored_queue", "queue mirrored.q (vhost {v})"),
              ("warning", "unacked_pile", "queue work (vhost {v})"),
              ("warning", "queue_backlog", "queue work (vhost {v})")}
    wanted = {(s, c, o.format(v=vhost)) for s, c, o in wanted}

    async def scenario() -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        quiet = await aio_pika.connect(amqp(rabbit, vhost, 0, "doctor-no-heartbeat"))
        slow = await aio_pika.connect(amqp(rabbit, vhost, 600, "doctor-long-heartbeat"))
        try:
            channel = await quiet.channel()
            orders = await channel.declare_queue("orders", durable=True)
            await channel.declare_queue("legacy.fanout", durable=False)
            await channel.declare_queue("mirrored.q", durable=True)
            work = await channel.declare_queue("work", durable=True)
            for n in range(6):
                for queue in (orders, work):
                    await channel.default_exchange.publish(
                        aio_pika.Message(str(n).encode()), routing_key=queue.name)
            holder = await slow.channel()
            await holder.set_qos(prefetch_count=2)
            held = await holder.get_queue("work")
            await held.consume(_never_ack)  # 2 delivered and never acked, 4 ready
            names = {("warning", "no_heartbeat", "doctor-no-heartbeat"),
                     ("warning", "long_heartbeat", "doctor-long-heartbeat")}
            result, found = await asyncio.to_thread(
                until, tmp_path, rabbit, wanted, "--vhost", vhost, "--skip-relay",
                "--max-unacked", "2", "--max-ready", "3")
            seen = {(f["severity"], f["check"], f["object"].split(" ")[1]) for f in found
                    if f["check"].endswith("heartbeat")}
            assert names <= seen, found
            return result, found
        finally:
            await quiet.close()
            await slow.close()

    result, found = asyncio.run(scenario())
    assert result.returncode == 3
    assert all(f["hint"] and f["detail"] for f in found)
    orphan = next(f for f in found if f["check"] == "orphan_queue")
    assert orphan["detail"].startswith("6 message(s) ready")


async def _never_ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    pass


def test_a_memory_alarm_is_critical_until_restored(tmp_path: Path, rabbit: Cluster,
                                                   vhost: str) -> None:
    node = rabbit.nodes[1]
    rabbit.ctl(node, "set_vm_memory_high_watermark", "0.0000001")
    try:
        result, _found = until(tmp_path, rabbit, {("critical", "memory_alarm",
                                                   f"node {node.name}")},
                               "--vhost", vhost, "--skip-relay")
        assert result.returncode == 8
    finally:
        rabbit.ctl(node, "set_vm_memory_high_watermark", "0.4")
    _healthy_again(tmp_path, rabbit, vhost)


def test_a_node_down_and_quorum_members_offline(tmp_path: Path, rabbit: Cluster,
                                                vhost: str) -> None:
    async def declare() -> None:
        connection = await aio_pika.connect(amqp(rabbit, vhost, 10, "doctor-declare"))
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue("ledger", durable=True,
                                        arguments={"x-queue-type": "quorum"})
    asyncio.run(declare())
    down = rabbit.nodes[2]
    rabbit.ctl(down, "stop_app")  # the VM stays up: start_app brings it back in seconds
    try:
        # The stopped node's management API is listed first: the doctor asks the next.
        urls = [down.management_url, rabbit.nodes[0].management_url]
        result, found = until(tmp_path, rabbit, {
            ("critical", "node_down", f"node {down.name}"),
            ("warning", "quorum_member_down", f"queue ledger (vhost {vhost})")},
            "--vhost", vhost, "--skip-relay", urls=urls)
        assert result.returncode == 8
    finally:
        rabbit.ctl(down, "start_app")
        rabbit.await_up(down)
    _healthy_again(tmp_path, rabbit, vhost)


def _healthy_again(tmp_path: Path, cluster: Cluster, vhost: str) -> None:
    """Wait until the doctor finds nothing above info (what the next test expects)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        result = doctor(tmp_path, cluster, "--vhost", vhost, "--skip-relay", "-f", "json")
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stdout
            return
        time.sleep(1.0)


def test_a_monitoring_user_is_enough(tmp_path: Path, rabbit: Cluster, vhost: str) -> None:
    node = rabbit.nodes[0]
    user = f"monitor-{uuid.uuid4().hex[:6]}"
    rabbit.ctl(node, "add_user", user, "watch-it")
    rabbit.ctl(node, "set_policy", "-p", vhost, "--apply-to", "queues", "old-ha",
               "^mirrored\\.", '{"ha-mode": "all"}')
    try:
        rabbit.ctl(node, "set_user_tags", user, "monitoring")
        # Policies are listed only in the virtual hosts the user may enter: access with no
        # right to configure, write or read anything is enough.
        rabbit.ctl(node, "set_permissions", "-p", vhost, user, "", "", "")
        result = doctor(tmp_path, rabbit, "--vhost", vhost, "--skip-relay", "-f", "json",
                        "--user", user, env={"CORRAL_RABBIT_MANAGEMENT_PASSWORD": "watch-it"})
        assert result.returncode == 3, (result.stdout, result.stderr)
        assert [(f["check"], f["object"]) for f in findings(result)] == [
            ("mirrored_policy", f"policy old-ha (vhost {vhost})")]
    finally:
        rabbit.ctl(node, "delete_user", user)


def test_bad_credentials_and_no_answer_are_one_line_errors(tmp_path: Path,
                                                            rabbit: Cluster) -> None:
    refused = doctor(tmp_path, rabbit, env={"CORRAL_RABBIT_MANAGEMENT_PASSWORD": "wrong"})
    assert refused.returncode == 6, refused.stderr
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "refused the credentials of user 'guest'" in refused.stderr
    nowhere = [f"http://127.0.0.1:{free_port()}/", f"http://127.0.0.1:{free_port()}/"]
    gone = doctor(tmp_path, rabbit, urls=nowhere)
    assert gone.returncode == 4, gone.stderr
    assert gone.stderr.startswith("error: cannot reach the RabbitMQ management API at ")
    assert gone.stderr.count("\n") == 1 and "Traceback" not in gone.stderr


def test_the_relay_lag_is_read_from_corral(tmp_path: Path, rabbit: Cluster, vhost: str) -> None:
    def server(name: str, brokers: list[str]) -> Any:
        database = f"sqlite:///{tmp_path / name}.sqlite"
        return start_server(database, tmp_path / name, env={
            "CORRAL_AUTO_MIGRATE": "true", "CORRAL_BROKER_URLS": ",".join(brokers),
            "CORRAL_EXCHANGE": f"doctor-{uuid.uuid4().hex[:6]}",
            "CORRAL_AMQP_CONNECT_TIMEOUT_S": "2"})

    def flavor(url: str) -> None:
        r = httpx.post(url + "/v1/flavors", headers={"x-auth-token": "admin"}, timeout=30,
                       json={"name": "small", "vcpus": 1, "ram_mb": 512, "disk_gb": 1})
        assert r.status_code == 201, r.text

    stuck = server("stuck", [f"amqp://guest:guest@127.0.0.1:{free_port()}/"])
    live = server("live", rabbit.urls)
    try:
        flavor(stuck.url)
        flavor(live.url)
        # Lagging past ten times the limit is critical: the age only grows, so the test
        # waits for that rather than racing the one-second warning window.
        args = ("--vhost", vhost, "--max-relay-lag", "1")
        result, found = until(tmp_path, rabbit, {("critical", "relay_lag", "corral relay")},
                              *args, env={"CORRAL_URL": stuck.url, "CORRAL_TOKEN": "admin"})
        assert result.returncode == 8
        lag = next(f for f in found if f["check"] == "relay_lag")["detail"]
        assert re.match(r"[1-9][0-9]* event\(s\) unsent, the oldest for [0-9]+ s", lag), lag
        # The live server's relay published its event: nothing to say.
        healthy = until(tmp_path, rabbit, set(), *args,
                        env={"CORRAL_URL": live.url, "CORRAL_TOKEN": "admin"})[1]
        deadline = time.monotonic() + WAIT_S
        while any(f["check"].startswith("relay") for f in healthy):
            assert time.monotonic() < deadline, healthy
            time.sleep(1.0)
            healthy = findings(doctor(tmp_path, rabbit, "-f", "json", *args, env={
                "CORRAL_URL": live.url, "CORRAL_TOKEN": "admin"}))
        nobody = findings(doctor(tmp_path, rabbit, "-f", "json", *args, env={
            "CORRAL_URL": f"http://127.0.0.1:{free_port()}", "CORRAL_TOKEN": "admin"}))
        assert [f["check"] for f in nobody] == ["relay_unknown"]
    finally:
        stuck.stop()
        live.stop()
