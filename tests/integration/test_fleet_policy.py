"""One fleet, one truth: the CLI reads the fleet with the policy ``corral serve`` runs with.

A real server is started with a ``host_down_after_s`` of its own (through the
environment, as ``make run`` did), over the demo fleet whose heartbeats were set two
hours in the past before it started (no sleeping). ``corral host list``, ``corral
capacity``, ``corral instance boot --dry-run`` (real processes, with no setting of
their own but the server's address) and ``GET /v1/hosts`` must then give the same
answer, on SQLite and PostgreSQL. The CLI is a client of the server (docs/cli.md): a
policy configured on the CLI's side plays no part.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from corral.persistence import Store
from corral.persistence import tables as t
from corral.persistence.clock import utcnow

from .conftest import ServeFactory, clean_env, corral_command, store_url

pytestmark = pytest.mark.slow

AGE = timedelta(hours=2)
CLI_TIMEOUT = 60.0


def corral(store: Store, data: Path, *args: str, env: dict[str, str] | None = None,
           url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own; a client of the server at ``url``."""
    client = {"CORRAL_URL": url, "CORRAL_TOKEN": "admin"} if url else {}
    return subprocess.run(corral_command("--database-url", store_url(store), *args),
                          env={**clean_env(data), **client, **(env or {})},
                          capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, check=False)


def seed_aged_demo(store: Store, data: Path) -> None:
    seeded = corral(store, data, "demo")
    assert seeded.returncode == 0, seeded.stderr
    age_heartbeats(store, AGE)  # every heartbeat two hours old, before serve starts


def api_states(url: str) -> dict[str, str]:
    r = httpx.get(url + "/v1/hosts", headers={"x-auth-token": "admin"}, timeout=10.0)
    assert r.status_code == 200, r.text
    return {h["name"]: h["state"] for h in r.json()["hosts"]}


def api_headroom(url: str, state: str) -> int:
    """The server's ssd.large headroom once its scheduler has caught up with the store
    (it looks every second: a bounded wait for that, not a guess at a delay)."""
    deadline = time.monotonic() + 10.0
    while True:
        r = httpx.get(url + "/v1/capacity", params={"flavor": "ssd.large"},
                      headers={"x-auth-token": "admin"}, timeout=10.0)
        assert r.status_code == 200, r.text
        found = sum(r.json()["capacity"][0]["groups"].values())
        if (found > 0) == (state == "up") or time.monotonic() > deadline:
            return int(found)
        time.sleep(0.1)


def cli_states(store: Store, data: Path, url: str, env: dict[str, str] | None = None
               ) -> tuple[dict[str, str], str]:
    found = corral(store, data, "host", "list", "-f", "json", env=env, url=url)
    assert found.returncode == 0, found.stderr
    return {h["name"]: h["state"] for h in json.loads(found.stdout)}, found.stderr


def age_heartbeats(store: Store, age: timedelta) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(t.hosts).values(last_heartbeat=utcnow() - age))


def assert_one_truth(store: Store, data: Path, url: str, state: str) -> None:
    """Hosts, capacity and a dry-run boot: the CLI says what the server says."""
    from_api = api_states(url)
    assert set(from_api.values()) == {state}
    from_cli, noise = cli_states(store, data, url)
    assert from_cli == from_api
    assert noise == ""  # nothing configured here: nothing to say

    capacity = corral(store, data, "capacity", "--flavor", "ssd.large", "-f", "json", url=url)
    assert capacity.returncode == 0, capacity.stderr
    headroom = sum(row["headroom"] for row in json.loads(capacity.stdout))
    assert (headroom > 0) == (state == "up")
    assert headroom == api_headroom(url, state)

    # The README's headline example, as a dry run.
    boot = corral(store, data, "instance", "boot", "web", "--flavor", "ssd.large",
                  "--project", "demo", "--dry-run", "-f", "json", url=url)
    if state == "up":
        assert boot.returncode == 0, boot.stderr
        assert len(json.loads(boot.stdout)) == 1
    else:
        assert boot.returncode == 1 and "hosts_unavailable" in boot.stdout, boot.stdout


def test_make_run_a_while_later_the_cli_sees_the_hosts_the_server_sees(
        store: Store, serve: ServeFactory, tmp_path: Path) -> None:
    data = tmp_path / "cli"
    seed_aged_demo(store, data)
    server = serve(store, env={"CORRAL_HOST_DOWN_AFTER_S": "31536000"})
    assert_one_truth(store, data, server.url, "up")


def test_the_servers_own_setting_beats_the_demo_default_for_everyone(
        store: Store, serve: ServeFactory, tmp_path: Path) -> None:
    data = tmp_path / "cli"
    seed_aged_demo(store, data)
    age_heartbeats(store, timedelta(minutes=5))
    policy = {"CORRAL_HOST_DOWN_AFTER_S": "600"}
    assert_one_truth(store, data, serve(store, env=policy).url, "up")  # 5 minutes < 600 s
    # A server learns heartbeats from the flushes it and its peers log, not from rows
    # rewritten behind its back: the two-hours-later fleet is read by a server started then.
    age_heartbeats(store, AGE)
    assert_one_truth(store, data, serve(store, env=policy).url, "down")  # not the demo's year


def test_a_cli_configured_otherwise_reads_and_writes_with_the_servers_policy(
        store: Store, serve: ServeFactory, tmp_path: Path) -> None:
    data = tmp_path / "cli"
    seed_aged_demo(store, data)
    server = serve(store, env={"CORRAL_HOST_DOWN_AFTER_S": "31536000",
                               "CORRAL_CPU_ALLOCATION_RATIO": "8.0"})
    mine = {"CORRAL_HOST_DOWN_AFTER_S": "60", "CORRAL_CPU_ALLOCATION_RATIO": "2.0"}
    from_cli, noise = cli_states(store, data, server.url, env=mine)
    assert from_cli == api_states(server.url)
    assert set(from_cli.values()) == {"up"}
    assert noise == ""  # the server decides: nothing of the CLI's own to reconcile

    # A write through the CLI lands with the fleet's default ratio, not its own.
    changed = corral(store, data, "host", "set", "compute-az1-01", "--reserved-memory-mb",
                     "1024", "-f", "json", env=mine, url=server.url)
    assert changed.returncode == 0, changed.stderr
    cpu = json.loads(changed.stdout)["cpu_allocation_ratio"]
    assert cpu == {"value": 8.0, "source": "default"}
    r = httpx.get(server.url + "/v1/hosts/compute-az1-01", headers={"x-auth-token": "admin"},
                  timeout=10.0)
    assert r.json()["resources"]["VCPU"]["allocation_ratio"] == 8.0
