"""``auth_strategy = keystone`` against a real Keystone (tests/integration/keystone.py).

Real tokens for each role and scope (project, domain, system), an application
credential and a service token, through corral's app on the ``store`` of the test:
what each may and may not do, row for row; a revoked token stops working within the
cache time; Keystone down is a 503 and corral recovers when it returns; the project
tree follows Keystone's (a project first seen in a token or named in an allocation is
placed under its Keystone parents; the sync moves and reports).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .conftest import ServeFactory
from .keystone import Keystone, User
from .keystone_world import World, settings_for
from .venvs import OSC, osc_env

pytestmark = pytest.mark.slow

PLACEMENT = {"openstack-api-version": "placement 1.39"}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The access rules do not depend on the database: SQLite only, for time."""
    return str(request.param)


@pytest.fixture
def corral(keystone: Keystone, world: World, tmp_path: Path, store: Store
           ) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(keystone, world, tmp_path), store)) as client:
        yield client


def call(client: TestClient, token: str | None, method: str, path: str,
         **kw: Any) -> Any:
    headers = {**({"x-auth-token": token} if token else {}), **kw.pop("headers", {})}
    if not path.startswith("/v1"):
        headers.update(PLACEMENT)
    return client.request(method, path, headers=headers, **kw)


def test_each_role_and_scope_does_what_it_may_and_nothing_else(
        corral: TestClient, world: World) -> None:
    w, t = world, world.tokens
    for name, token in t.items():  # every token's project is placed on first sight
        assert call(corral, token, "GET", "/v1/flavors").status_code == 200, name
    admins = {"admin", "system_admin"}
    rows: list[tuple[str, str, dict[str, Any], set[str]]] = [
        ("GET", f"/v1/projects/{w.child}", {},
         admins | {"manager", "member", "reader", "app_credential", "domain_manager"}),
        ("GET", f"/v1/projects/{w.parent}", {}, admins | {"manager", "domain_manager"}),
        ("GET", f"/v1/projects/{w.other}", {}, admins | {"other_member", "domain_manager"}),
        ("PUT", f"/v1/limits/{w.child}", {"json": {"limits": {"cores": 10}}},
         admins | {"manager", "domain_manager"}),
        ("PUT", f"/v1/limits/{w.parent}", {"json": {"limits": {"cores": 20}}},
         admins | {"domain_manager"}),
        ("POST", "/v1/keystone/sync", {}, admins),
        ("GET", "/resource_providers", {}, admins | {"service"}),
        ("GET", f"/usages?project_id={w.child}", {},
         admins | {"service", "member", "reader", "app_credential"}),
    ]
    for method, path, kw, allowed in rows:
        for name, token in t.items():
            status = call(corral, token, method, path, **kw).status_code
            assert status == (200 if name in allowed else 403), (method, path, name, status)


