"""The HTTP envelope around every route: request ids, one access log line, metrics by
route template, errors in JSON (a 500 included) and trailing slashes.

Logs are captured as JSON lines from stderr (``configure_logging("json")``). The 500s
come from a real fault: a table renamed away under a running app (its schema no longer
what the code reads), on a private SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import text
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.logging import configure_logging
from corral.persistence import Store, make_store
from corral.services import system

from .helpers import REQUEST_ID, assert_error, new_uuid

ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``logs()``: the JSON log lines written so far (and not read before)."""
    saved = structlog.get_config()
    configure_logging("json", "info")

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines()
                if line.startswith("{")]

    yield read
    structlog.configure(**saved)


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "request"]


ROUTES = [
    ("GET", "/", "/"),
    ("GET", "/placement", "/placement/"),
    ("GET", "/resource_providers", "/resource_providers"),
    ("GET", "/placement/resource_providers", "/placement/resource_providers"),
    ("GET", "/v1/hosts", "/v1/hosts"),
    ("GET", "/v1/hosts/nosuchhost", "/v1/hosts/{name}"),
    ("GET", "/ui", "/ui"),
    ("GET", "/healthz", "/healthz"),
    ("GET", "/metrics", "/metrics"),
    ("GET", "/docs", "/docs"),
    ("GET", "/openapi.json", "/openapi.json"),
    ("GET", "/v1/no-such-thing", "(unmatched)"),
]


def test_every_route_has_a_request_id_and_one_access_line(client: TestClient,
                                                           logs: Any) -> None:
    logs()
    for method, path, template in ROUTES:
        r = client.request(method, path, headers=ADMIN)
        request_id = r.headers.get("x-openstack-request-id", "")
        assert REQUEST_ID.match(request_id), (path, r.headers)
        lines = logs()
        mine = [line for line in access_lines(lines) if line.get("request_id") == request_id]
        assert len(mine) == 1, (path, lines)
        assert len(access_lines(lines)) == 1, (path, lines)
        line = mine[0]
        assert (line["method"], line["route"], line["status"]) == (method, template,
                                                                   r.status_code), line
        assert isinstance(line["ms"], float | int)
        # Every line written while serving the request carries its id.
        assert all(entry.get("request_id") == request_id for entry in lines), lines


def test_events_logged_by_services_carry_the_request_id(client: TestClient,
                                                        logs: Any) -> None:
    logs()
    r = client.post("/v1/aggregates", json={"name": "agg"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    lines = logs()
    (created,) = [line for line in lines if line["event"] == "aggregate_created"]
    assert created["request_id"] == r.headers["x-openstack-request-id"]


def test_refusals_on_v1_are_logged_with_their_code(client: TestClient, logs: Any) -> None:
    logs()
    r = client.get("/v1/hosts")  # no token
    assert r.status_code == 401
    (line,) = access_lines(logs())
    assert (line["status"], line["code"], line["level"]) == (401, "unauthenticated", "info")
    r = client.get("/v1/hosts/ghost", headers=ADMIN)
    assert r.status_code == 404
    (line,) = access_lines(logs())
    assert (line["route"], line["code"]) == ("/v1/hosts/{name}", r.json()["error"]["code"])


def _samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    text = client.get("/metrics", headers={"x-auth-token": "admin"}).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_every_route_by_template_method_and_status(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        client.get(f"/v1/hosts/{name}", headers=ADMIN)
    client.get(f"/resource_providers/{new_uuid()}", headers=ADMIN)
    client.get(f"/placement/resource_providers/{new_uuid()}", headers=ADMIN)
    client.get("/healthz")
    client.get("/ui")
    client.delete("/v1/hosts", headers=ADMIN)
    counts = _samples(client, "corral_http_requests_total")

    def count(method: str, route: str, status: int) -> float:
        return counts.get((("method", method), ("route", route), ("status", str(status))), 0)

    assert count("GET", "/v1/hosts/{name}", 404) == 3, counts
    assert count("GET", "/resource_providers/{uuid}", 404) == 1, counts
    assert count("GET", "/placement/resource_providers/{uuid}", 404) == 1, counts
    assert count("GET", "/healthz", 200) == 1, counts
    assert count("GET", "/ui", 401) == 1, counts
    assert count("DELETE", "/v1/hosts", 405) == 1, counts
    # Never the raw path: its values are unbounded.
    assert not any("/v1/hosts/a" in dict(labels)["route"] for labels in counts), counts
    durations = _samples(client, "corral_http_request_duration_seconds_count")
    assert durations[(("method", "GET"), ("route", "/v1/hosts/{name}"), ("status", "404"))] == 3


# -- unexpected errors ---------------------------------------------------------------------

@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    """An app whose database lost the tables the requests below read (a real fault)."""
    store = make_store(f"sqlite:///{tmp_path / 'broken.sqlite'}")
    system.upgrade_schema(store)
    with TestClient(create_app(Settings(data_dir=str(tmp_path)), store)) as c:
        with store.engine.begin() as conn:
            for table in ("resource_providers", "hosts"):
                conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
        yield c, store
    store.dispose()


def test_an_unexpected_error_on_placement_is_its_json_error_with_the_request_id(
        broken: tuple[TestClient, Store], logs: Any) -> None:
    client, _store = broken
    logs()
    for version, code in (("1.22", None), ("1.23", "placement.undefined_code")):
        r = client.get("/resource_providers",
                       headers={**ADMIN, "openstack-api-version": f"placement {version}"})
        entry = assert_error(r, 500, version=version)
        assert entry.get("code") == code
        assert entry["request_id"] == r.headers["x-openstack-request-id"]
        assert entry["request_id"] in entry["detail"]
        _one_traceback(logs(), entry["request_id"])


def test_an_unexpected_error_on_v1_and_the_dashboard_is_v1_json(
        broken: tuple[TestClient, Store], logs: Any) -> None:
    client, _store = broken
    logs()
    for path in ("/v1/hosts", "/ui"):
        r = client.get(path, headers=ADMIN)
        assert r.status_code == 500, r.text
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["code"] == "internal_error"
        assert error["request_id"] == r.headers["x-openstack-request-id"]
        assert "Traceback" not in r.text
        _one_traceback(logs(), error["request_id"])


def _one_traceback(lines: list[dict[str, Any]], request_id: str) -> None:
    tracebacks = [line for line in lines if "Traceback" in line.get("exception", "")]
    assert len(tracebacks) == 1, lines
    assert tracebacks[0]["request_id"] == request_id
    assert tracebacks[0]["event"] == "unexpected_error"
    (access,) = access_lines(lines)
    assert (access["status"], access["request_id"], access["level"]) == (500, request_id,
                                                                         "warning")


# -- trailing slashes and methods ------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_trailing_slash_on_placement_is_a_404_that_names_the_path(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    for path, instead in (("/resource_providers/", "/resource_providers"),
                          ("/allocations/", None),
                          (f"/resource_providers/{uuid}/", f"/resource_providers/{uuid}"),
                          ("/placement/resource_providers/", "/placement/resource_providers")):
        for method in ("GET", "POST"):
            r = api.request(method, path, json={"name": "x"})
            entry = assert_error(r, 404)
            if instead:
                assert f"Drop the trailing slash: {instead}" in entry["detail"], entry
    # the root, with and without /placement, still answers
    assert api.get("/").status_code == 200
    assert api.get("/placement/").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])
