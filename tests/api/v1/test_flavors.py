"""/v1/flavors over HTTP: CRUD, extra specs by namespace, access lists, visibility, errors.

Every test takes ``client`` and so runs on SQLite and PostgreSQL. Tables of cases are
looped inside one test (one app, one database) to keep the runtime modest; each failure
message names the case.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from starlette.testclient import TestClient

from .helpers import assert_v1_error

MAX_INT = 2147483647
REQUEST_ID = re.compile(r"^req-[0-9a-f-]{36}$")
ADMIN = {"x-auth-token": "admin"}


def member(project: str = "p1", roles: str = "member") -> dict[str, str]:
    return {"x-auth-token": f"alice:{project}", "x-roles": roles}


def v1_error(resp: Any, status: int, code: str | None = None, field: str | None = None,
             *fragments: str) -> dict[str, Any]:
    """Check the /v1 error body: status, code, field, request id echoed, message parts."""
    err = assert_v1_error(resp, status, code=code, field=field)
    assert REQUEST_ID.match(err["request_id"]), err
    for fragment in fragments:
        assert fragment in err["message"], (fragment, err["message"])
    return err


def create(client: TestClient, name: str = "m1.small", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "vcpus": 2, "ram_mb": 2048, "disk_gb": 20, **fields}
    r = client.post("/v1/flavors", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


# -- create, show, list, patch, delete -----------------------------------------------------

def test_create_show_patch_delete(client: TestClient) -> None:
    r = client.post("/v1/flavors", headers=ADMIN, json={
        "name": "m1.large", "id": "m1.large-id", "vcpus": 4, "ram_mb": 8192, "disk_gb": 40,
        "ephemeral_gb": 10, "swap_mb": 1536, "description": "big",
        "extra_specs": {"resources:CUSTOM_GPU": "1", "trait:HW_CPU_X86_AVX2": "required",
                        "aggregate_instance_extra_specs:ssd": "true"}})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "http://testserver/v1/flavors/m1.large-id"
    flavor = r.json()
    assert {k: flavor[k] for k in ("id", "name", "vcpus", "ram_mb", "disk_gb", "ephemeral_gb",
                                   "swap_mb", "is_public", "description")} == {
        "id": "m1.large-id", "name": "m1.large", "vcpus": 4, "ram_mb": 8192, "disk_gb": 40,
        "ephemeral_gb": 10, "swap_mb": 1536, "is_public": True, "description": "big"}
    assert flavor["placement"] == {
        "resources": {"CUSTOM_GPU": 1, "DISK_GB": 52, "MEMORY_MB": 8192, "VCPU": 4},
        "required_traits": ["HW_CPU_X86_AVX2"], "forbidden_traits": [], "groups": [],
        "group_policy": None, "aggregate_extra_specs": {"ssd": "true"}}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", flavor["created_at"])

    by_id = client.get("/v1/flavors/m1.large-id", headers=ADMIN).json()
    by_name = client.get("/v1/flavors/m1.large", headers=ADMIN).json()
    assert by_id == by_name == flavor

    r = client.patch("/v1/flavors/m1.large", json={"description": "bigger"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["description"] == "bigger"
    r = client.patch("/v1/flavors/m1.large", json={"description": None}, headers=ADMIN)
    assert r.json()["description"] is None
    v1_error(client.patch("/v1/flavors/m1.large", json={"vcpus": 8}, headers=ADMIN), 400,
             "invalid_input", "vcpus", "Extra inputs")
    v1_error(client.patch("/v1/flavors/m1.large", json={}, headers=ADMIN), 400,
             "invalid_input", None, "nothing to change")

    assert client.delete("/v1/flavors/m1.large", headers=ADMIN).status_code == 204
    v1_error(client.get("/v1/flavors/m1.large-id", headers=ADMIN), 404, "flavor_not_found")
    v1_error(client.delete("/v1/flavors/m1.large-id", headers=ADMIN), 404, "flavor_not_found")


def test_defaults_and_a_generated_uuid(client: TestClient) -> None:
    r = client.post("/v1/flavors", json={"name": "tiny", "vcpus": 1, "ram_mb": 512},
                    headers=ADMIN)
    assert r.status_code == 201, r.text
    f = r.json()
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", f["id"])
    assert (f["disk_gb"], f["ephemeral_gb"], f["swap_mb"], f["is_public"], f["description"],
            f["extra_specs"]) == (0, 0, 0, True, None, {})
    assert f["placement"]["resources"] == {"MEMORY_MB": 512, "VCPU": 1}


def test_duplicate_name_or_id_is_409(client: TestClient) -> None:
    create(client, "a", id="1")
    err = v1_error(client.post("/v1/flavors", json={"name": "a", "vcpus": 1, "ram_mb": 1},
                               headers=ADMIN), 409, "duplicate_name")
    assert "name 'a'" in err["message"]
    err = v1_error(client.post("/v1/flavors", json={"name": "b", "id": "1", "vcpus": 1,
                                                    "ram_mb": 1}, headers=ADMIN),
                   409, "duplicate_name")
    assert "id '1'" in err["message"]
    assert [f["id"] for f in client.get("/v1/flavors", headers=ADMIN).json()["flavors"]] == ["1"]


def test_bad_fields_are_400_naming_the_field(client: TestClient) -> None:
    base = {"name": "x", "vcpus": 1, "ram_mb": 1}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"vcpus": 0}, "vcpus"), ({"vcpus": MAX_INT + 1}, "vcpus"),
        ({"ram_mb": 0}, "ram_mb"), ({"ram_mb": MAX_INT + 1}, "ram_mb"),
        ({"disk_gb": -1}, "disk_gb"), ({"disk_gb": MAX_INT + 1}, "disk_gb"),
        ({"ephemeral_gb": -1}, "ephemeral_gb"), ({"ephemeral_gb": MAX_INT + 1}, "ephemeral_gb"),
        ({"swap_mb": -1}, "swap_mb"), ({"swap_mb": MAX_INT + 1}, "swap_mb"),
        ({"vcpus": "2"}, "vcpus"), ({"vcpus": 1.5}, "vcpus"), ({"vcpus": True}, "vcpus"),
        ({"is_public": "yes"}, "is_public"),
        ({"name": ""}, "name"), ({"name": "n" * 256}, "name"), ({"name": " pad"}, "name"),
        ({"id": "a/b"}, "id"), ({"id": "i" * 256}, "id"),
        ({"description": "d" * 256}, "description"),
        ({"colour": "red"}, "colour"),
        ({"extra_specs": {"resources:VCPU": 1}}, "extra_specs.resources:VCPU"),
    ]
    for change, field in cases:
        v1_error(client.post("/v1/flavors", json={**base, **change}, headers=ADMIN), 400,
                 "invalid_input", field)
    missing = dict(base)
    del missing["vcpus"]
    v1_error(client.post("/v1/flavors", json=missing, headers=ADMIN), 400, "invalid_input",
             "vcpus")
    ok = create(client, "max", vcpus=MAX_INT, ram_mb=MAX_INT, disk_gb=MAX_INT,
                ephemeral_gb=MAX_INT, swap_mb=MAX_INT)
    assert ok["vcpus"] == MAX_INT
    assert [f["name"] for f in client.get("/v1/flavors", headers=ADMIN).json()["flavors"]] == ["max"]


# -- extra specs, namespace by namespace -----------------------------------------------------

GOOD_SPECS = [
    ("resources:VCPU", "0"), ("resources:CUSTOM_GPU", "2"), ("resources1:SRIOV_NET_VF", "1"),
    ("trait:HW_CPU_X86_AVX2", "required"), ("trait:CUSTOM_SLOW", "forbidden"),
    ("trait1:CUSTOM_PHYSNET_A", "required"), ("group_policy", "isolate"),
    ("aggregate_instance_extra_specs:ssd", "true"),
    ("hw:cpu_policy", "dedicated"), ("hw:mem_page_size", "2MB"), ("hw:mem_page_size", "2048"),
    ("hw:mem_page_size", "large"), ("hw:numa_nodes", "2"), ("hw:cpu_thread_policy", "isolate"),
    ("quota:cpu_shares", "1024"), ("hw_rng:allowed", "True"), ("hw_video:ram_max_mb", "8"),
    ("os:secure_boot", "required"), ("pci_passthrough:alias", "a1:2"),
]

BAD_SPECS = [
    ("resources:NOT_A_CLASS", "1", "neither a standard resource class"),
    ("resources:VCPU", "-1", "whole number from 0"),
    ("resources:VCPU", str(MAX_INT + 1), "whole number from 0"),
    ("trait:NOT_A_TRAIT", "required", "neither a standard trait"),
    ("trait:HW_CPU_X86_AVX2", "preferred", "'required' or 'forbidden'"),
    ("group_policy", "all", "none, isolate"),
    ("aggregate_instance_extra_specs:", "x", "empty"),
    ("hw:cpu_policy", "pinned", "shared, dedicated, mixed"),
    ("hw:mem_page_size", "1.5GB", "small, large, any"),
    ("hw:numa_nodes", "0", "at least 1"),
    ("hw:something_new", "1", "not a known hw: key"),
    ("quota:", "1", "empty"),
    ("capabilities:cpu_info", "x", "unknown namespace 'capabilities'"),
    ("ssd", "true", "unscoped keys are not accepted"),
    ("os:type", "v" * 256, "1 to 255"),
    ("os:type", "", "1 to 255"),
]


def test_every_namespace_good_and_bad_through_put(client: TestClient) -> None:
    create(client, "f", id="f")
    url = "/v1/flavors/f/extra-specs"
    for key, value in GOOD_SPECS:
        r = client.put(url, json={"extra_specs": {key: value}}, headers=ADMIN)
        assert r.status_code == 200, (key, value, r.text)
        assert r.json()["extra_specs"][key] == value
    before = client.get(url, headers=ADMIN).json()
    for key, value, why in BAD_SPECS:
        err = v1_error(client.put(url, json={"extra_specs": {key: value}}, headers=ADMIN), 400,
                       "invalid_input", f"extra_specs.{key}", why)
        assert repr(key) in err["message"], (key, err)
    for key, value, why in BAD_SPECS[:3]:  # on create too, and nothing is written
        v1_error(client.post("/v1/flavors", headers=ADMIN, json={
            "name": "g", "vcpus": 1, "ram_mb": 1, "extra_specs": {key: value}}),
            400, "invalid_input", f"extra_specs.{key}", why)
    assert client.get(url, headers=ADMIN).json() == before
    v1_error(client.get("/v1/flavors/g", headers=ADMIN), 404)


def test_an_unknown_namespace_lists_the_accepted_ones(client: TestClient) -> None:
    create(client, "f", id="f")
    err = v1_error(client.put("/v1/flavors/f/extra-specs", headers=ADMIN,
                              json={"extra_specs": {"vmware:hw_version": "1"}}), 400,
                   "invalid_input", "extra_specs.vmware:hw_version")
    for accepted in ("resources[GROUP]:<RESOURCE_CLASS>", "trait[GROUP]:<TRAIT>", "group_policy",
                     "aggregate_instance_extra_specs:<key>", "hw:<known key>", "hw_rng:*",
                     "hw_video:*", "os:*", "quota:*", "pci_passthrough:alias"):
        assert accepted in err["message"]


def test_put_merges_null_removes_and_delete_removes_one_key(client: TestClient) -> None:
    create(client, "f", id="f", extra_specs={"hw:cpu_policy": "shared", "quota:a": "1"})
    url = "/v1/flavors/f/extra-specs"
    r = client.put(url, headers=ADMIN, json={"extra_specs": {
        "hw:cpu_policy": "dedicated", "quota:a": None, "quota:b": "2", "quota:never": None}})
    assert r.status_code == 200, r.text
    assert r.json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:b": "2"}}
    assert client.get(url, headers=ADMIN).json() == r.json()
    assert client.delete(url + "/quota:b", headers=ADMIN).status_code == 204
    assert client.get(url, headers=ADMIN).json() == {"extra_specs": {"hw:cpu_policy": "dedicated"}}
    v1_error(client.delete(url + "/quota:b", headers=ADMIN), 404, "extra_spec_not_found")
    v1_error(client.put(url, json={"extra_specs": {"quota:x": 5}}, headers=ADMIN), 400,
             "invalid_input", "extra_specs.quota:x")
    v1_error(client.put(url, json={"specs": {}}, headers=ADMIN), 400, "invalid_input")
    v1_error(client.put("/v1/flavors/nope/extra-specs", json={"extra_specs": {}},
                        headers=ADMIN), 404, "flavor_not_found")


def test_the_merged_set_is_checked_as_a_whole(client: TestClient) -> None:
    create(client, "f", id="f", extra_specs={
        "resources1:SRIOV_NET_VF": "1", "trait1:CUSTOM_PHYSNET_A": "required",
        "resources2:SRIOV_NET_VF": "1", "group_policy": "none"})
    url = "/v1/flavors/f/extra-specs"
    v1_error(client.delete(url + "/group_policy", headers=ADMIN), 400, "invalid_input",
             "extra_specs.group_policy", "more than one request group")
    v1_error(client.put(url, json={"extra_specs": {"resources1:SRIOV_NET_VF": None}},
                        headers=ADMIN), 400, "invalid_input",
             "extra_specs.trait1:CUSTOM_PHYSNET_A", "no resources")
    specs = client.get(url, headers=ADMIN).json()["extra_specs"]
    assert specs["group_policy"] == "none" and "resources1:SRIOV_NET_VF" in specs
    placement = client.get("/v1/flavors/f", headers=ADMIN).json()["placement"]
    assert placement["groups"] == [
        {"suffix": "1", "resources": {"SRIOV_NET_VF": 1}, "required_traits": ["CUSTOM_PHYSNET_A"],
         "forbidden_traits": []},
        {"suffix": "2", "resources": {"SRIOV_NET_VF": 1}, "required_traits": [],
         "forbidden_traits": []}]
    assert placement["group_policy"] == "none"


# -- listing, visibility, access ----------------------------------------------------------------

def test_list_filters(client: TestClient) -> None:
    create(client, "a", vcpus=1, ram_mb=512, disk_gb=1)
    create(client, "b", vcpus=4, ram_mb=4096, disk_gb=40)
    create(client, "c", vcpus=8, ram_mb=2048, disk_gb=80, is_public=False)

    def names(query: str) -> list[str]:
        r = client.get("/v1/flavors" + query, headers=ADMIN)
        assert r.status_code == 200, r.text
        return [f["name"] for f in r.json()["flavors"]]

    assert names("") == ["a", "b", "c"]
    assert names("?is_public=true") == ["a", "b"]
    assert names("?is_public=false") == ["c"]
    assert names("?min_vcpus=4") == ["b", "c"]
    assert names("?min_ram_mb=2048") == ["b", "c"]
    assert names("?min_ram_mb=2048&min_vcpus=5") == ["c"]
    assert names("?min_disk_gb=50") == ["c"]
    v1_error(client.get("/v1/flavors?min_vcpus=-1", headers=ADMIN), 400, "invalid_input",
             "min_vcpus")
    v1_error(client.get(f"/v1/flavors?min_ram_mb={MAX_INT + 1}", headers=ADMIN), 400,
             "invalid_input", "min_ram_mb")
    v1_error(client.get("/v1/flavors?is_public=maybe", headers=ADMIN), 400, "invalid_input",
             "is_public")


def test_private_flavors_are_seen_only_by_projects_with_access(client: TestClient) -> None:
    create(client, "public")
    create(client, "secret", id="s", is_public=False)
    create(client, "other", id="o", is_public=False)

    def names(headers: dict[str, str], query: str = "") -> list[str]:
        r = client.get("/v1/flavors" + query, headers=headers)
        assert r.status_code == 200, r.text
        return [f["name"] for f in r.json()["flavors"]]

    assert names(member("p1")) == ["public"]
    v1_error(client.get("/v1/flavors/s", headers=member("p1")), 404, "flavor_not_found")
    v1_error(client.get("/v1/flavors/secret/extra-specs", headers=member("p1")), 404)

    r = client.post("/v1/flavors/s/access", json={"project_id": "p1"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"flavor_id": "s", "projects": ["p1"]}
    assert client.post("/v1/flavors/secret/access", json={"project_id": "p0"},
                       headers=ADMIN).json()["projects"] == ["p0", "p1"]
    assert client.get("/v1/flavors/s/access", headers=ADMIN).json() == {
        "flavor_id": "s", "projects": ["p0", "p1"]}

    assert names(member("p1")) == ["public", "secret"]
    assert names(member("p1"), "?is_public=false") == ["secret"]
    assert names(member("p1", roles="reader")) == ["public", "secret"]
    assert names(member("p2")) == ["public"]
    assert client.get("/v1/flavors/secret", headers=member("p1")).json()["id"] == "s"
    assert client.get("/v1/flavors/s/extra-specs", headers=member("p1")).status_code == 200
    v1_error(client.get("/v1/flavors/s", headers=member("p2")), 404, "flavor_not_found")

    v1_error(client.post("/v1/flavors/s/access", json={"project_id": "p1"}, headers=ADMIN),
             409, "flavor_access_exists")
    assert client.delete("/v1/flavors/s/access/p1", headers=ADMIN).status_code == 204
    v1_error(client.delete("/v1/flavors/s/access/p1", headers=ADMIN), 404,
             "flavor_access_not_found")
    assert names(member("p1")) == ["public"]
    v1_error(client.post("/v1/flavors/s/access", json={"project_id": ""}, headers=ADMIN), 400,
             "invalid_input", "project_id")
    v1_error(client.post("/v1/flavors/s/access", json={}, headers=ADMIN), 400, "invalid_input",
             "project_id")
    v1_error(client.get("/v1/flavors/nope/access", headers=ADMIN), 404, "flavor_not_found")


def test_access_list_of_a_public_flavor_is_409(client: TestClient) -> None:
    create(client, "public", id="pub")
    for method, url, body in (("GET", "/v1/flavors/pub/access", None),
                              ("POST", "/v1/flavors/pub/access", {"project_id": "p1"}),
                              ("DELETE", "/v1/flavors/pub/access/p1", None)):
        v1_error(client.request(method, url, json=body, headers=ADMIN), 409, "flavor_is_public",
                 None, "public")


def test_deleting_a_flavor_takes_its_specs_and_access(client: TestClient) -> None:
    create(client, "s", id="s", is_public=False, extra_specs={"quota:a": "1"})
    client.post("/v1/flavors/s/access", json={"project_id": "p1"}, headers=ADMIN)
    assert client.delete("/v1/flavors/s", headers=ADMIN).status_code == 204
    again = create(client, "s", id="s", is_public=False)
    assert again["extra_specs"] == {}
    assert client.get("/v1/flavors/s/access", headers=ADMIN).json()["projects"] == []


# -- authentication and policy ------------------------------------------------------------------

def test_without_a_token_every_route_is_401(client: TestClient) -> None:
    create(client, "f", id="f", is_public=False)
    for method, url in (("GET", "/v1/flavors"), ("GET", "/v1/flavors/f"),
                        ("POST", "/v1/flavors"), ("PATCH", "/v1/flavors/f"),
                        ("DELETE", "/v1/flavors/f"), ("GET", "/v1/flavors/f/extra-specs"),
                        ("PUT", "/v1/flavors/f/extra-specs"),
                        ("DELETE", "/v1/flavors/f/extra-specs/k"),
                        ("GET", "/v1/flavors/f/access"), ("POST", "/v1/flavors/f/access"),
                        ("DELETE", "/v1/flavors/f/access/p1")):
        v1_error(client.request(method, url), 401, "unauthenticated", None)


def test_a_non_admin_may_not_change_flavors(client: TestClient) -> None:
    create(client, "f", id="f", is_public=False)
    for (method, url, body), roles in itertools.product((
            ("POST", "/v1/flavors", {"name": "x", "vcpus": 1, "ram_mb": 1}),
            ("PATCH", "/v1/flavors/f", {"description": "x"}),
            ("DELETE", "/v1/flavors/f", None),
            ("PUT", "/v1/flavors/f/extra-specs", {"extra_specs": {"quota:a": "1"}}),
            ("DELETE", "/v1/flavors/f/extra-specs/quota:a", None),
            ("GET", "/v1/flavors/f/access", None),
            ("POST", "/v1/flavors/f/access", {"project_id": "p1"}),
            ("DELETE", "/v1/flavors/f/access/p1", None)), ("member", "reader", "")):
        v1_error(client.request(method, url, json=body, headers=member("p1", roles)), 403,
                 "forbidden", None)
    assert [f["name"] for f in client.get("/v1/flavors", headers=ADMIN).json()["flavors"]] == ["f"]