def test_the_project_tree_is_keystones(corral: TestClient, keystone: Keystone,
                                       world: World) -> None:
    ks = keystone
    parent = ks.project(world.domain)
    child = ks.project(world.domain, parent)
    user = ks.user()
    ks.grant(user, "member", project=child)
    token = ks.token(user.name, user.password, project=child)
    assert call(corral, token, "GET", f"/v1/projects/{child}").status_code == 200
    shown = call(corral, world.tokens["admin"], "GET", f"/v1/projects/{child}").json()
    assert shown["path"] == [world.domain, parent, child]

    # Nova's path: an allocation written by a service names a project nobody used yet.
    admin, service = world.tokens["admin"], world.tokens["service"]
    late = ks.project(world.domain, parent)
    rp = str(uuid.uuid4())
    assert call(corral, admin, "POST", "/resource_providers",
                json={"name": rp, "uuid": rp}).status_code == 200
    assert call(corral, admin, "PUT", f"/resource_providers/{rp}/inventories", json={
        "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    ).status_code == 200
    consumer = str(uuid.uuid4())
    r = call(corral, service, "PUT", f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": late,
        "user_id": user.id, "consumer_generation": None, "consumer_type": "INSTANCE"})
    assert r.status_code == 204, r.text
    assert call(corral, admin, "GET", f"/v1/projects/{late}").json()["path"] == [
        world.domain, parent, late]

    # corral's tree moved away from Keystone's (a root), and a project deleted in Keystone.
    assert call(corral, admin, "PATCH", f"/v1/projects/{child}",
                json={"parent_id": None}).status_code == 200
    gone = ks.project(world.domain, parent)
    gone_user = ks.user()
    ks.grant(gone_user, "reader", project=gone)
    assert call(corral, ks.token(gone_user.name, gone_user.password, project=gone), "GET",
                f"/v1/projects/{gone}").status_code == 200
    ks.call("PATCH", f"/projects/{gone}", json={"project": {"enabled": False}})
    ks.call("DELETE", f"/projects/{gone}")
    report = call(corral, admin, "POST", "/v1/keystone/sync").json()
    assert {"project_id": child, "from": None, "to": parent} in report["moved"]
    assert gone in report["deleted"] and report["refused"] == []
    assert call(corral, admin, "GET", f"/v1/projects/{child}").json()["path"] == [
        world.domain, parent, child]
    assert call(corral, admin, "GET", f"/v1/projects/{gone}").status_code == 200  # reported
    # the audit trail: placed by corral itself, moved back for the caller of the sync
    trail = call(corral, admin, "GET", f"/v1/audit-log?object_id={child}").json()["entries"]
    actors = [(e["action"], e["actor"]["user_id"]) for e in trail]
    assert ("project.create", "corral:keystone") in actors, actors
    admin_user = call(corral, admin, "GET", "/v1/audit-log?limit=1&sort_dir=desc").json()
    assert admin_user["entries"][0]["object_id"] == child
    assert admin_user["entries"][0]["actor"]["origin"] == "api"
    call(corral, service, "DELETE", f"/allocations/{consumer}")


def test_a_bad_token_is_a_401_naming_keystone(corral: TestClient, keystone: Keystone) -> None:
    for path in ("/v1/flavors", "/resource_providers"):
        for token in ("not-a-token", None):
            r = call(corral, token, "GET", path)
            assert r.status_code == 401, (path, token)
            assert r.headers["www-authenticate"] == f'Keystone uri="{keystone.url}"'


def test_a_service_token_adds_the_service_role_for_placement_only(
        corral: TestClient, world: World) -> None:
    t = world.tokens
    with_service = {"x-service-token": t["service"]}
    assert call(corral, t["member"], "GET", "/resource_providers").status_code == 403
    assert call(corral, t["member"], "GET", "/resource_providers",
                headers=with_service).status_code == 200
    assert call(corral, t["member"], "POST", "/v1/keystone/sync",
                headers=with_service).status_code == 403
    assert call(corral, t["service"], "POST", "/v1/keystone/sync").status_code == 403
    # a service token without the service role, or not a token at all: refused
    for bad in (t["other_member"], "not-a-token"):
        assert call(corral, t["member"], "GET", "/resource_providers",
                    headers={"x-service-token": bad}).status_code == 401


def test_corral_authenticates_with_an_application_credential(
        keystone: Keystone, world: World, tmp_path: Path, store: Store) -> None:
    settings = Settings(data_dir=str(tmp_path), auth_strategy="keystone",
                        keystone_auth_url=keystone.url,
                        keystone_application_credential_id=world.credential[0],
                        keystone_application_credential_secret=world.credential[1])
    with TestClient(create_app(settings, store)) as client:
        assert call(client, world.tokens["member"], "GET", "/v1/flavors").status_code == 200
        assert call(client, "not-a-token", "GET", "/v1/flavors").status_code == 401


def test_a_revoked_token_stops_working_within_the_cache_time(
        keystone: Keystone, world: World, tmp_path: Path, store: Store) -> None:
    user = keystone.user()
    keystone.grant(user, "member", project=world.child)
    token = keystone.token(user.name, user.password, project=world.child)
    long = settings_for(keystone, world, tmp_path, keystone_token_cache_time=3600)
    short = settings_for(keystone, world, tmp_path, keystone_token_cache_time=1)
    with TestClient(create_app(long, store)) as cached, \
            TestClient(create_app(short, store)) as brief:
        for client in (cached, brief):
            assert call(client, token, "GET", "/v1/flavors").status_code == 200
        keystone.revoke_token(token)
        revoked_at = time.time()
        assert call(cached, token, "GET", "/v1/flavors").status_code == 200  # still cached
        time.sleep(max(0.0, revoked_at + 1.05 - time.time()))
        assert call(brief, token, "GET", "/v1/flavors").status_code == 401
        assert call(brief, token, "GET", "/resource_providers").status_code == 401


def test_keystone_down_is_a_503_and_corral_recovers(
        corral: TestClient, keystone: Keystone, world: World) -> None:
    warm = world.tokens["member"]
    assert call(corral, warm, "GET", "/v1/flavors").status_code == 200
    user = keystone.user()
    keystone.grant(user, "member", project=world.child)
    cold = keystone.token(user.name, user.password, project=world.child)
    keystone.stop()
    try:
        for path in ("/v1/flavors", "/resource_providers"):
            r = call(corral, cold, "GET", path)
            assert r.status_code == 503, (path, r.text)
            assert "Keystone" in r.text and r.headers["retry-after"]
        assert call(corral, warm, "GET", "/v1/flavors").status_code == 200  # from the cache
        assert call(corral, world.tokens["admin"], "POST",
                    "/v1/keystone/sync").status_code == 503
    finally:
        keystone.start()
    assert call(corral, cold, "GET", "/v1/flavors").status_code == 200


def test_the_token_cache_is_bounded(keystone: Keystone, world: World, tmp_path: Path,
                                    store: Store) -> None:
    """With room for one token, validating a second drops the first: its revocation is
    seen at once although the cache time is an hour."""
    user = keystone.user()
    keystone.grant(user, "reader", project=world.child)
    first, second = (keystone.token(user.name, user.password, project=world.child)
                     for _ in range(2))
    settings = settings_for(keystone, world, tmp_path, keystone_token_cache_time=3600,
                            keystone_token_cache_size=1)
    with TestClient(create_app(settings, store)) as client:
        assert call(client, first, "GET", "/v1/flavors").status_code == 200
        keystone.revoke_token(first)
        assert call(client, first, "GET", "/v1/flavors").status_code == 200  # cached
        assert call(client, second, "GET", "/v1/flavors").status_code == 200
        assert call(client, first, "GET", "/v1/flavors").status_code == 401


def test_the_openstack_client_finds_corral_in_keystones_catalog(
        keystone: Keystone, world: World, serve: ServeFactory, store: Store) -> None:
    """The real ``openstack`` CLI with osc-placement, authenticated by Keystone, finds
    corral as the ``placement`` service of the catalog, as in a real cloud."""
    cli, problem = OSC.build()
    if problem is not None:
        require_service(OSC.label, problem)
    user = world.service_user
    server = serve(store, env={
        "CORRAL_AUTH_STRATEGY": "keystone", "CORRAL_KEYSTONE_AUTH_URL": keystone.url,
        "CORRAL_KEYSTONE_USERNAME": user.name, "CORRAL_KEYSTONE_PASSWORD": user.password,
        "CORRAL_KEYSTONE_SYSTEM_SCOPE": "all"})
    service = keystone.call("POST", "/services", json={"service": {
        "type": "placement", "name": f"corral-{uuid.uuid4().hex[:6]}"}})["service"]
    for interface in ("public", "internal"):
        keystone.call("POST", "/endpoints", json={"endpoint": {
            "service_id": service["id"], "interface": interface, "region_id": "RegionOne",
            "url": server.placement}})
    member = keystone.user()
    keystone.grant(member, "member", project=world.child)

    def openstack(who: User | None, *args: str) -> subprocess.CompletedProcess[str]:
        name, password, project = ((who.name, who.password, world.child) if who
                                   else ("admin", "s3cret-admin", None))
        scope = (["--os-project-id", project] if project else
                 ["--os-project-name", "admin", "--os-project-domain-id", "default"])
        return subprocess.run(
            [str(cli / "bin" / "openstack"), "--os-auth-url", keystone.url,
             "--os-identity-api-version", "3", "--os-username", name, "--os-password",
             password, "--os-user-domain-id", "default", *scope, "--os-interface", "public",
             "--os-region-name", "RegionOne", "--os-placement-api-version", "1.39", *args],
            capture_output=True, text=True, timeout=120, env=osc_env(),
            stdin=subprocess.DEVNULL)

    name = f"rp-{uuid.uuid4().hex[:8]}"
    made = openstack(None, "resource", "provider", "create", name, "-f", "json")
    assert made.returncode == 0, made.stderr
    listed = openstack(None, "resource", "provider", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert name in {rp["name"] for rp in json.loads(listed.stdout)}
    refused = openstack(member, "resource", "provider", "list", "-f", "json")
    assert refused.returncode != 0 and "403" in refused.stderr + refused.stdout, refused
    rp = json.loads(made.stdout)["uuid"]
    assert openstack(None, "resource", "provider", "delete", rp).returncode == 0


def test_the_dashboard_signs_in_with_a_keystone_token_and_never_shows_it(
        keystone: Keystone, world: World, tmp_path: Path, store: Store) -> None:
    """The /ui session of a Keystone token: admins only; the cookie holds the token
    sealed (neither readable nor usable elsewhere); the token's revocation ends the
    session within the cache time."""
    admin = keystone.user()
    keystone.grant(admin, "admin", project=world.other)
    token = keystone.token(admin.name, admin.password, project=world.other)
    settings = settings_for(keystone, world, tmp_path, keystone_token_cache_time=1)
    with TestClient(create_app(settings, store)) as client:
        refused = client.post("/ui/login", data={"token": world.tokens["member"], "next": "/ui"},
                              follow_redirects=False)
        assert refused.status_code == 403 and "corral_ui_session" not in refused.cookies
        r = client.post("/ui/login", data={"token": token, "next": "/ui"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        cookie = r.cookies["corral_ui_session"]
        body = cookie.partition(".")[0]
        opened = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        assert token not in cookie and token not in opened, opened
        assert json.loads(opened)["kind"] == "keystone"
        assert client.get("/ui").status_code == 200
        # The cookie proves nothing to Keystone or to /v1: it is not a token.
        assert call(client, cookie, "GET", "/v1/flavors").status_code == 401
        keystone.revoke_token(token)
        revoked_at = time.time()
        time.sleep(max(0.0, revoked_at + 1.05 - time.time()))
        assert client.get("/ui").status_code == 401


def test_a_token_minted_with_a_keystone_token_never_outlives_it(
        corral: TestClient, keystone: Keystone, world: World) -> None:
    minter = world.tokens["manager"]
    shown = httpx.get(keystone.url + "/auth/tokens",
                      headers={"x-auth-token": world.tokens["admin"], "x-subject-token": minter},
                      timeout=30)
    assert shown.status_code == 200, shown.text
    ends = datetime.fromisoformat(shown.json()["token"]["expires_at"].replace("Z", "+00:00"))
    for asked in ({"expires_in_days": 3650}, {}):
        r = call(corral, minter, "POST", "/v1/tokens",
                 json={"role": "member", "project_id": world.parent, **asked})
        assert r.status_code == 201, r.text
        made = datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00"))
        made = made if made.tzinfo else made.replace(tzinfo=UTC)
        assert made <= ends, (asked, made, ends)
