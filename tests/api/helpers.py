"""Helpers shared by the HTTP scenarios: error-body checks, fixtures' building blocks.

Placement's error body is a contract: ``{"errors": [{"status", "title", "detail",
"request_id"(, "code" from 1.23)}]}`` with the request id echoed in
``x-openstack-request-id``. ``assert_error`` checks all of it at once.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from sqlalchemy import insert, select

from corral.domain.quotas import resource_of_class
from corral.persistence import Repository, Store, tables
from corral.services import ledger

HTTP_DATE = re.compile(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")
REQUEST_ID = re.compile(r"^req-[0-9a-f-]{36}$")


def absolute(path: str) -> str:
    """The Location a test client sees: absolute, as Placement's (webob's) are."""
    return "http://testserver" + path


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def _version_tuple(version: str) -> tuple[int, int]:
    if version == "latest":
        return (1, 39)
    major, minor = version.split(".")
    return int(major), int(minor)


def assert_error(resp: Any, status: int, *, code: str | None = None, version: str = "latest",
                 detail: str | None = None, extra: frozenset[str] = frozenset()
                 ) -> dict[str, Any]:
    """Check a Placement error response and return its single error entry.

    Args:
        resp: the response.
        status: the expected status.
        code: the expected ``code`` (checked only when ``version`` is 1.23 or later;
            defaults to ``placement.undefined_code``).
        version: the microversion the request asked for; ``code`` must be absent
            before 1.23.
        detail: a substring the ``detail`` must contain.
        extra: keys allowed beyond the standard ones.
    """
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert list(body) == ["errors"], body
    assert len(body["errors"]) == 1, body
    entry: dict[str, Any] = body["errors"][0]
    assert entry["status"] == status
    assert entry["title"] == HTTPStatus(status).phrase
    assert isinstance(entry["detail"], str) and entry["detail"]
    assert REQUEST_ID.match(entry["request_id"]), entry
    assert entry["request_id"] == resp.headers["x-openstack-request-id"]
    if _version_tuple(version) >= (1, 23):
        assert entry["code"] == (code or "placement.undefined_code"), entry
        assert set(entry) == {"status", "title", "detail", "request_id", "code"} | extra
    else:
        assert "code" not in entry, entry
        assert set(entry) == {"status", "title", "detail", "request_id"} | extra
    if detail is not None:
        assert detail in entry["detail"], entry["detail"]
    return entry


def assert_cache_headers(resp: Any, present: bool) -> None:
    """last-modified + cache-control: no-cache from 1.15, neither before."""
    if present:
        assert resp.headers["cache-control"] == "no-cache"
        assert HTTP_DATE.match(resp.headers["last-modified"]), resp.headers["last-modified"]
    else:
        assert "cache-control" not in resp.headers
        assert "last-modified" not in resp.headers


def generation(api: Any, uuid: str) -> int:
    r = api.get(f"/resource_providers/{uuid}")
    assert r.status_code == 200, r.text
    gen: int = r.json()["generation"]
    return gen


def put_traits(api: Any, uuid: str, traits: list[str]) -> dict[str, Any]:
    r = api.put(f"/resource_providers/{uuid}/traits",
                json={"resource_provider_generation": generation(api, uuid), "traits": traits})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def put_aggregates(api: Any, uuid: str, aggregates: list[str]) -> dict[str, Any]:
    r = api.put(f"/resource_providers/{uuid}/aggregates",
                json={"resource_provider_generation": generation(api, uuid),
                      "aggregates": aggregates})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ensure_custom_trait(api: Any, name: str) -> None:
    r = api.put(f"/traits/{name}")
    assert r.status_code in (201, 204), r.text


def allocate(store: Store, provider_uuid: str, resources: dict[str, int],
             consumer: str | None = None, project: str = "proj", user: str = "user") -> str:
    """Insert allocations straight into the tables, leaving provider generations alone
    (so tests can state them), and move the quota ledger as every allocation write does.

    Returns the consumer uuid.
    """
    consumer = consumer or new_uuid()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    stamps = {"created_at": now, "updated_at": now}
    with store.engine.begin() as conn:
        def get_or_create(table: Any, external: str) -> int:
            found = conn.scalar(select(table.c.id).where(table.c.external_id == external))
            if found is not None:
                return int(found)
            return int(conn.execute(insert(table).values(external_id=external, **stamps)
                                    .returning(table.c.id)).scalar_one())

        project_id = get_or_create(tables.projects, project)
        user_id = get_or_create(tables.users, user)
        consumer_id = conn.scalar(select(tables.consumers.c.id)
                                  .where(tables.consumers.c.uuid == consumer))
        if consumer_id is None:
            consumer_id = conn.execute(insert(tables.consumers).values(
                uuid=consumer, project_id=project_id, user_id=user_id, generation=1, **stamps)
                .returning(tables.consumers.c.id)).scalar_one()
        rp_id = conn.scalar(select(tables.resource_providers.c.id)
                            .where(tables.resource_providers.c.uuid == provider_uuid))
        assert rp_id is not None, provider_uuid
        for name, used in resources.items():
            rc_id = conn.scalar(select(tables.resource_classes.c.id)
                                .where(tables.resource_classes.c.name == name))
            assert rc_id is not None, name
            conn.execute(insert(tables.allocations).values(
                resource_provider_id=rp_id, consumer_id=consumer_id, resource_class_id=rc_id,
                used=used, **stamps))
        moved: dict[tuple[str, str], int] = {}
        for name, used in resources.items():
            key = (project, resource_of_class(name))
            moved[key] = moved.get(key, 0) + used
        ledger.charge(Repository(conn), moved, enforce=False)
    return consumer
