"""POST /reshaper (1.30): inventory and the allocations against it move together.

The scenario is the one the reshaper exists for: a compute node that reported its VCPU
itself starts reporting it from NUMA children, and the instances' allocations must
follow in the same transaction. Only the service role may reshape (new defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Api  # tests/conftest.py (tests/ is on sys.path)
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .helpers import assert_error, generation, new_uuid

SERVICE = {"x-auth-token": "nova:service", "x-roles": "service"}
CONFLICT = "placement.concurrent_update"


def reshape(api: Any, data: Any, version: str = "1.30",
            headers: dict[str, str] | None = None) -> Any:
    return api.post("/reshaper", json=data, version=version,
                    headers=SERVICE if headers is None else headers)


def held(api: Any, consumer: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/allocations/{consumer}").json()
    return body


def usages(api: Any, rp: str) -> dict[str, int]:
    out: dict[str, int] = api.get(f"/resource_providers/{rp}/usages").json()["usages"]
    return out


def inventory(api: Any, rp: str) -> dict[str, Any]:
    out: dict[str, Any] = api.get(f"/resource_providers/{rp}/inventories").json()["inventories"]
    return out


def put(api: Any, consumer: str, allocs: dict[str, dict[str, int]]) -> None:
    r = api.put(f"/allocations/{consumer}", version="1.37", json={
        "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
        "project_id": "proj", "user_id": "user", "consumer_generation": None})
    assert r.status_code == 204, r.text


def consumer_body(allocs: dict[str, dict[str, int]], gen: int | None,
                  **extra: Any) -> dict[str, Any]:
    return {"allocations": {rp: {"resources": res} for rp, res in allocs.items()},
            "project_id": "proj", "user_id": "user", "consumer_generation": gen, **extra}


@pytest.fixture
def host(api: Any) -> dict[str, str]:
    """cn: 8 VCPU, 4096 MB; vm1 holds 2 VCPU + 512 MB, vm2 1 VCPU; numa0/numa1: empty
    children, ready to receive the VCPU."""
    cn = api.create_provider("cn")["uuid"]
    api.set_inventory(cn, {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}})
    vm1, vm2 = new_uuid(), new_uuid()
    put(api, vm1, {cn: {"VCPU": 2, "MEMORY_MB": 512}})
    put(api, vm2, {cn: {"VCPU": 1}})
    numa0 = api.create_provider("numa0", parent_provider_uuid=cn)["uuid"]
    numa1 = api.create_provider("numa1", parent_provider_uuid=cn)["uuid"]
    return {"cn": cn, "numa0": numa0, "numa1": numa1, "vm1": vm1, "vm2": vm2}


def move_vcpu(api: Any, host: dict[str, str], *, numa_total: int = 4,
              vm2_to: str = "numa1") -> dict[str, Any]:
    """The request that moves VCPU from cn to its NUMA children, with vm1 and vm2."""
    cn, numa0 = host["cn"], host["numa0"]
    return {
        "inventories": {
            cn: {"resource_provider_generation": generation(api, cn),
                 "inventories": {"MEMORY_MB": {"total": 4096}}},
            numa0: {"resource_provider_generation": generation(api, numa0),
                    "inventories": {"VCPU": {"total": numa_total}}},
            host["numa1"]: {"resource_provider_generation": generation(api, host["numa1"]),
                            "inventories": {"VCPU": {"total": numa_total}}},
        },
        "allocations": {
            host["vm1"]: consumer_body({cn: {"MEMORY_MB": 512}, numa0: {"VCPU": 2}}, 1),
            host["vm2"]: consumer_body({host[vm2_to]: {"VCPU": 1}}, 1),
        },
    }


def assert_untouched(api: Any, host: dict[str, str], gens: dict[str, int]) -> None:
    cn = host["cn"]
    assert set(inventory(api, cn)) == {"VCPU", "MEMORY_MB"}
    assert inventory(api, host["numa0"]) == {}
    assert usages(api, cn) == {"VCPU": 3, "MEMORY_MB": 512}
    assert held(api, host["vm1"])["allocations"][cn]["resources"] == {"VCPU": 2,
                                                                       "MEMORY_MB": 512}
    assert held(api, host["vm1"])["consumer_generation"] == 1
    assert {rp: generation(api, host[rp]) for rp in gens} == gens


def generations(api: Any, host: dict[str, str]) -> dict[str, int]:
    return {rp: generation(api, host[rp]) for rp in ("cn", "numa0", "numa1")}


#: For answers that do not depend on the database (parsing, validation, policy): one
#: backend is enough, and keeps the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

# -- the route ------------------------------------------------------------------------------

@SQLITE_ONLY
def test_reshaper_is_404_before_1_30(api: Any, host: dict[str, str]) -> None:
    assert_error(reshape(api, move_vcpu(api, host), version="1.29"), 404, version="1.29")


@SQLITE_ONLY
def test_reshaper_only_takes_post(api: Any) -> None:
    r = api.get("/reshaper", version="1.30", headers=SERVICE)
    assert_error(r, 405, version="1.30")
    assert r.headers["allow"] == "POST"


@SQLITE_ONLY
def test_only_the_service_role_may_reshape(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    for token, roles in [("admin", "admin"), ("u:p", "member"), ("u:p", "reader"),
                         ("admin", "admin,member")]:
        r = reshape(api, move_vcpu(api, host), headers={"x-auth-token": token, "x-roles": roles})
        assert_error(r, 403, version="1.30")
    assert_untouched(api, host, gens)


@pytest.fixture
def legacy_api(store: Store, tmp_path: Path) -> Iterator[Api]:
    settings = Settings(data_dir=str(tmp_path), enforce_new_defaults=False)
    with TestClient(create_app(settings, store)) as c:
        yield Api(c)


def test_legacy_defaults_let_admin_reshape(legacy_api: Any, host: dict[str, str]) -> None:
    r = reshape(legacy_api, move_vcpu(legacy_api, host), headers={"x-auth-token": "admin"})
    assert r.status_code == 204, r.text


# -- the move -------------------------------------------------------------------------------

def test_move_vcpu_to_numa_children_with_the_allocations(api: Any,
                                                         host: dict[str, str]) -> None:
    cn, numa0, numa1 = host["cn"], host["numa0"], host["numa1"]
    before = generations(api, host)
    r = reshape(api, move_vcpu(api, host))
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert set(inventory(api, cn)) == {"MEMORY_MB"}
    assert inventory(api, numa0)["VCPU"]["total"] == 4
    assert (usages(api, cn), usages(api, numa0), usages(api, numa1)) == (
        {"MEMORY_MB": 512}, {"VCPU": 2}, {"VCPU": 1})
    vm1 = held(api, host["vm1"])
    assert {rp: a["resources"] for rp, a in vm1["allocations"].items()} == {
        cn: {"MEMORY_MB": 512}, numa0: {"VCPU": 2}}
    assert vm1["consumer_generation"] == 2
    after = generations(api, host)
    assert all(after[rp] > before[rp] for rp in before), (before, after)
    # Candidates see the new shape straight away.
    r = api.get("/allocation_candidates", params={"resources": "VCPU:3"})
    assert {next(iter(ar["allocations"])) for ar in r.json()["allocation_requests"]} == {numa1}


def test_move_back_and_a_new_consumer(api: Any, host: dict[str, str]) -> None:
    assert reshape(api, move_vcpu(api, host)).status_code == 204
    cn, numa0, numa1 = host["cn"], host["numa0"], host["numa1"]
    vm3 = new_uuid()
    r = reshape(api, {
        "inventories": {
            cn: {"resource_provider_generation": generation(api, cn),
                 "inventories": {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}}},
            numa0: {"resource_provider_generation": generation(api, numa0), "inventories": {}},
            numa1: {"resource_provider_generation": generation(api, numa1), "inventories": {}},
        },
        "allocations": {
            host["vm1"]: consumer_body({cn: {"VCPU": 2, "MEMORY_MB": 512}}, 2),
            host["vm2"]: consumer_body({cn: {"VCPU": 1}}, 2),
            vm3: consumer_body({cn: {"VCPU": 1}}, None),
        }})
    assert r.status_code == 204, r.text
    assert usages(api, cn) == {"VCPU": 4, "MEMORY_MB": 512}
    assert inventory(api, numa0) == {}
    assert held(api, vm3)["consumer_generation"] == 1


def test_a_consumer_given_no_allocations_is_dropped(api: Any, host: dict[str, str]) -> None:
    data = move_vcpu(api, host)
    data["allocations"][host["vm2"]] = consumer_body({}, 1)
    assert reshape(api, data).status_code == 204
    assert held(api, host["vm2"]) == {"allocations": {}}
    assert usages(api, host["numa1"]) == {"VCPU": 0}


# -- refusals: nothing moves ----------------------------------------------------------------

def test_stale_provider_generation_is_409(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host)
    data["inventories"][host["numa0"]]["resource_provider_generation"] += 1
    assert_error(reshape(api, data), 409, version="1.30", code=CONFLICT,
                 detail="resource provider generation conflict")
    assert_untouched(api, host, gens)


def test_stale_consumer_generation_is_409(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host)
    data["allocations"][host["vm2"]]["consumer_generation"] = None
    assert_error(reshape(api, data), 409, version="1.30", code=CONFLICT,
                 detail="consumer generation conflict")
    assert_untouched(api, host, gens)


def test_removing_a_class_another_consumer_uses_is_409(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host)
    del data["allocations"][host["vm2"]]  # vm2 keeps 1 VCPU on cn, which loses its VCPU
    entry = assert_error(reshape(api, data), 409, version="1.30",
                         code="placement.inventory.inuse")
    assert "VCPU" in entry["detail"] and host["cn"] in entry["detail"]
    assert_untouched(api, host, gens)


@pytest.mark.parametrize("problem", ["capacity", "max_unit", "no inventory"])
def test_a_claim_that_does_not_fit_the_new_inventory_is_409(api: Any, host: dict[str, str],
                                                            problem: str) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host, numa_total=1 if problem == "capacity" else 4)
    if problem == "max_unit":
        data["inventories"][host["numa0"]]["inventories"]["VCPU"]["max_unit"] = 1
    if problem == "no inventory":
        data["allocations"][host["vm2"]]["allocations"] = {
            host["numa1"]: {"resources": {"MEMORY_MB": 1}}}
    entry = assert_error(reshape(api, data), 409, version="1.30")
    assert "Unable to allocate inventory" in entry["detail"]
    assert_untouched(api, host, gens)


def test_unknown_provider_in_inventories_is_400(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host)
    ghost = new_uuid()
    data["inventories"][ghost] = {"resource_provider_generation": 0,
                                  "inventories": {"VCPU": {"total": 1}}}
    assert_error(reshape(api, data), 400, version="1.30",
                 code="placement.resource_provider.not_found", detail=ghost)
    assert_untouched(api, host, gens)


def test_unknown_provider_or_class_in_allocations_is_400(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    for bad in ({new_uuid(): {"resources": {"VCPU": 1}}},
                {host["numa1"]: {"resources": {"CUSTOM_NOPE": 1}}}):
        data = move_vcpu(api, host)
        data["allocations"][host["vm2"]]["allocations"] = bad
        assert_error(reshape(api, data), 400, version="1.30")
    assert_untouched(api, host, gens)


@SQLITE_ONLY
def test_invalid_inventory_is_400(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    data = move_vcpu(api, host)
    data["inventories"][host["numa0"]]["inventories"]["VCPU"] = {"total": 4, "reserved": 5}
    assert_error(reshape(api, data), 400, version="1.30", detail="reserved")
    assert_untouched(api, host, gens)


@SQLITE_ONLY
def test_malformed_bodies_are_400(api: Any, host: dict[str, str]) -> None:
    gens = generations(api, host)
    good = move_vcpu(api, host)
    invs, allocs = good["inventories"], good["allocations"]
    for data in [
        {"cows": "moo"},
        {"inventories": invs},
        {"allocations": allocs},
        {"inventories": {}, "allocations": allocs},
        {"inventories": {"not-a-uuid": {"resource_provider_generation": 0, "inventories": {}}},
         "allocations": allocs},
        {"inventories": {k: {"inventories": v["inventories"]} for k, v in invs.items()},
         "allocations": allocs},
        {"inventories": invs,
         "allocations": {k: {**v, "consumer_generation": "one"} for k, v in allocs.items()}},
        {"inventories": invs,
         "allocations": {k: {kk: vv for kk, vv in v.items() if kk != "consumer_generation"}
                         for k, v in allocs.items()}},
    ]:
        assert_error(reshape(api, data), 400, version="1.30", detail="JSON does not validate")
    assert_untouched(api, host, gens)


# -- microversions of the body --------------------------------------------------------------

@SQLITE_ONLY
def test_mappings_are_accepted_from_1_34(api: Any, host: dict[str, str]) -> None:
    data = move_vcpu(api, host)
    data["allocations"][host["vm2"]]["mappings"] = {"": [host["numa1"]]}
    assert_error(reshape(api, data, version="1.33"), 400, version="1.33", detail="mappings")
    assert reshape(api, data, version="1.34").status_code == 204


@SQLITE_ONLY
def test_consumer_type_is_required_from_1_38(api: Any, host: dict[str, str]) -> None:
    data = move_vcpu(api, host)
    assert_error(reshape(api, data, version="1.38"), 400, detail="consumer_type")
    for body in data["allocations"].values():
        body["consumer_type"] = "INSTANCE"
    assert_error(reshape(api, data, version="1.37"), 400, version="1.37",
                 detail="consumer_type")
    assert reshape(api, data, version="1.38").status_code == 204
    assert held(api, host["vm1"])["consumer_type"] == "INSTANCE"


def test_reshape_moves_generations_as_placement(api: Any, host: dict[str, str]) -> None:
    # Placement writes a reshaped provider's inventory twice around the allocations (once
    # only when the new inventory is empty) and moves each provider allocated to once
    # (issue 11, reshaper.yaml): cn keeps memory and allocations, numa0 gets VCPU and
    # vm1, numa1 gets VCPU and vm2.
    before = generations(api, host)
    assert reshape(api, move_vcpu(api, host)).status_code == 204
    assert generations(api, host) == {"cn": before["cn"] + 3, "numa0": before["numa0"] + 3,
                                      "numa1": before["numa1"] + 3}
    # An emptied inventory moves once; a provider only left by allocations stays.
    cn, numa0, numa1 = host["cn"], host["numa0"], host["numa1"]
    before = generations(api, host)
    assert reshape(api, {
        "inventories": {numa1: {"resource_provider_generation": before["numa1"],
                                "inventories": {}}},
        "allocations": {host["vm2"]: consumer_body({numa0: {"VCPU": 1}}, 2)},
    }).status_code == 204
    assert generations(api, host) == {"cn": before["cn"], "numa0": before["numa0"] + 1,
                                      "numa1": before["numa1"] + 1}
    assert usages(api, numa1) == {} and usages(api, numa0) == {"VCPU": 3}
    assert usages(api, cn) == {"MEMORY_MB": 512}
