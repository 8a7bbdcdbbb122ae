"""The work one allocation candidates request may cause is bounded: its request groups
(``max_request_groups``) and the group placements it could build
(``max_candidate_combinations``), each refused with a 400 naming the bound before any of
the work is done; a smaller ``limit`` brings a refused query within the bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store
from corral.services import demo

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.36"}


@pytest.fixture
def bounded(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    demo.seed_demo(store, force=False)
    settings = Settings.model_validate({"data_dir": str(tmp_path),
                                        "max_candidate_combinations": 1000,
                                        "max_request_groups": 8})
    with TestClient(create_app(settings, store)) as client:
        yield client


def groups(n: int) -> str:
    return "&".join(f"resources{i}=MEMORY_MB:1" for i in range(1, n + 1)) + "&group_policy=none"


def detail(resp: object) -> str:
    body = resp.json()  # type: ignore[attr-defined]
    (error,) = body["errors"]
    assert error["code"] == "placement.query.bad_value"
    return str(error["detail"])


def test_request_groups_past_the_bound_are_refused(bounded: TestClient) -> None:
    r = bounded.get("/allocation_candidates?" + groups(9), headers=HEADERS)
    assert r.status_code == 400
    assert "9 request groups" in detail(r) and "at most 8" in detail(r)
    assert "max_request_groups" in detail(r)


def test_work_past_the_bound_is_refused_and_a_limit_brings_it_within(bounded: TestClient) -> None:
    r = bounded.get("/allocation_candidates?" + groups(8), headers=HEADERS)
    assert r.status_code == 400
    assert "max_candidate_combinations" in detail(r) and "at most 1000" in detail(r)
    r = bounded.get("/allocation_candidates?" + groups(8) + "&limit=100", headers=HEADERS)
    assert r.status_code == 200, r.text
    assert 0 < len(r.json()["allocation_requests"]) <= 100
    r = bounded.get("/allocation_candidates?" + groups(2), headers=HEADERS)
    assert r.status_code == 200, r.text
