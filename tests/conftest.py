"""Shared fixtures: a store on every backend, an app and an HTTP client.

Every test that takes ``store`` (or ``client``) runs on SQLite and on PostgreSQL.
PostgreSQL comes from ``CORRAL_TEST_POSTGRESQL_URL`` (``.ci/start-postgres`` prints
one); without it those cases are skipped, and listed at the end, unless
``CORRAL_REQUIRE_SERVICES=1``, when they fail instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store, make_store, tables
from corral.services import catalog, quota_audit, system

PG_URL_ENV = "CORRAL_TEST_POSTGRESQL_URL"
REQUIRE = os.environ.get("CORRAL_REQUIRE_SERVICES") == "1"
#: How a skip for a missing service begins its reason (the summary lists them).
_NOT_AVAILABLE = " not available: "


def require_service(name: str, reason: str) -> None:
    """Skip (or, under CORRAL_REQUIRE_SERVICES=1, fail) for a missing service."""
    if REQUIRE:
        pytest.fail(f"{name} is required (CORRAL_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"{name}{_NOT_AVAILABLE}{reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that start processes first (a stable sort): with several workers
    (``make test`` runs pytest-xdist) the longest ones do not all start at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config: pytest.Config) -> None:
    """``--dist loadgroup`` keeps each ``xdist_group`` on one worker (one RabbitMQ
    cluster per run) by suffixing the node ids of its tests, which pytest 9.2 no longer
    lets pytest-xdist 3.8 do: the group would be split silently, so refuse instead."""
    version = tuple(int(part) for part in pytest.__version__.split(".")[:2])
    if config.getoption("dist", default="no") == "loadgroup" and version >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} splits the xdist groups of --dist loadgroup: "
            "install the pytest that pyproject.toml pins (make install)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The services missing, from the skips' reasons (reported by every xdist worker)."""
    missing = set()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) else ""
        if _NOT_AVAILABLE in reason:
            name, why = reason.removeprefix("Skipped: ").split(_NOT_AVAILABLE, 1)
            missing.add(f"{name}: {why}")
    if missing:
        terminalreporter.section("services not available: these tests were skipped")
        for line in sorted(missing):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A fresh database for this test session on the configured server."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        yield None
        return
    name = f"corral_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_store(pg_url: str | None) -> Iterator[Store | None]:
    if pg_url is None:
        yield None
        return
    store = make_store(pg_url)
    system.upgrade_schema(store)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "corral.sqlite"
    store = make_store(f"sqlite:///{path}")
    system.upgrade_schema(store)
    store.dispose()
    return path


_CATALOGUES = {"resource_classes", "traits"}


def _reset_postgresql(store: Store) -> None:
    """Empty every table but keep the standard catalogues (re-inserting ~300 traits per
    test was the largest fixed cost of a PostgreSQL test)."""
    names = ", ".join(t.name for t in tables.metadata.sorted_tables if t.name not in _CATALOGUES)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        for table in _CATALOGUES:
            conn.execute(text(f"DELETE FROM {table} WHERE name LIKE 'CUSTOM\\_%' ESCAPE '\\'"))
    catalog.sync_standard_names(store)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _assert_ledger_agrees(store: Store, request: pytest.FixtureRequest) -> None:
    """Whatever a test did through corral, the quota ledger must equal a recount of the
    allocations, and nothing may be left orphaned (issue 5's bar). Tests that corrupt
    the database on purpose say so with ``@pytest.mark.corrupts_ledger``."""
    if request.node.get_closest_marker("corrupts_ledger"):
        return
    report = quota_audit.audit(store)
    assert report.clean, f"quota audit after the test: {report}"


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
          sqlite_template: Path) -> Iterator[Store]:
    if backend == "postgresql":
        pg: Store | None = request.getfixturevalue("pg_store")
        if pg is None:
            require_service("PostgreSQL", f"{PG_URL_ENV} is not set (see .ci/start-postgres)")
        assert pg is not None
        _reset_postgresql(pg)
        yield pg
        _assert_ledger_agrees(pg, request)
        return
    path = tmp_path / "corral.sqlite"
    shutil.copy(sqlite_template, path)
    s = make_store(f"sqlite:///{path}")
    yield s
    _assert_ledger_agrees(s, request)
    s.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path))


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store)) as c:
        yield c


class Api:
    """A TestClient with Placement headers: admin token and a chosen microversion."""

    def __init__(self, client: TestClient, version: str = "latest", token: str = "admin") -> None:
        self.client = client
        self.version = version
        self.token = token

    def headers(self, extra: dict[str, str] | None = None, version: str | None = None) -> dict[str, str]:
        h = {"x-auth-token": self.token,
             "openstack-api-version": f"placement {version or self.version}"}
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, *, version: str | None = None,
                headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.request(method, path, headers=self.headers(headers, version), **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create_provider(self, name: str, **fields: Any) -> dict[str, Any]:
        r = self.post("/resource_providers", json={"name": name, **fields}, version="latest")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def set_inventory(self, uuid: str, inventories: dict[str, Any]) -> dict[str, Any]:
        gen = self.get(f"/resource_providers/{uuid}").json()["generation"]
        r = self.put(f"/resource_providers/{uuid}/inventories",
                     json={"resource_provider_generation": gen, "inventories": inventories})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)
