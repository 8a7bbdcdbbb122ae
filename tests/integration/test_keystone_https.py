"""The bar of a real cloud: Keystone in front, corral over HTTPS, three clients.

``corral serve`` with ``auth_strategy = keystone`` serves HTTPS with the session's
throwaway CA (tests/integration/pki.py); its ``https://.../placement`` URL is the
``placement`` service of the session's Keystone (tests/integration/keystone_world.py),
in a region of its own. Then, with verification on and the CA as the only trust
anchor, as in a real cloud:

- the real ``openstack`` CLI with osc-placement (``--os-cacert``) finds corral in the
  catalog and runs resource provider and inventory commands; a member is refused
  (403), and without the CA the client refuses the server;
- corral's own CLI, as the admin of a ``clouds.yaml`` (``--os-cloud``, ``cacert``)
  and as a member through the ``OS_*`` variables (``OS_CACERT``), runs host, flavor,
  instance and quota commands with real Keystone tokens; the member is refused an
  admin command with the server's message and exit code 1 (no traceback); without
  the CA it is exit 5, and ``--os-cacert`` supplies one.
"""

from __future__ import annotations

import json
import os
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)
from typer.testing import CliRunner, Result

from corral.cli.main import app
from corral.persistence import Store

from .conftest import Server
from .keystone import ADMIN_PASSWORD, Keystone, User
from .keystone_world import World
from .pki import Pki, start_https
from .test_osc_client import Driver
from .venvs import OSC

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """What is tested is the path from the clients to corral: SQLite only, for time."""
    return str(request.param)


@dataclass
class Cloud:
    """corral over HTTPS in Keystone's catalog, and a member of ``project``."""

    server: Server
    region: str
    ca: Path
    project: str
    member: User
    keystone: Keystone


@pytest.fixture
def cloud(keystone: Keystone, world: World, store: Store, pki: Pki, tmp_path: Path
          ) -> Iterator[Cloud]:
    user = world.service_user
    server = start_https(store, tmp_path / "tls", pki, env={
        "CORRAL_AUTH_STRATEGY": "keystone", "CORRAL_KEYSTONE_AUTH_URL": keystone.url,
        "CORRAL_KEYSTONE_USERNAME": user.name, "CORRAL_KEYSTONE_PASSWORD": user.password,
        "CORRAL_KEYSTONE_SYSTEM_SCOPE": "all", "CORRAL_KEYSTONE_PROJECT_SYNC_INTERVAL_S": "0"})
    region = f"tls-{uuid.uuid4().hex[:6]}"  # only this test's corral is placement there
    keystone.call("POST", "/regions", json={"region": {"id": region}})
    service = keystone.call("POST", "/services", json={"service": {
        "type": "placement", "name": f"corral-{region}"}})["service"]
    for interface in ("public", "internal"):
        keystone.call("POST", "/endpoints", json={"endpoint": {
            "service_id": service["id"], "interface": interface, "region_id": region,
            "url": server.placement}})
    member = keystone.user()
    keystone.grant(member, "member", project=world.child)
    try:
        yield Cloud(server, region, pki.ca, world.child, member, keystone)
    finally:
        server.stop()
        keystone.call("DELETE", f"/services/{service['id']}")  # its endpoints with it


# -- the openstack CLI -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def osc() -> Iterator[Driver]:
    venv, problem = OSC.build()
    if problem is not None:
        require_service(OSC.label, problem)
    driver = Driver(venv / "bin" / "python")
    yield driver
    driver.close()


def openstack(osc: Driver, cloud: Cloud, who: User | None, *args: str,
              cacert: bool = True) -> Any:
    """``openstack ARGS`` as ``who`` (the bootstrap admin when None): the exit code and
    the output (parsed when JSON)."""
    if who is None:
        creds = ["--os-username", "admin", "--os-password", ADMIN_PASSWORD,
                 "--os-project-name", "admin", "--os-project-domain-id", "default"]
    else:
        creds = ["--os-username", who.name, "--os-password", who.password,
                 "--os-project-id", cloud.project]
    done = osc.run(["--os-auth-url", cloud.keystone.url, "--os-identity-api-version", "3",
                    *creds, "--os-user-domain-id", "default", "--os-interface", "public",
                    "--os-region-name", cloud.region, "--os-placement-api-version", "1.39",
                    *(["--os-cacert", str(cloud.ca)] if cacert else []), *args])
    if done.returncode == 0 and "-f" in args and done.stdout.strip():
        return 0, json.loads(done.stdout)
    return done.returncode, done.stdout + done.stderr


