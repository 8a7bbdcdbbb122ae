"""A real RabbitMQ cluster of three nodes on 127.0.0.1, as plain processes.

Debian's ``rabbitmq-server`` package provides the broker; nothing runs as a system
service. Each node has its own data directory under one base directory, its own AMQP
and distribution ports (free ports picked at start), and a node name unique to this
test session, so two sessions on one machine never meet. The first node starts alone,
the other two join it. Faults are real: ``kill -9``, ``SIGSTOP``/``SIGCONT`` of a
node's Erlang VM, ``rabbitmqctl close_all_connections``. Every node also serves the
management HTTP API (the ``rabbitmq_management`` plugin, on a port of its own on
127.0.0.1), which ``corral doctor rabbit`` reads.

Standard library only, so a script (or CI) can start a cluster for manual runs::

    python3 tests/integration/rabbit_cluster.py /tmp/rmq     # prints the AMQP URLs
    python3 tests/integration/rabbit_cluster.py /tmp/rmq --stop   # start time, then stop
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT_S = 90.0


def available() -> str | None:
    """Why a cluster cannot start here (None: it can)."""
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return "Debian's rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One broker node: its name, ports and files."""

    number: int
    name: str
    amqp_port: int
    dist_port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None
    management_port: int = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        """The management HTTP API's root (user guest, password guest)."""
        return f"http://127.0.0.1:{self.management_port}/"

    @property
    def pid(self) -> int:
        """The Erlang VM's process id (what a crash or a freeze targets)."""
        return int((self.home / "pid").read_text().strip())


@dataclass
class Cluster:
    base: Path
    cookie: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        for n in (1, 2, 3):
            self.nodes.append(Node(n, f"corral{tag}n{n}@localhost", free_port(), free_port(),
                                   self.base / f"n{n}", management_port=free_port()))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def management_urls(self) -> list[str]:
        return [node.management_url for node in self.nodes]

    def env(self, node: Node) -> dict[str, str]:
        home = self.base / "home"
        return {**os.environ, "HOME": str(home),
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(node.amqp_port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_CONF_ENV_FILE": str(node.home / "rabbitmq-env.conf"),
                "RABBITMQ_MNESIA_BASE": str(node.home / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.home / "log"),
                "RABBITMQ_PID_FILE": str(node.home / "pid"),
                "RABBITMQ_CONFIG_FILE": str(node.home / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.home / "enabled_plugins"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.home / "advanced.config"),
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def _prepare(self) -> None:
        home = self.base / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        for node in self.nodes:
            (node.home / "log").mkdir(parents=True, exist_ok=True)
            (node.home / "rabbitmq-env.conf").touch()
            (node.home / "enabled_plugins").write_text("[rabbitmq_management].\n")
            (node.home / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
                "loopback_users = none\n"
                "cluster_partition_handling = pause_minority\n"
                # The management API (corral doctor rabbit), its statistics every second
                # (the default 5 s would only make the doctor's tests wait longer).
                "management.tcp.ip = 127.0.0.1\n"
                f"management.tcp.port = {node.management_port}\n"
                "collect_statistics_interval = 1000\n")

    def ctl(self, node: Node, *args: str, timeout: float = 60.0) -> str:
        done = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
                              env=self.env(node), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def launch(self, node: Node) -> None:
        log = (node.home / "stdout.log").open("ab")
        node.process = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")],
                                        env=self.env(node), stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def await_up(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.ctl(node, "await_startup", "--timeout", "30", timeout=40)
                return
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"{node.name} exited; see {node.home}/log") from exc
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node.name} did not start in {START_TIMEOUT_S:.0f} s") from exc
                time.sleep(0.3)

    def start(self) -> None:
        self._prepare()
        first, *others = self.nodes
        self.launch(first)
        for node in others:
            self.launch(node)
        self.await_up(first)
        for node in others:
            self.await_up(node)
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")

    def kill(self, node: Node) -> None:
        """A crash: SIGKILL of the node's VM."""
        os.kill(node.pid, signal.SIGKILL)
        if node.process is not None:
            node.process.wait(timeout=30)

    def restart(self, node: Node) -> None:
        self.launch(node)
        self.await_up(node)

    def freeze(self, node: Node) -> None:
        os.kill(node.pid, signal.SIGSTOP)

    def thaw(self, node: Node) -> None:
        os.kill(node.pid, signal.SIGCONT)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(OSError, ValueError):
                os.kill(node.pid, signal.SIGCONT)
            if node.process is not None and node.process.poll() is None:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=30)
            with contextlib.suppress(OSError, ValueError):
                os.kill(node.pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


if __name__ == "__main__":
    if why := available():
        sys.exit(why)
    cluster = Cluster(Path(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--stop"
                           else "/tmp/corral-rmq"))
    started = time.monotonic()
    cluster.start()
    print(f"cluster up in {time.monotonic() - started:.1f} s:", " ".join(cluster.urls),
          "management:", " ".join(cluster.management_urls))
    if "--stop" in sys.argv:
        cluster.stop()
