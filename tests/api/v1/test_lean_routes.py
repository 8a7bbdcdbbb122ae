"""The lean boot route answers every refusal exactly as FastAPI's own machinery would.

POST /v1/instances is served by its lean handler (api/v1/lean.py, reached the short
way through api/hot.py). The reference here is the same endpoint served by a plain
FastAPI route, with the same error handlers and the same router dependency: for each
malformed request both must answer the same status, the same headers and the same
body (the request id aside), in the same order of checks (the gate's 401 for a body
without a caller, JSON syntax, NUL, 401, body validation). The route must also stay in
/openapi.json with its body and header.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.testclient import TestClient

from corral.api.envelope import Envelope, answer_unexpected
from corral.api.guard import Guard
from corral.api.metrics import HttpMetrics
from corral.api.v1 import install_v1
from corral.api.v1 import instances as boot_routes
from corral.config import Settings
from corral.services.stores import Store
from corral.services.tokens import Authenticator

from .helpers import SQLITE_ONLY

JSON = "application/json"
GOOD = b'{"name": "vm", "flavor": "f", "project_id": "p"}'
#: (content, content type, token, extra path); token None: no token header.
CASES: dict[str, tuple[bytes, str | None, str | None, str]] = {
    "syntax": (b'{"name": "x",\n  oops}', JSON, "admin", ""),
    "syntax without a token": (b'{"name": ', JSON, None, ""),
    "no content type": (GOOD, None, "admin", ""),
    "text/plain": (GOOD, "text/plain", "admin", ""),
    "form": (b"name=x", "application/x-www-form-urlencoded", "admin", ""),
    "json suffix type": (b'{"name": 1}', "application/vnd.corral+json", "admin", ""),
    "no body": (b"", None, "admin", ""),
    "empty JSON body with a type": (b"", JSON, "admin", ""),
    "a list": (b"[]", JSON, "admin", ""),
    "null": (b"null", JSON, "admin", ""),
    "missing fields": (b'{"flavor": "f"}', JSON, "admin", ""),
    "wrong type": (b'{"name": 5, "flavor": "f"}', JSON, "admin", ""),
    "unknown field": (b'{"name": "x", "flavor": "f", "colour": 1}', JSON, "admin", ""),
    "count out of range": (b'{"name": "x", "flavor": "f", "count": 0}', JSON, "admin", ""),
    "count as text": (b'{"name": "x", "flavor": "f", "count": "2"}', JSON, "admin", ""),
    "bad hints": (b'{"name": "x", "flavor": "f", "hints": {"same_host": "a"}}', JSON,
                  "admin", ""),
    "NUL in a string": (b'{"name": "a\\u0000b", "flavor": "f"}', JSON, "admin", ""),
    "NUL in a key": (b'{"hints": {"a\\u0000": 1}, "name": "x", "flavor": "f"}', JSON,
                     "admin", ""),
    "lone surrogate": (b'{"name": "\\ud800", "flavor": "f"}', JSON, "admin", ""),
    "NUL in the query": (GOOD, JSON, "admin", "?x=a%00b"),
    "a number of 5,000 digits": (b'{"name": "x", "flavor": "f", "count": '
                                 + b"9" * 5000 + b"}", JSON, "admin", ""),
    "nested too deep": (b"[" * 100_000 + b"]" * 100_000, JSON, "admin", ""),
    "no token": (GOOD, JSON, None, ""),
    "no token and a bad body": (b'{"flavor": 1}', JSON, None, ""),
    "unknown stored token and a bad body": (b'{"flavor": 1}', JSON,
                                            "corral_" + "x" * 43, ""),
    "system scope": (b'{"flavor": 1}', JSON, "admin", ""),
}


def _reference(settings: Settings, store: Store) -> Any:
    """The boot endpoint served by a plain FastAPI route (no lean handler), behind the
    same gate as the app (api/guard.py: a body is not read before its caller is known)."""
    router = APIRouter()
    router.add_api_route("/instances", boot_routes.boot, methods=["POST"], status_code=201,
                         response_model=None)
    app = FastAPI(redirect_slashes=False, exception_handlers={Exception: answer_unexpected})
    app.state.settings = settings
    app.state.store = store
    app.state.tokens = Authenticator(store)
    install_v1(app, [router])
    return Envelope(Guard(app, app.state, settings), HttpMetrics(), app.router.routes)


def _send(client: TestClient, case: str) -> Any:
    content, ctype, token, extra = CASES[case]
    headers = {}
    if ctype is not None:
        headers["content-type"] = ctype
    if token is not None:
        headers["x-auth-token"] = token
    if case == "system scope":
        headers["openstack-system-scope"] = "all"
    return client.post("/v1/instances" + extra, content=content, headers=headers)


def _answer(resp: Any) -> tuple[int, dict[str, str], Any]:
    body = resp.json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("request_id", None)
    headers = {k: v for k, v in resp.headers.items()
               if k not in ("x-openstack-request-id", "content-length", "date")}
    return resp.status_code, headers, body


@SQLITE_ONLY
def test_every_refusal_is_the_one_fastapi_answers(client: TestClient, settings: Settings,
                                                  store: Store) -> None:
    with TestClient(_reference(settings, store)) as reference:
        for case in CASES:
            lean, plain = _answer(_send(client, case)), _answer(_send(reference, case))
            assert lean == plain, case
            assert 400 <= lean[0] < 500, (case, lean)


@SQLITE_ONLY
def test_the_boot_route_is_still_described(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    boot = doc["paths"]["/v1/instances"]["post"]
    schema = boot["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Boot"}
    assert set(doc["components"]["schemas"]["Boot"]["properties"]) >= {
        "name", "flavor", "count", "dry_run", "hints", "project_id"}
    assert [p["name"] for p in boot["parameters"]] == ["Idempotency-Key"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_boot_through_the_lean_route_is_answered_once(client: TestClient) -> None:
    """A boot the scheduler cannot place (no host) is refused through the lean route as
    it was: a 409 with the explanation."""
    admin = {"x-auth-token": "admin"}
    r = client.post("/v1/flavors", json={"name": "f", "vcpus": 1, "ram_mb": 512,
                                         "disk_gb": 1}, headers=admin)
    assert r.status_code == 201, r.text
    r = client.post("/v1/instances", json={"name": "vm", "flavor": "f", "project_id": "p"},
                    headers=admin)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "no_valid_host"
    assert "explanation" in r.json()["error"]
