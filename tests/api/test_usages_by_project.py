"""GET /usages (1.9): a project's (and a user's) usage; grouped by consumer type from 1.38."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import assert_cache_headers, assert_error, new_uuid

#: For answers that do not depend on the database (parsing, validation, policy): one
#: backend is enough, and keeps the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _claim(api: Any, rp: str, resources: dict[str, int], *, project: str = "p1",
           user: str = "u1", ctype: str | None = "INSTANCE") -> str:
    consumer = new_uuid()
    data: dict[str, Any] = {"allocations": {rp: {"resources": resources}}, "project_id": project,
                            "user_id": user, "consumer_generation": None}
    version = "1.37"
    if ctype is not None:
        data["consumer_type"] = ctype
        version = "1.38"
    r = api.put(f"/allocations/{consumer}", json=data, version=version)
    assert r.status_code == 204, r.text
    return consumer


@pytest.fixture
def fleet(api: Any) -> str:
    """p1/u1: INSTANCE 2 VCPU + 1 VCPU 512 MB, MIGRATION 1 VCPU, untyped 4 VCPU 100 GB;
    p1/u2: INSTANCE 3 VCPU; p2/u1: INSTANCE 5 VCPU."""
    rp: str = api.create_provider("cn")["uuid"]
    api.set_inventory(rp, {"VCPU": {"total": 64}, "MEMORY_MB": {"total": 4096},
                           "DISK_GB": {"total": 500}})
    _claim(api, rp, {"VCPU": 2})
    _claim(api, rp, {"VCPU": 1, "MEMORY_MB": 512})
    _claim(api, rp, {"VCPU": 1}, ctype="MIGRATION")
    _claim(api, rp, {"VCPU": 4, "DISK_GB": 100}, ctype=None)
    _claim(api, rp, {"VCPU": 3}, user="u2")
    _claim(api, rp, {"VCPU": 5}, project="p2")
    return rp


def _usages(api: Any, query: str, version: str = "latest") -> Any:
    r = api.get(f"/usages?{query}", version=version)
    assert r.status_code == 200, r.text
    return r.json()


@SQLITE_ONLY
def test_usages_are_404_before_1_9(api: Any) -> None:
    assert_error(api.get("/usages?project_id=p1", version="1.8"), 404, version="1.8")


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("version", ["1.9", "1.37"])
def test_project_usages_are_summed_over_classes(api: Any, version: str) -> None:
    assert _usages(api, "project_id=p1", version) == {
        "usages": {"VCPU": 11, "MEMORY_MB": 512, "DISK_GB": 100}}
    assert _usages(api, "project_id=p1&user_id=u1", version) == {
        "usages": {"VCPU": 8, "MEMORY_MB": 512, "DISK_GB": 100}}
    assert _usages(api, "project_id=p2", version) == {"usages": {"VCPU": 5}}
    assert _usages(api, "project_id=p2&user_id=u2", version) == {"usages": {}}
    assert _usages(api, "project_id=nobody", version) == {"usages": {}}


@pytest.mark.parametrize("version,present", [("1.14", False), ("1.15", True)])
@SQLITE_ONLY
def test_cache_headers_from_1_15(api: Any, version: str, present: bool) -> None:
    r = api.get("/usages?project_id=p1", version=version)
    assert r.status_code == 200
    assert_cache_headers(r, present)


@pytest.mark.usefixtures("fleet")
def test_usages_are_grouped_by_consumer_type_from_1_38(api: Any) -> None:
    assert _usages(api, "project_id=p1") == {"usages": {
        "INSTANCE": {"VCPU": 6, "MEMORY_MB": 512, "consumer_count": 3},
        "MIGRATION": {"VCPU": 1, "consumer_count": 1},
        "unknown": {"VCPU": 4, "DISK_GB": 100, "consumer_count": 1},
    }}
    assert _usages(api, "project_id=p1&user_id=u1") == {"usages": {
        "INSTANCE": {"VCPU": 3, "MEMORY_MB": 512, "consumer_count": 2},
        "MIGRATION": {"VCPU": 1, "consumer_count": 1},
        "unknown": {"VCPU": 4, "DISK_GB": 100, "consumer_count": 1},
    }}
    assert _usages(api, "project_id=nobody") == {"usages": {}}


@pytest.mark.usefixtures("fleet")
def test_consumer_type_filter(api: Any) -> None:
    for ctype, expected in [
        ("INSTANCE", {"INSTANCE": {"VCPU": 6, "MEMORY_MB": 512, "consumer_count": 3}}),
        ("MIGRATION", {"MIGRATION": {"VCPU": 1, "consumer_count": 1}}),
        ("unknown", {"unknown": {"VCPU": 4, "DISK_GB": 100, "consumer_count": 1}}),
        ("all", {"all": {"VCPU": 11, "MEMORY_MB": 512, "DISK_GB": 100, "consumer_count": 5}}),
        ("ALL", {}),
        ("UNKNOWN", {}),
        ("COW", {}),
    ]:
        assert _usages(api, f"project_id=p1&consumer_type={ctype}") == {"usages": expected}, ctype


@pytest.mark.usefixtures("fleet")
def test_consumer_type_filter_with_user(api: Any) -> None:
    assert _usages(api, "project_id=p1&user_id=u2&consumer_type=all") == {
        "usages": {"all": {"VCPU": 3, "consumer_count": 1}}}


MISSING, BAD = "placement.query.missing_value", "placement.query.bad_value"


@pytest.mark.parametrize("query,version,code", [
    ("", "1.9", None),
    ("user_id=u1", "latest", MISSING),
    ("project_id=", "latest", BAD),
    ("project_id=p1&user_id=", "latest", BAD),
    ("project_id=" + "x" * 256, "latest", BAD),
    ("project_id=p1&consumer_type=INSTANCE", "1.37", BAD),
    ("project_id=p1&consumer_type=instance", "latest", BAD),
    ("project_id=p1&consumer_type=", "latest", BAD),
    ("project_id=p1&bogus=1", "latest", BAD),
])
@SQLITE_ONLY
def test_bad_queries_are_400(api: Any, query: str, version: str, code: str | None) -> None:
    # Placement leaves these without a code; corral codes every query-string refusal.
    entry = assert_error(api.get(f"/usages?{query}", version=version), 400, version=version,
                         code=code)
    assert entry["detail"].startswith("Invalid query string parameters")


# -- policy -------------------------------------------------------------------------------

@pytest.mark.usefixtures("fleet")
def test_project_readers_see_their_own_project_only(api: Any) -> None:
    for token, roles, project, status in [
        ("u1:p1", "reader", "p1", 200),
        ("u1:p1", "member,reader", "p1", 200),
        ("u1:p1", "reader", "p2", 403),
        ("u1:p1", "member", "p2", 403),
        ("u1:p1", "", "p1", 403),
        ("u1:p9", "admin", "p1", 200),
        ("svc:services", "service", "p2", 200),
    ]:
        r = api.get(f"/usages?project_id={project}",
                    headers={"x-auth-token": token, "x-roles": roles})
        if status == 200:
            assert r.status_code == 200, r.text
            assert "VCPU" in r.json()["usages"]["INSTANCE"]
        else:
            assert_error(r, status)


@SQLITE_ONLY
def test_system_scope_is_refused(api: Any) -> None:
    r = api.get("/usages?project_id=p1",
                headers={"x-roles": "admin", "openstack-system-scope": "all"})
    assert_error(r, 403)


def test_project_reader_cannot_read_provider_usages(api: Any, fleet: str) -> None:
    r = api.get(f"/resource_providers/{fleet}/usages",
                headers={"x-auth-token": "u1:p1", "x-roles": "reader"})
    assert_error(r, 403)
