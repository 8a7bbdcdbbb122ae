"""Authentication (noauth2 tokens, static api_tokens) and Placement's default policy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .helpers import assert_error

LATEST = {"openstack-api-version": "placement latest"}


@contextmanager
def app_client(store: Store, tmp_path: Path, **options: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=str(tmp_path), **options), store)) as c:
        yield c


def _get(client: TestClient, token: str | None = None, roles: str | None = None,
         scope: str | None = None, path: str = "/resource_providers") -> Any:
    headers = dict(LATEST)
    if token is not None:
        headers["x-auth-token"] = token
    if roles is not None:
        headers["x-roles"] = roles
    if scope is not None:
        headers["openstack-system-scope"] = scope
    return client.get(path, headers=headers)


def test_no_token_is_401(client: TestClient) -> None:
    for path in ("/resource_providers", "/traits", "/resource_classes", "/barnabas"):
        assert_error(_get(client, path=path), 401)


def test_401_before_1_23_has_no_code(client: TestClient) -> None:
    r = client.get("/resource_providers")
    assert_error(r, 401, version="1.0")


def test_root_needs_no_token_for_any_method(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    r = client.delete("/")
    assert_error(r, 405, version="1.0")


NEW_DEFAULTS = [
    ("admin", None, 200),
    ("admin:admin", None, 200),
    ("admin:other", None, 200),
    ("u:p", "admin", 200),
    ("u:p", "service", 200),
    ("u:p", "reader,service", 200),
    ("u:p", " admin ", 200),
    ("u:p", "reader", 403),
    ("u:p", "member,reader", 403),
    ("u:p", "", 403),
    ("u:p", None, 403),
    ("user", None, 403),
    ("admin", "reader", 403),
]


def test_new_defaults_admin_or_service(client: TestClient) -> None:
    for token, roles, status in NEW_DEFAULTS:
        r = _get(client, token, roles)
        if status == 200:
            assert r.status_code == 200, (token, roles, r.text)
            assert r.json() == {"resource_providers": []}
        else:
            assert_error(r, status, detail="Policy does not allow this action to be performed.")


def test_system_scoped_tokens_are_refused(client: TestClient) -> None:
    for roles in ("admin", "service", "admin,member,reader", "reader"):
        assert_error(_get(client, "u:p", roles, scope="all"), 403)
    assert_error(_get(client, "admin", None, scope="all"), 403)


def test_reader_may_not_touch_anything(client: TestClient) -> None:
    headers = {**LATEST, "x-auth-token": "u:p", "x-roles": "reader",
               "content-type": "application/json"}
    for method, path in (("POST", "/resource_providers"), ("PUT", "/traits/CUSTOM_X"),
                         ("POST", "/resource_classes"), ("GET", "/traits"),
                         ("GET", "/resource_classes"), ("DELETE", "/resource_classes/CUSTOM_X"),
                         ("GET", "/resource_providers/x/inventories")):
        r = client.request(method, path, headers=headers, content=b'{"name": "CUSTOM_X"}')
        assert_error(r, 403)


def test_forbidden_write_changes_nothing(client: TestClient) -> None:
    headers = {**LATEST, "x-auth-token": "u:p", "x-roles": "member"}
    r = client.post("/resource_providers", headers=headers, json={"name": "rp"})
    assert_error(r, 403)
    r = _get(client, "admin")
    assert r.json() == {"resource_providers": []}


LEGACY = [
    ("admin", None, None, 200),
    ("u:p", "admin", None, 200),
    ("u:p", "service", None, 200),
    ("u:p", "reader", None, 403),
    ("u:p", None, None, 403),
    ("u:p", "admin", "all", 403),
]


def test_legacy_defaults(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, enforce_new_defaults=False) as c:
        for token, roles, scope, status in LEGACY:
            r = _get(c, token, roles, scope)
            assert r.status_code == status, (token, roles, scope, r.text)


TOKENS = "s3cret=nova:service:service, ro=watcher:ops:reader, boss=alice:admin:admin+reader"


def test_static_api_tokens(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, api_tokens=TOKENS) as c:
        for token, status in (("s3cret", 200), ("boss", 200), ("ro", 403), ("", 401),
                              # noauth2 still takes any other token as user:project
                              ("nope", 403)):
            r = _get(c, token)
            assert r.status_code == status, (token, r.text)


def test_static_tokens_ignore_client_roles(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, api_tokens=TOKENS) as c:
        r = _get(c, "ro", roles="admin")
        assert_error(r, 403)


def test_static_tokens_work_alongside_noauth2(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, api_tokens=TOKENS) as c:
        assert _get(c, "admin").status_code == 200
        assert _get(c, "s3cret").status_code == 200


def test_tokens_strategy_accepts_only_static_tokens(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, api_tokens=TOKENS, auth_strategy="tokens") as c:
        assert_error(_get(c, "admin"), 401)
        assert_error(_get(c, "u:p", roles="admin"), 401)
        assert_error(_get(c, "nope"), 401)
        assert _get(c, "s3cret").status_code == 200
        assert _get(c, path="/").status_code == 200


def test_static_token_with_system_scope_is_refused(store: Store, tmp_path: Path) -> None:
    with app_client(store, tmp_path, api_tokens=TOKENS) as c:
        assert_error(_get(c, "boss", scope="all"), 403)


def test_x_project_id_names_a_noauth2_tokens_project(client: TestClient) -> None:
    # As behind Placement's no-auth middleware (usage-secure-rbac.yaml, issue 11): a
    # reader or member of the project named by x-project-id may read its usages, and
    # only its own; the header gives no role and no other access.
    for roles in ("reader", "member,reader"):
        headers = {**LATEST, "x-auth-token": "user", "x-roles": roles, "x-project-id": "p1"}
        r = client.get("/usages?project_id=p1", headers=headers)
        assert r.status_code == 200, (roles, r.text)
        assert_error(client.get("/usages?project_id=p2", headers=headers), 403)
        assert_error(client.get("/resource_providers", headers=headers), 403)
    # a system-scoped token stays without a project
    headers = {**LATEST, "x-auth-token": "user", "x-roles": "reader", "x-project-id": "p1",
               "openstack-system-scope": "all"}
    assert_error(client.get("/usages?project_id=p1", headers=headers), 403)
