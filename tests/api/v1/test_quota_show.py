"""GET /v1/projects/{id}/quota: per resource the effective limit, own and subtree usage,
and the headroom along the chain, naming the project that binds."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from corral.persistence import Store

from .helpers import V1
from .scheduling import booted, flavor
from .test_flavors import v1_error
from .test_projects import plant, tree


@pytest.mark.corrupts_ledger  # usage planted in the ledger, no allocations
def test_limits_usage_and_the_binding_ancestor(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "dept<org", "team<dept", "sibling<dept")
    v1.ok("PUT", "/limits/org", json={"limits": {"cores": 100, "ram": 1000}})
    v1.ok("PUT", "/limits/dept", json={"limits": {"cores": 20}})
    v1.ok("PUT", "/limits/team", json={"limits": {"cores": 16}})
    v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": 50}})
    plant(store, "team", "cores", 4)
    plant(store, "sibling", "cores", 10)  # dept: 14 of 20 -> 6 left, less than team's 12
    plant(store, "sibling", "ram", 900)
    plant(store, "team", "CUSTOM_GPU", 1)  # in use, limited nowhere

    q = v1.ok("GET", "/projects/team/quota")
    assert q["project_id"] == "team" and q["path"] == ["org", "dept", "team"]
    assert q["quota_model"] == "overbook"
    assert q["resources"] == {
        "CUSTOM_GPU": {"limit": -1, "source": "none", "own": 1, "subtree": 1,
                       "headroom": {"room": None, "binding": None}},
        "cores": {"limit": 16, "source": "project", "own": 4, "subtree": 4,
                  "headroom": {"room": 6, "binding": "dept"}},
        "instances": {"limit": 50, "source": "default", "own": 0, "subtree": 0,
                      "headroom": {"room": 50, "binding": "team"}},
        "ram": {"limit": -1, "source": "none", "own": 0, "subtree": 0,
                "headroom": {"room": 100, "binding": "org"}}}
    dept = v1.ok("GET", "/projects/dept/quota")["resources"]
    assert dept["cores"] == {"limit": 20, "source": "project", "own": 0, "subtree": 14,
                             "headroom": {"room": 6, "binding": "dept"}}
    # Over its limit (lowered below usage): no room, never negative.
    v1.ok("PUT", "/limits/team", json={"limits": {"cores": 3}})
    assert v1.ok("GET", "/projects/team/quota")["resources"]["cores"]["headroom"] == {
        "room": 0, "binding": "team"}
    v1_error(v1.get("/projects/ghost/quota"), 404, "project_not_found")


def test_a_boot_shows_in_the_quota_of_its_project_and_ancestors(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "team<org")
    v1.ok("PUT", "/limits/org", json={"limits": {"instances": 3}})
    v1.report("h1")
    flavor(v1, "small", vcpus=2, ram_mb=512, disk_gb=1)
    booted(v1, "vm1", project_id="team")
    team = v1.ok("GET", "/projects/team/quota")["resources"]
    assert {r: (q["own"], q["subtree"]) for r, q in team.items()} == {
        "cores": (2, 2), "disk": (1, 1), "instances": (1, 1), "ram": (512, 512)}
    assert team["instances"]["headroom"] == {"room": 2, "binding": "org"}
    org = v1.ok("GET", "/projects/org/quota")["resources"]
    assert org["instances"] == {"limit": 3, "source": "project", "own": 0, "subtree": 1,
                                "headroom": {"room": 2, "binding": "org"}}


def test_a_role_in_the_project_reads_its_quota(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "p1", "p2")
    reader = v1.as_("bob:p1", "reader")
    assert reader.get("/projects/p1/quota").json()["project_id"] == "p1"
    v1_error(reader.get("/projects/p2/quota"), 403, "forbidden")