def test_operations_routes_answer_json_errors(client: TestClient) -> None:
    for method, path, status in (("POST", "/healthz", 405), ("DELETE", "/metrics", 405),
                                 ("GET", "/healthz/", 404), ("GET", "/ui/nothing-here", 404)):
        r = client.request(method, path)
        assert r.status_code == status, (method, path, r.text)
        error = r.json()["error"]
        assert error["status"] == status
        assert error["request_id"] == r.headers["x-openstack-request-id"]
        if status == 405:
            assert r.headers["allow"].startswith("GET"), r.headers
            assert "send one of: GET" in error["message"]
        if path == "/healthz/":
            assert "Drop the trailing slash: /healthz" in error["message"]


# -- headers built from user input -------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_bad_field_with_a_non_ascii_name_is_a_400(api: Any) -> None:
    uuid = api.create_provider("rp")["uuid"]
    r = api.put(f"/resource_providers/{uuid}/inventories",
                json={"resource_provider_generation": 0,
                      "inventories": {"VCPU": {"total": 1, "日本": 1}}})
    assert_error(r, 400)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_dashboard_refuses_a_token_that_cannot_be_a_cookie(client: TestClient) -> None:
    r = client.post("/ui/login", content="token=admin%3A%E6%97%A5%E6%9C%AC",
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    follow_redirects=False)
    assert r.status_code == 401, r.text


# -- a store that cannot answer ------------------------------------------------------------------

def test_an_sqlite_lock_held_past_the_busy_timeout_is_a_503(tmp_path: Path) -> None:
    """A real lock: another connection holds SQLite's write lock past the timeout."""
    import sqlite3

    path = tmp_path / "locked.sqlite"
    store = make_store(f"sqlite:///{path}", busy_timeout_ms=200)
    system.upgrade_schema(store)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with TestClient(create_app(Settings(data_dir=str(tmp_path)), store)) as client:
            holder.execute("BEGIN IMMEDIATE")
            r = client.post("/v1/aggregates", json={"name": "a"}, headers=ADMIN)
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "store_unavailable"
            assert int(r.headers["retry-after"]) >= 1
            r = client.post("/resource_providers", json={"name": "rp"}, headers=ADMIN)
            entry = assert_error(r, 503, code="corral.store_unavailable")
            assert "Retry in" in entry["detail"]
            assert int(r.headers["retry-after"]) >= 1
            holder.execute("ROLLBACK")
            assert client.post("/v1/aggregates", json={"name": "a"},
                               headers=ADMIN).status_code == 201
            assert client.post("/resource_providers", json={"name": "rp"},
                               headers=ADMIN).status_code == 200
    finally:
        holder.close()
        store.dispose()
