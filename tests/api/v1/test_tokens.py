"""/v1/tokens and stored tokens at the door: created with the secret once, kept hashed,
listed without secrets, revoked; expired and revoked ones refused (401) by both APIs;
who may hand out which role where; the authenticator's short cache."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.domain import errors
from corral.domain.tokens import SECRET_PREFIX, TokenNotFound, check_token, context_roles
from corral.persistence import Store, tables
from corral.persistence.clock import utcnow
from corral.services import tokens as svc
from corral.services.audit_log import local_actor

from .helpers import SQLITE_ONLY
from .test_flavors import ADMIN, v1_error
from .tree import make_tree, token

LOCAL = local_actor("tests")

PLACEMENT = {"openstack-api-version": "placement latest"}
KEYS = {"id", "name", "project_id", "user_id", "role", "state", "created_at", "expires_at",
        "revoked_at"}


def create(client: TestClient, headers: dict[str, str] = ADMIN, status: int = 201,
           **body: Any) -> dict[str, Any]:
    project = body.get("project_id")
    if isinstance(project, str) and status == 201:  # a token's project must exist
        client.post("/v1/projects", headers=ADMIN, json={"id": project})
    r = client.post("/v1/tokens", headers=headers, json=body)
    assert r.status_code == status, r.text
    found: dict[str, Any] = r.json()
    return found


def auth(secret: str) -> dict[str, str]:
    return {"x-auth-token": secret}


def test_create_use_list_revoke(client: TestClient, store: Store) -> None:
    made = create(client, role="member", project_id="p1", user_id="alice", name="ci")
    assert set(made) == KEYS | {"secret"}
    assert made["secret"].startswith(SECRET_PREFIX) and len(made["secret"]) > 40
    assert {k: made[k] for k in ("name", "project_id", "user_id", "role", "state",
                                 "expires_at", "revoked_at")} == {
        "name": "ci", "project_id": "p1", "user_id": "alice", "role": "member",
        "state": "active", "expires_at": None, "revoked_at": None}
    # Stored as the sha256 of the secret, never the secret.
    with store.read() as repo:
        rows = repo.conn.execute(select(tables.api_tokens)).mappings().all()
    assert [r["secret_hash"] for r in rows] == [
        hashlib.sha256(made["secret"].encode()).hexdigest()]
    assert made["secret"] not in repr([dict(r) for r in rows])

    # The token works: a member of p1 creates a server group there, as alice.
    r = client.post("/v1/server-groups", headers=auth(made["secret"]),
                    json={"name": "g", "policy": "affinity"})
    assert r.status_code == 201, r.text
    assert (r.json()["project_id"], r.json()["user_id"]) == ("p1", "alice")

    listed = client.get("/v1/tokens", headers=ADMIN).json()["tokens"]
    assert listed == [{k: v for k, v in made.items() if k != "secret"}]
    assert client.get(f"/v1/tokens/{made['id']}", headers=ADMIN).json() == listed[0]

    assert client.delete(f"/v1/tokens/{made['id']}", headers=ADMIN).status_code == 204
    v1_error(client.get("/v1/server-groups", headers=auth(made["secret"])), 401,
             "unauthenticated")
    shown = client.get(f"/v1/tokens/{made['id']}", headers=ADMIN).json()
    assert shown["state"] == "revoked" and shown["revoked_at"] is not None
    # A second revoke changes nothing.
    assert client.delete(f"/v1/tokens/{made['id']}", headers=ADMIN).status_code == 204
    assert client.get(f"/v1/tokens/{made['id']}", headers=ADMIN).json() == shown
    v1_error(client.delete("/v1/tokens/nope", headers=ADMIN), 404, "token_not_found")


def test_roles_map_to_request_roles() -> None:
    assert context_roles("admin") == {"admin"}
    assert context_roles("project-admin") == {"project-admin", "member", "reader"}
    assert context_roles("member") == {"member", "reader"}
    assert context_roles("reader") == {"reader"}
    assert context_roles("root") == frozenset()


@SQLITE_ONLY
def test_what_a_token_must_be(client: TestClient) -> None:
    v1_error(client.post("/v1/tokens", headers=ADMIN, json={"role": "god", "project_id": "p"}),
             400, "invalid_input", "role")
    v1_error(client.post("/v1/tokens", headers=ADMIN, json={"role": "member"}),
             400, "invalid_input", "project_id")
    v1_error(client.post("/v1/tokens", headers=ADMIN, json={
        "role": "reader", "project_id": "p", "expires_in_days": 0}),
        400, "invalid_input", "expires_in_days")
    v1_error(client.post("/v1/tokens", headers=ADMIN, json={
        "role": "reader", "project_id": "p", "secret": "mine"}), 400, "invalid_input")
    cloud = create(client, role="admin")
    assert (cloud["project_id"], cloud["name"], cloud["user_id"]) == (
        None, "cloud-admin", "cloud-admin")
    with pytest.raises(errors.InvalidInput):
        check_token(role="reader", project_id="p", user_id="", name=None,
                    expires_in_days=None)


def test_a_cloud_admin_token_is_the_admin_on_both_apis(client: TestClient) -> None:
    secret = create(client, role="admin")["secret"]
    assert client.get("/resource_providers", headers={**PLACEMENT, **auth(secret)}
                      ).status_code == 200
    assert client.get("/v1/tokens", headers=auth(secret)).status_code == 200
    assert client.post("/v1/flavors", headers=auth(secret), json={
        "name": "f", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}).status_code == 201


def test_headers_cannot_add_roles_or_scope_to_a_stored_token(client: TestClient) -> None:
    secret = create(client, role="reader", project_id="p1")["secret"]
    h = {**auth(secret), "x-roles": "admin", "openstack-system-scope": "all"}
    v1_error(client.get("/v1/tokens", headers=h), 403, "forbidden")
    r = client.get("/usages", headers={**PLACEMENT, **h}, params={"project_id": "p1"})
    assert r.status_code == 200, r.text  # Placement: a reader of p1 reads p1's usages


def test_expired_and_unknown_secrets_are_401_on_both_apis(client: TestClient,
                                                           store: Store) -> None:
    made = create(client, role="member", project_id="p1", expires_in_days=1)
    assert made["expires_at"] is not None
    with store.write() as repo:
        repo.conn.execute(update(tables.api_tokens).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    for secret in (made["secret"], SECRET_PREFIX + "made-up"):
        v1_error(client.get("/v1/instances", headers=auth(secret)), 401, "unauthenticated")
        assert client.get("/resource_providers", headers={**PLACEMENT, **auth(secret)}
                          ).status_code == 401
    assert client.get(f"/v1/tokens/{made['id']}", headers=ADMIN).json()["state"] == "expired"


@pytest.mark.parametrize("strategy", ["noauth2", "tokens"])
def test_stored_tokens_work_under_both_strategies(
        store: Store, tmp_path: Path, strategy: Literal["noauth2", "tokens"]) -> None:
    make_tree(store, {"p1": None})
    secret = svc.create_token(store, actor=LOCAL, role="member", project_id="p1").secret
    settings = Settings(data_dir=str(tmp_path), auth_strategy=strategy,
                        api_tokens="ops=ops:p0:admin")
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/v1/instances", headers=auth(secret)).status_code == 200
        assert client.get("/v1/instances", headers=auth("ops")).status_code == 200
        noauth = client.get("/v1/instances", headers=auth("admin")).status_code
        assert noauth == (200 if strategy == "noauth2" else 401)


def test_who_may_create_which_token(client: TestClient, store: Store) -> None:
    make_tree(store)
    pa = token(store, "project-admin", "dept-a")
    for role in ("project-admin", "member", "reader"):
        for project in ("dept-a", "team-a1", "sub-a1x"):
            made = create(client, pa, role=role, project_id=project)
            assert (made["role"], made["project_id"]) == (role, project)
    assert create(client, pa, role="reader")["project_id"] == "dept-a"  # default: its own
    v1_error(client.post("/v1/tokens", headers=pa, json={"role": "admin",
                                                         "project_id": "team-a1"}),
             403, "forbidden", None, "admin tokens")
    for project in ("org", "dept-b", "outsider", "nowhere"):
        v1_error(client.post("/v1/tokens", headers=pa, json={"role": "reader",
                                                             "project_id": project}),
                 403, "forbidden", None, project)
    for role in ("member", "reader"):
        v1_error(client.post("/v1/tokens", headers=token(store, role, "dept-a"),
                             json={"role": "reader", "project_id": "dept-a"}), 403, "forbidden")
    # A token made by a project admin works in the descendant it was made for.
    sub = create(client, pa, role="project-admin", project_id="team-a1")["secret"]
    assert client.get("/v1/instances", headers=auth(sub),
                      params={"project_id": "sub-a1x"}).status_code == 200
    assert client.get("/v1/instances", headers=auth(sub),
                      params={"project_id": "team-a2"}).status_code == 403


def test_a_project_admin_lists_and_revokes_its_subtree_only(client: TestClient,
                                                             store: Store) -> None:
    make_tree(store)
    pa = token(store, "project-admin", "dept-a")
    inside = create(client, role="member", project_id="team-a1")
    outside = create(client, role="member", project_id="dept-b")
    create(client, role="admin")
    listed = {t["project_id"] for t in client.get("/v1/tokens", headers=pa).json()["tokens"]}
    assert listed == {"dept-a", "team-a1"}
    assert len(client.get("/v1/tokens", headers=ADMIN).json()["tokens"]) == 4
    v1_error(client.delete(f"/v1/tokens/{outside['id']}", headers=pa), 404, "token_not_found")
    v1_error(client.get(f"/v1/tokens/{outside['id']}", headers=pa), 404, "token_not_found")
    assert client.delete(f"/v1/tokens/{inside['id']}", headers=pa).status_code == 204
    assert client.get("/v1/instances", headers=auth(inside["secret"])).status_code == 401
    assert client.get("/v1/instances", headers=auth(outside["secret"])).status_code == 200


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_holds_a_revoke_back_for_at_most_its_ttl(store: Store) -> None:
    """A revoke elsewhere (the CLI, another worker) is seen once the entry is older
    than the TTL; a revoke through this process's API forgets the entry at once."""
    clock = Clock()
    cache = svc.Authenticator(store, ttl_s=5.0, clock=clock)
    make_tree(store, {"p1": None})
    made = svc.create_token(store, actor=LOCAL, role="reader", project_id="p1")
    assert cache.authenticate(made.secret) == made.token
    svc.revoke_token(store, made.token.uuid, actor=LOCAL)
    clock.now += 4.9
    assert cache.authenticate(made.secret) == made.token  # still cached
    clock.now += 0.2
    assert cache.authenticate(made.secret) is None
    # Unknown secrets are never cached: a new token works at once.
    other = svc.create_token(store, actor=LOCAL, role="reader", project_id="p1")
    assert cache.authenticate(other.secret) == other.token
    cache.forget(other.token.uuid)
    svc.revoke_token(store, other.token.uuid, actor=LOCAL)
    assert cache.authenticate(other.secret) is None
    assert cache.authenticate("admin") is None  # not a stored token's shape: no query


def test_services_refuse_tokens_outside_the_subtree(store: Store) -> None:
    make_tree(store)
    made = svc.create_token(store, actor=LOCAL, role="member", project_id="dept-b")
    with pytest.raises(TokenNotFound):
        svc.get_token(store, made.token.uuid, within="dept-a")
    with pytest.raises(TokenNotFound):
        svc.revoke_token(store, made.token.uuid, actor=LOCAL, within="dept-a")
    assert svc.get_token(store, made.token.uuid, within="org") == made.token
    assert svc.find_by_secret(store, made.secret) == made.token
