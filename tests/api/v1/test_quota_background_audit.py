"""The background audit of ``corral serve``: every ``audit_interval_s`` it recounts the
ledger and exports what it found as ``corral_quota_drift``, repairing nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .helpers import V1
from .scheduling import booted, flavor
from .test_event_types import events
from .test_quota_audit import gauge


@pytest.fixture
def audited(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=str(tmp_path), audit_interval_s=1)
    with TestClient(create_app(settings, store)) as client:
        yield client


def _exported(client: TestClient, kind: str) -> float | None:
    """The gauge, or None before the first whole audit has run."""
    try:
        return gauge(client, kind)
    except AssertionError:
        return None


def _until(check: float, client: TestClient, kind: str, timeout: float = 10.0) -> float | None:
    deadline = time.monotonic() + timeout
    while (found := _exported(client, kind)) != check and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.mark.corrupts_ledger
def test_the_background_audit_exports_drift_and_fixes_nothing(audited: TestClient,
                                                               store: Store) -> None:
    v1 = V1(audited)
    v1.report("cn1")
    flavor(v1, "small")
    booted(v1, "vm", project_id="p1")
    assert _until(0, audited, "usage") == 0
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE quota_usage SET own = own + 3 WHERE resource = 'cores'"))
    assert _until(1, audited, "usage") == 1  # found by the loop, nobody asked
    time.sleep(1.5)
    assert gauge(audited, "usage") == 1  # and left alone: repairing is the operator's call
    assert v1.ok("POST", "/quota/audit", json={"fix": True})["fixed"] is True
    assert gauge(audited, "usage") == 0
    drift = events(v1, event_type="quota.drift")  # each checked against its schema
    assert drift and drift[0]["priority"] == "WARN"  # each whole audit that found it told
    assert drift[0]["payload"]["drifts"][0]["resource"] == "cores"
    assert drift[0]["payload"]["drifts"][0]["ledger_own"] == 4
    assert v1.ok("GET", "/events", params={"event_type": "quota_usage.repair"})["events"]
