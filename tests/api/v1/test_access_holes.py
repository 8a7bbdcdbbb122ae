"""The access holes a probe with stored tokens found (issue 14, part 6), each closed:
token management follows the token's role as well as its project; a token never mints
one that outranks or outlives it; a hint naming an instance the caller cannot see is
refused exactly as a missing one; /metrics needs a token; the dashboard's cookie is a
signed session with an expiry, never the secret."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.api.ui import COOKIE
from corral.config import Settings
from corral.persistence import Store

from .test_flavors import ADMIN, member
from .test_instances import boot_one, flavors, fleet
from .tree import make_tree, token


def _expires(made: dict[str, Any]) -> datetime:
    return datetime.strptime(made["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# -- tokens ----------------------------------------------------------------------------------

def test_a_project_admin_never_sees_nor_revokes_admin_tokens_in_its_subtree(
        client: TestClient, store: Store) -> None:
    make_tree(store)
    pa = token(store, "project-admin", "dept-a")
    r = client.post("/v1/tokens", headers=ADMIN, json={"role": "admin", "project_id": "team-a1"})
    assert r.status_code == 201, r.text
    admin_token = r.json()
    listed = client.get("/v1/tokens", headers=pa).json()["tokens"]
    assert admin_token["id"] not in {t["id"] for t in listed}
    listed = client.get("/v1/tokens", headers=pa, params={"project_id": "team-a1"}).json()
    assert listed["tokens"] == []
    missing = client.get(f"/v1/tokens/{uuid.uuid4()}", headers=pa)
    for method in ("GET", "DELETE"):
        r = client.request(method, f"/v1/tokens/{admin_token['id']}", headers=pa)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == missing.json()["error"]["code"]
    # still the admin's: it works, and the admin sees it
    assert client.get("/v1/hosts", headers={"x-auth-token": admin_token["secret"]}).status_code == 200
    assert client.get(f"/v1/tokens/{admin_token['id']}", headers=ADMIN).status_code == 200


def test_a_token_never_mints_one_that_outlives_it(client: TestClient, store: Store) -> None:
    make_tree(store)
    pa = token(store, "project-admin", "dept-a", expires_in_days=1)
    mine = datetime.now(UTC) + timedelta(days=1)
    for body in ({"expires_in_days": 3650}, {}):
        r = client.post("/v1/tokens", headers=pa,
                        json={"role": "project-admin", "project_id": "team-a1", **body})
        assert r.status_code == 201, r.text
        assert _expires(r.json()) <= mine + timedelta(seconds=5), r.json()
    shorter = client.post("/v1/tokens", headers=pa, json={
        "role": "member", "project_id": "team-a1", "expires_in_days": 1}).json()
    assert _expires(shorter) <= mine + timedelta(seconds=5)
    # the admin's tokens (no expiry of its own) may still live for years
    r = client.post("/v1/tokens", headers=ADMIN, json={"role": "member", "project_id": "dept-a",
                                                       "expires_in_days": 3650})
    assert _expires(r.json()) > mine + timedelta(days=3000)


def test_a_token_never_mints_one_that_outranks_it(store: Store, tmp_path: Path) -> None:
    make_tree(store)
    policy = tmp_path / "policy.yaml"  # an operator lets members hand out tokens too
    policy.write_text('"corral:tokens:create": "rule:admin_or_service or '
                      '((role:member or role:project-admin) and subtree:%(project_id)s)"\n')
    app = create_app(Settings(data_dir=str(tmp_path), policy_file=str(policy)), store)
    with TestClient(app) as client:
        m = token(store, "member", "team-a1")
        for role in ("admin", "project-admin"):
            r = client.post("/v1/tokens", headers=m, json={"role": role, "project_id": "team-a1"})
            assert r.status_code == 403, r.text
        for role in ("member", "reader"):
            r = client.post("/v1/tokens", headers=m, json={"role": role, "project_id": "team-a1"})
            assert r.status_code == 201, r.text


# -- hints -----------------------------------------------------------------------------------

def test_a_hint_naming_another_project_s_instance_is_refused_as_a_missing_one(
        client: TestClient) -> None:
    fleet(client)
    flavors(client)
    theirs = boot_one(client, member("p2"))["id"]
    nobody = str(uuid.uuid4())
    for hint in ("same_host", "different_host"):
        for dry_run in (True, False):
            answers = []
            for instance in (theirs, nobody):
                r = client.post("/v1/instances", headers=member("p1"), json={
                    "name": "x", "flavor": "small", "dry_run": dry_run,
                    "hints": {hint: [instance]}})
                body = r.json()
                body["error"].pop("request_id", None)
                answers.append((r.status_code, re.sub(instance, "ID", str(body))))
            assert answers[0] == answers[1], answers
            assert answers[0][0] == 400
    assert [i["id"] for i in client.get("/v1/instances", headers=member("p1")).json()[
        "instances"]] == []


# -- /metrics --------------------------------------------------------------------------------

def test_metrics_need_a_token_that_may_read_them(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), auth_strategy="tokens",
                        api_tokens="ops=ops:ops:admin,prom=prom:ops:metrics_reader,"
                                   "bob=bob:p1:member")
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"x-auth-token": "wrong"}).status_code == 401
        assert client.get("/metrics", headers={"x-auth-token": "bob"}).status_code == 403
        for who in ("ops", "prom"):
            r = client.get("/metrics", headers={"x-auth-token": who})
            assert r.status_code == 200 and "corral_http_requests" in r.text


def test_an_operator_may_open_metrics_by_policy(store: Store, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"corral:metrics:read": "@"\n')
    settings = Settings(data_dir=str(tmp_path), policy_file=str(policy))
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/metrics").status_code == 200


# -- the dashboard's session -----------------------------------------------------------------

def _sign_in(client: TestClient, secret: str) -> str:
    r = client.post("/ui/login", data={"token": secret, "next": "/ui"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie: str = r.headers["set-cookie"]
    return cookie


def test_the_dashboard_cookie_is_a_session_not_the_secret(client: TestClient,
                                                          store: Store) -> None:
    secret = token(store, "admin", None)["x-auth-token"]
    cookie = _sign_in(client, secret)
    assert secret not in cookie and secret.removeprefix("corral_") not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert re.search(r"Max-Age=\d+", cookie) and "expires=" in cookie.lower()
    assert "Secure" not in cookie  # plain HTTP here
    assert client.get("/ui").status_code == 200
    # the session is signed: changing one character signs nobody in
    value = client.cookies.get(COOKIE)
    assert value is not None
    client.cookies.clear()
    client.cookies.set(COOKIE, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1],
                       path="/ui")
    assert client.get("/ui").status_code == 401


def test_revoking_the_token_ends_its_dashboard_sessions(client: TestClient,
                                                        store: Store) -> None:
    made = client.post("/v1/tokens", headers=ADMIN, json={"role": "admin"}).json()
    _sign_in(client, made["secret"])
    assert client.get("/ui").status_code == 200
    assert client.delete(f"/v1/tokens/{made['id']}", headers=ADMIN).status_code == 204
    assert client.get("/ui").status_code == 401


def test_the_dashboard_cookie_is_secure_over_https(store: Store, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=str(tmp_path)), store)
    with TestClient(app, base_url="https://testserver") as client:
        assert "Secure" in _sign_in(client, "admin")
        assert client.get("/ui").status_code == 200
