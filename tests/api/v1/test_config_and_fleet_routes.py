"""GET /v1/config (the server's settings, each with its origin, secrets hidden) and
GET /v1/simulation/fleet (the live fleet as ``corral simulate --fleet live`` copies it):
the cloud admin's only, what they answer, and bad input named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import FLEET_POLICY, OPTIONS, Settings
from corral.persistence import Store
from corral.simulation.wire import fleet_of

from .helpers import SQLITE_ONLY, V1, assert_v1_error

PASSWORDS = ("pw-db-8d1f", "tok-secret-77a2", "ks-pw-19c3", "amqp-pw-4e0b", "ui-key-5c6d")
ROUTES = ("/config", "/simulation/fleet")
#: Callers that are not the cloud admin: every role a project may hold, and the service
#: role (Nova, Neutron: not an administrator of /v1).
NOT_ADMIN = [("alice:p1", "project-admin"), ("alice:p1", "member"), ("alice:p1", "reader"),
             ("nova:service", "service")]


@pytest.fixture
def secret_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path), strategy="pack", host_down_after_s=120,
        database_url=f"postgresql+psycopg://corral:{PASSWORDS[0]}@db.example:5432/corral",
        api_tokens=f"{PASSWORDS[1]}=ops:ops:admin", keystone_password=PASSWORDS[2],
        broker_urls=f"amqp://corral:{PASSWORDS[3]}@mq.example:5672/", ui_session_key=PASSWORDS[4])


@pytest.fixture
def served(secret_settings: Settings, store: Store) -> Iterator[V1]:
    origins = {"strategy": "/etc/corral/corral.conf [scheduler] strategy",
               "host_down_after_s": "CORRAL_HOST_DOWN_AFTER_S", "port": "--port"}
    with TestClient(create_app(secret_settings, store, origins=origins)) as client:
        yield V1(client)


def _rows(v1: V1, **params: Any) -> dict[str, dict[str, Any]]:
    return {r["option"]: r for r in v1.ok("GET", "/config", params=params)["options"]}


@SQLITE_ONLY
def test_config_lists_every_option_with_its_origin(served: V1) -> None:
    rows = _rows(served)
    assert list(rows) == [opt.name for opt in OPTIONS]  # config sample's order
    assert rows["strategy"] == {"option": "strategy", "section": "scheduler", "value": "pack",
                                "origin": "/etc/corral/corral.conf [scheduler] strategy",
                                "fleet_policy": True}
    assert rows["host_down_after_s"]["value"] == 120
    assert rows["host_down_after_s"]["origin"] == "CORRAL_HOST_DOWN_AFTER_S"
    assert rows["max_attempts"]["origin"] == "built-in default"
    assert rows["port"]["fleet_policy"] is False and rows["port"]["value"] == 8778
    assert {n for n, r in rows.items() if r["fleet_policy"]} == set(FLEET_POLICY)


@SQLITE_ONLY
def test_config_hides_every_secret(served: V1) -> None:
    r = served.get("/config")
    assert r.status_code == 200, r.text
    for secret in PASSWORDS:
        assert secret not in r.text
    rows = _rows(served)
    assert rows["database_url"]["value"] == \
        "postgresql+psycopg://corral:***@db.example:5432/corral"
    assert rows["broker_urls"]["value"] == "amqp://corral:***@mq.example:5672/"
    for name in ("api_tokens", "keystone_password", "ui_session_key"):
        assert rows[name]["value"] == "<hidden>", name
    assert rows["keystone_application_credential_secret"]["value"] == ""  # unset: nothing


@SQLITE_ONLY
def test_config_filters_by_option_and_fleet_policy(served: V1) -> None:
    assert list(_rows(served, option=["strategy", "port"])) == ["port", "strategy"]
    assert set(_rows(served, fleet_policy="true")) == set(FLEET_POLICY)


@SQLITE_ONLY
def test_config_names_a_bad_filter(served: V1) -> None:
    assert_v1_error(served.get("/config", params={"option": "no_such_option"}), 400,
                    field="option", message="no_such_option")
    error = assert_v1_error(served.get("/config", params={"fleet_policy": "maybe"}), 400)
    assert "fleet_policy" in (error["field"] or "") + error["message"]


@SQLITE_ONLY
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("token", "roles"), NOT_ADMIN, ids=[r for _t, r in NOT_ADMIN])
def test_only_the_cloud_admin(served: V1, route: str, token: str, roles: str) -> None:
    assert_v1_error(served.as_(token, roles=roles).get(route), 403, code="forbidden")


@SQLITE_ONLY
@pytest.mark.parametrize("route", ROUTES)
def test_no_token_is_401(served: V1, route: str) -> None:
    assert_v1_error(served.as_("").get(route), 401)


def test_the_fleet_copy_is_what_the_simulator_reads(v1: V1) -> None:
    v1.aggregate("dense", cpu_allocation_ratio="8", availability_zone="az2")
    v1.report("cn1", vcpus=16, memory_mb=65536, disk_gb=400)
    v1.report("cn2", vcpus=8, memory_mb=32768, disk_gb=200, resources={"CUSTOM_FPGA": 2})
    v1.add("dense", "cn2")
    v1.ok("PATCH", "/hosts/cn1", json={"enabled": False, "disabled_reason": "disk"})
    v1.ok("POST", "/flavors", 201, json={"name": "small", "vcpus": 1, "ram_mb": 512,
                                         "disk_gb": 1, "extra_specs": {"hw:cpu_policy": "shared"}})
    body = v1.ok("GET", "/simulation/fleet")
    fleet = fleet_of(body["fleet"])
    hosts = {h.name: h for h in fleet.hosts}
    assert set(hosts) == {"cn1", "cn2"} and fleet.source == "live"
    assert (hosts["cn1"].vcpus, hosts["cn1"].enabled, hosts["cn1"].up) == (16, False, True)
    assert hosts["cn2"].aggregates == ("dense",) and hosts["cn2"].extra == {"CUSTOM_FPGA": 2}
    assert fleet.aggregates["dense"] == {"cpu_allocation_ratio": "8", "availability_zone": "az2"}
    assert [(f.name, dict(f.extra_specs)) for f in fleet.flavors] == [
        ("small", {"hw:cpu_policy": "shared"})]
    assert set(body["policy"]) == set(FLEET_POLICY)
    assert body["policy"]["strategy"] == {"value": "spread", "origin": "built-in default"}
