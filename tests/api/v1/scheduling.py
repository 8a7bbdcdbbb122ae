"""Helpers of the scheduler scenarios: apps with chosen settings over one store, boots,
hosts of instances, and the checks every 'no valid host' answer must pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store
from corral.scheduler.filters import FILTER_NAMES

from .helpers import V1

AppFactory = Callable[..., V1]


@pytest.fixture
def app_with(store: Store, tmp_path: Path) -> Iterator[AppFactory]:
    """``app_with(**settings)``: another app over the test's store (same fleet)."""
    with ExitStack() as stack:
        def make(**settings: Any) -> V1:
            app = create_app(Settings(data_dir=str(tmp_path), **settings), store)
            return V1(stack.enter_context(TestClient(app)))
        yield make


@pytest.fixture
def without(app_with: AppFactory) -> AppFactory:
    """``without(filter, **settings)``: an app running every filter but that one."""
    def make(name: str, **settings: Any) -> V1:
        assert name in FILTER_NAMES
        return app_with(enabled_filters=",".join(f for f in FILTER_NAMES if f != name),
                        **settings)
    return make


def flavor(v1: V1, name: str, vcpus: int = 1, ram_mb: int = 512, disk_gb: int = 1,
           specs: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = v1.ok("POST", "/flavors", 201, json={
        "name": name, "vcpus": vcpus, "ram_mb": ram_mb, "disk_gb": disk_gb,
        "extra_specs": specs or {}})
    return found


def boot(v1: V1, name: str = "vm", flavor: str = "small", **body: Any) -> Any:
    if v1.token == "admin":
        body.setdefault("project_id", "p1")
    return v1.post("/instances", json={"name": name, "flavor": flavor, **body})


def booted(v1: V1, name: str = "vm", flavor: str = "small", **body: Any) -> dict[str, Any]:
    """Boot one instance (admin view); assert it was placed."""
    r = boot(v1, name, flavor, **body)
    assert r.status_code == 201, r.text
    instances = r.json()["instances"]
    assert len(instances) == 1
    found: dict[str, Any] = instances[0]
    return found


def host_of(v1: V1, name: str = "vm", flavor: str = "small", **body: Any) -> str:
    host: str = booted(v1, name, flavor, **body)["host"]
    return host


def check_funnel(funnel: list[dict[str, Any]]) -> None:
    """Each step removes what it says, and the removals add up to considered - passed."""
    assert funnel[0]["step"] == "considered"
    before = funnel[0]["hosts"]
    for step in funnel[1:]:
        assert step["removed"] == before - step["hosts"] >= 0, funnel
        before = step["hosts"]
    assert sum(s["removed"] for s in funnel[1:]) == funnel[0]["hosts"] - funnel[-1]["hosts"]


def refused(r: Any, code: str, **expected: Any) -> dict[str, Any]:
    """A 409 no_valid_host whose explanation has ``code`` and the ``expected`` fields."""
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "no_valid_host", error
    explanation: dict[str, Any] = error["explanation"]
    assert explanation["code"] == code, explanation
    for key, value in expected.items():
        assert explanation.get(key) == value, (key, explanation)
    check_funnel(explanation["funnel"])
    assert explanation["retry_can_help"] == (explanation["kind"] == "transient")
    return explanation


def per_host(v1: V1) -> Counter[str]:
    """Live instances per host (admin view)."""
    found = v1.ok("GET", "/instances", params={"limit": 10000})["instances"]
    return Counter(i["host"] for i in found if i["host"] is not None)