def test_the_openstack_client_reaches_corral_over_https_through_keystone(
        osc: Driver, cloud: Cloud) -> None:
    name = f"rp-{uuid.uuid4().hex[:8]}"
    rc, made = openstack(osc, cloud, None, "resource", "provider", "create", name, "-f", "json")
    assert rc == 0, made
    rp = made["uuid"]
    rc, rows = openstack(osc, cloud, None, "resource", "provider", "inventory", "set", rp,
                         "--resource", "VCPU=16", "--resource", "VCPU:allocation_ratio=2.0",
                         "--resource", "MEMORY_MB=32768", "-f", "json")
    assert rc == 0, rows
    rc, listed = openstack(osc, cloud, None, "resource", "provider", "list", "--resource",
                           "VCPU=4", "-f", "json")
    assert rc == 0 and name in {row["name"] for row in listed}, listed
    rc, inventory = openstack(osc, cloud, None, "resource", "provider", "inventory", "show",
                              rp, "VCPU", "-f", "json")
    assert rc == 0 and (inventory["total"], inventory["allocation_ratio"]) == (16, 2.0)
    rc, refused = openstack(osc, cloud, cloud.member, "resource", "provider", "list")
    assert rc != 0 and "(HTTP 403)" in refused, refused
    rc, untrusted = openstack(osc, cloud, None, "resource", "provider", "list", cacert=False)
    assert rc != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted, untrusted
    rc, out = openstack(osc, cloud, None, "resource", "provider", "delete", rp)
    assert rc == 0, out


# -- corral's own CLI --------------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CORRAL_* or OS_* variable of the developer's reaches the CLI."""
    for name in list(os.environ):
        if name.startswith(("CORRAL_", "OS_")) and name != "CORRAL_TEST_POSTGRESQL_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("CORRAL_DATA_DIR", str(tmp_path / "cli-data"))


def corral(*args: str, env: dict[str, str]) -> Result:
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        structlog.reset_defaults()  # commands point structlog at the runner's stderr


def clouds_yaml(cloud: Cloud, path: Path) -> dict[str, str]:
    """A clouds.yaml with ``admin`` (with the CA) and ``bare`` (without): the CLI's env."""
    auth = {"auth_url": cloud.keystone.url, "username": "admin", "password": ADMIN_PASSWORD,
            "project_name": "admin", "user_domain_name": "Default",
            "project_domain_name": "Default"}
    common = {"auth": auth, "region_name": cloud.region, "interface": "public"}
    path.write_text(json.dumps({"clouds": {"admin": {**common, "cacert": str(cloud.ca)},
                                           "bare": common}}))  # JSON is YAML
    return {"OS_CLIENT_CONFIG_FILE": str(path)}


def as_member(cloud: Cloud) -> dict[str, str]:
    return {"OS_AUTH_URL": cloud.keystone.url, "OS_USERNAME": cloud.member.name,
            "OS_PASSWORD": cloud.member.password, "OS_USER_DOMAIN_ID": "default",
            "OS_PROJECT_ID": cloud.project, "OS_REGION_NAME": cloud.region,
            "OS_INTERFACE": "public", "OS_CACERT": str(cloud.ca)}


def ok(result: Result) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return json.loads(result.stdout)


def test_corrals_cli_works_over_https_with_keystone_tokens(
        cloud: Cloud, clean_env: None, tmp_path: Path) -> None:
    admin = clouds_yaml(cloud, tmp_path / "clouds.yaml")
    r = httpx.put(cloud.server.url + "/v1/hosts/tls-cn1", timeout=30,
                  verify=ssl.create_default_context(cafile=str(cloud.ca)),
                  json={"vcpus": 8, "memory_mb": 16384, "disk_gb": 200},
                  headers={"x-auth-token": cloud.keystone.admin_token()})
    assert r.status_code == 201, r.text
    hosts = ok(corral("--os-cloud", "admin", "host", "list", "-f", "json", env=admin))
    assert "tls-cn1" in {h["name"] for h in hosts}, hosts
    flavor = ok(corral("--os-cloud", "admin", "flavor", "create", "tls-small", "--vcpus", "1",
                       "--ram", "512", "--disk", "1", "-f", "json", env=admin))
    assert flavor["name"] == "tls-small"

    member = as_member(cloud)
    [vm] = ok(corral("instance", "boot", "vm", "--flavor", "tls-small", "--project",
                     cloud.project, "-f", "json", env=member))
    assert vm["project_id"] == cloud.project and vm["host"] is None, vm  # admins see hosts
    listed = ok(corral("instance", "list", "-f", "json", env=member))
    assert vm["id"] in {i["id"] for i in listed}, listed
    seen = ok(corral("--os-cloud", "admin", "instance", "list", "--project", cloud.project,
                     "-f", "json", env=admin))
    assert {i["id"]: i["host"] for i in seen}[vm["id"]] == "tls-cn1", seen
    quota = ok(corral("quota", "show", cloud.project, "-f", "json", env=member))
    assert {row["resource"]: row["own"] for row in quota}["cores"] == 1, quota

    refused = corral("host", "list", env=member)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith("error: ") and "Traceback" not in refused.output
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert isinstance(refused.exception, SystemExit), refused.exception

    bare = corral("--os-cloud", "bare", "host", "list", env=admin)
    assert bare.exit_code == 5 and "TLS failed" in bare.stderr, bare.output
    given = corral("--os-cloud", "bare", "--os-cacert", str(cloud.ca), "host", "list",
                   "-f", "json", env=admin)
    assert "tls-cn1" in {h["name"] for h in ok(given)}
