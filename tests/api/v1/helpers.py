"""A small client for corral's own /v1 API in tests, and the v1 error-body check.

The /v1 error body is ``{"error": {"status", "code", "message", "field",
"request_id"}}`` with the request id echoed in ``x-openstack-request-id``.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

#: For answers that do not depend on the database (validation, policy): one backend.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

HOST = {"vcpus": 4, "memory_mb": 8192, "disk_gb": 100}


class V1:
    """TestClient calls under /v1 with a token (admin unless told otherwise)."""

    def __init__(self, client: TestClient, token: str = "admin",
                 roles: str | None = None) -> None:
        self.client = client
        self.token = token
        self.roles = roles

    def as_(self, token: str, roles: str | None = None) -> V1:
        return V1(self.client, token, roles)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers: dict[str, str] = dict(kw.pop("headers", None) or {})
        if self.token:
            headers["x-auth-token"] = self.token
        if self.roles is not None:
            headers["x-roles"] = self.roles
        return self.client.request(method, "/v1" + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return r.json() if r.content else None

    def report(self, name: str, **body: Any) -> dict[str, Any]:
        r = self.put(f"/hosts/{name}", json={**HOST, **body})
        assert r.status_code in (200, 201), r.text
        found: dict[str, Any] = r.json()
        return found

    def host(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", f"/hosts/{name}")
        return found

    def aggregate(self, name: str, **metadata: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("POST", "/aggregates", 201,
                                        json={"name": name, "metadata": metadata})
        return found

    def add(self, aggregate: str, host: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("POST", f"/aggregates/{aggregate}/hosts",
                                        json={"host": host})
        return found

    def set_metadata(self, aggregate: str, **metadata: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("PATCH", f"/aggregates/{aggregate}",
                                        json={"metadata": metadata})
        return found


@pytest.fixture
def v1(client: TestClient) -> V1:
    return V1(client)


def assert_v1_error(resp: Any, status: int, *, code: str | None = None,
                    field: str | None = None, message: str | None = None) -> dict[str, Any]:
    """Check a /v1 error response and return its ``error`` object."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert list(body) == ["error"], body
    error: dict[str, Any] = body["error"]
    # a quota refusal adds the facts of the limit that stops it
    extra = {"quota"} if error.get("code") in ("quota_exceeded", "subtree_does_not_fit") else set()
    assert set(error) == {"status", "code", "message", "field", "request_id"} | extra, error
    assert error["status"] == status
    assert error["request_id"] == resp.headers["x-openstack-request-id"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    if message is not None:
        assert message in error["message"], error
    return error
