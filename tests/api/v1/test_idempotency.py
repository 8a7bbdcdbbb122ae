"""``Idempotency-Key`` on ``POST /v1/instances``: a retry after a lost answer replays it.

The key is stored in the boot's own transaction, per caller project. The same key with
the same body answers the first call's status and body (with ``idempotent-replayed:
true``) and boots nothing; with another body it is a 422 naming the header. Keys
expire after ``idempotency_key_retention_hours``. Every test runs on SQLite and
PostgreSQL (races between processes: tests/concurrency/test_idempotency_race.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store, tables
from corral.persistence.clock import utcnow

from .helpers import V1, assert_v1_error
from .scheduling import flavor

BODY = {"name": "web", "flavor": "small", "project_id": "p1"}


def setup(v1: V1) -> None:
    v1.report("cn1")
    flavor(v1, "small")


def keyed(v1: V1, key: str | bytes, body: Mapping[str, object] | None = None) -> httpx.Response:
    r: httpx.Response = v1.post("/instances", json=body or BODY, headers={"Idempotency-Key": key})
    return r


def live(v1: V1) -> list[str]:
    return [i["id"] for i in v1.ok("GET", "/instances")["instances"]]


def test_a_retry_with_the_key_replays_the_answer_and_boots_nothing(v1: V1) -> None:
    setup(v1)
    first = keyed(v1, "retry-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = keyed(v1, "retry-1")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert live(v1) == [first.json()["instances"][0]["id"]]
    usage = v1.ok("GET", "/projects/p1/quota")["resources"]["instances"]
    assert (usage["own"], usage["subtree"]) == (1, 1)
    # Another key, or none, is another boot.
    assert keyed(v1, "retry-2").status_code == 201
    assert v1.post("/instances", json=BODY).status_code == 201
    assert len(live(v1)) == 3


def test_the_same_key_with_another_body_is_a_422_and_boots_nothing(v1: V1) -> None:
    setup(v1)
    assert keyed(v1, "k").status_code == 201
    r = keyed(v1, "k", {**BODY, "count": 2})
    assert_v1_error(r, 422, code="idempotency_key_reused", field="Idempotency-Key",
                    message="'k'")
    assert len(live(v1)) == 1


def test_keys_are_scoped_per_caller_project(v1: V1) -> None:
    setup(v1)
    alice, bob = v1.as_("alice:p1", "member"), v1.as_("bob:p2", "member")
    body = {"name": "web", "flavor": "small"}
    a = keyed(alice, "shared", body)
    b = keyed(bob, "shared", body)
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert "idempotent-replayed" not in b.headers
    assert a.json()["instances"][0]["project_id"] == "p1"
    assert b.json()["instances"][0]["project_id"] == "p2"
    again = keyed(alice, "shared", body)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == a.json()
    assert len(live(v1)) == 2


def test_a_refused_boot_stores_no_key(v1: V1) -> None:
    """Nothing was committed, so a retry is a new attempt (it may fit now)."""
    setup(v1)
    big = {**BODY, "flavor": "big"}
    flavor(v1, "big", vcpus=64)
    assert keyed(v1, "later", big).status_code == 409
    v1.report("cn2", vcpus=64, memory_mb=65536, disk_gb=100)
    r = keyed(v1, "later", big)
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert keyed(v1, "later", big).headers["idempotent-replayed"] == "true"
    assert len(live(v1)) == 1


def test_a_bad_key_is_a_400_naming_the_header(v1: V1) -> None:
    setup(v1)
    for key in ("x" * 256, "caf\u00e9".encode()):
        assert_v1_error(keyed(v1, key), 400, code="invalid_input", field="Idempotency-Key")
    assert live(v1) == []


def test_a_dry_run_ignores_the_key(v1: V1) -> None:
    setup(v1)
    r = keyed(v1, "dry", {**BODY, "dry_run": True})
    assert r.status_code == 200, r.text
    r = keyed(v1, "dry")
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert keyed(v1, "dry").headers["idempotent-replayed"] == "true"
    assert keyed(v1, "dry", {**BODY, "dry_run": True}).status_code == 200  # still ignored
    assert len(live(v1)) == 1


def test_an_expired_key_is_forgotten(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), idempotency_key_retention_hours=1)
    with TestClient(create_app(settings, store)) as client:
        v1 = V1(client)
        setup(v1)
        assert keyed(v1, "old").status_code == 201
        with store.write() as repo:  # pretend it was stored two hours ago
            repo.conn.execute(update(tables.idempotency_keys).values(
                created_at=utcnow() - timedelta(hours=2)))
        r = keyed(v1, "old", {**BODY, "name": "other"})
        assert r.status_code == 201, r.text
        assert "idempotent-replayed" not in r.headers
        assert len(live(v1)) == 2
        assert keyed(v1, "old", {**BODY, "name": "other"}).headers["idempotent-replayed"]
