"""/v1/limits over HTTP: per-project and default limits, the overbook and strict models
checked when a limit is written, and limits lowered below usage (allowed, reported)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.config import Settings
from corral.persistence import Store

from .helpers import V1
from .test_flavors import v1_error
from .test_projects import plant, revision, tree


@pytest.fixture
def strict(store: Store, tmp_path: Path) -> Iterator[V1]:
    """An app in the strict allocation model over the test's store."""
    app = create_app(Settings(data_dir=str(tmp_path), quota_model="strict"), store)
    with TestClient(app) as c:
        yield V1(c)


def limits(v1: V1, project: str) -> dict[str, object]:
    found: dict[str, object] = v1.ok("GET", f"/limits/{project}")
    return found


def test_set_merge_show_and_unset(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "p")
    before = revision(store)
    r = v1.ok("PUT", "/limits/p", json={"limits": {"cores": 10, "ram": 4096}})
    assert r == {"project_id": "p", "limits": {"cores": 10, "ram": 4096},
                 "effective": {"cores": {"limit": 10, "source": "project"},
                               "ram": {"limit": 4096, "source": "project"}},
                 "warnings": []}
    assert revision(store) == before + 1
    v1.ok("PUT", "/limits/p", json={"limits": {"cores": 12, "CUSTOM_GPU": 2,
                                               "instances": -1}})
    v1.ok("PUT", "/limits/defaults", json={"limits": {"disk": 100, "cores": 4}})
    assert limits(v1, "p") == {
        "project_id": "p", "limits": {"CUSTOM_GPU": 2, "cores": 12, "instances": -1,
                                      "ram": 4096},
        "effective": {"CUSTOM_GPU": {"limit": 2, "source": "project"},
                      "cores": {"limit": 12, "source": "project"},
                      "disk": {"limit": 100, "source": "default"},
                      "instances": {"limit": -1, "source": "project"},
                      "ram": {"limit": 4096, "source": "project"}}}
    assert v1.delete("/limits/p/cores").status_code == 204
    assert limits(v1, "p")["effective"]["cores"] == {  # type: ignore[index]
        "limit": 4, "source": "default"}
    v1_error(v1.delete("/limits/p/cores"), 404, "limit_not_found", None, "cores")
    v1_error(v1.get("/limits/ghost"), 404, "project_not_found")
    v1_error(v1.put("/limits/ghost", json={"limits": {"cores": 1}}), 404, "project_not_found")


def test_bad_limits_are_refused_naming_the_field(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "p")
    v1.ok("PUT", "/limits/p", json={"limits": {"cores": 3}})
    before = revision(store)
    for body, field, fragment in (
            ({"limits": {"VCPU": 2}}, "limits.VCPU", "counted as 'cores'"),
            ({"limits": {"nope": 2}}, "limits.nope", "not a quota resource"),
            ({"limits": {"cores": -2}}, "limits.cores", "-1 for unlimited"),
            ({"limits": {"cores": "2"}}, "limits.cores", ""),
            ({"limits": {"cores": True}}, "limits.cores", ""),
            ({"limits": {}}, "limits", "at least one"),
            ({"cores": 2}, "limits", "cores: Extra inputs")):
        for path in ("/limits/p", "/limits/defaults"):
            v1_error(v1.put(path, json=body), 400, "invalid_input", field, fragment)
    assert revision(store) == before
    assert limits(v1, "p")["limits"] == {"cores": 3}
    assert v1.ok("GET", "/limits/defaults") == {"limits": {}}


def test_overbook_a_child_may_not_exceed_an_ancestor(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "dept<org", "team<dept", "other<dept")
    # Unlimited ancestors allow anything, -1 too.
    v1.ok("PUT", "/limits/team", json={"limits": {"cores": 100, "ram": -1}})
    v1.ok("PUT", "/limits/dept", json={"limits": {"cores": 100}})
    # A parent may not go below a child's limit, nor an ancestor further up.
    err = v1_error(v1.put("/limits/org", json={"limits": {"cores": 50}}), 400,
                   "limit_conflict", "limits.cores")
    assert "'dept'" in err["message"] and "'org'" in err["message"], err
    # A limited parent refuses an unlimited child.
    err = v1_error(v1.put("/limits/dept", json={"limits": {"ram": 10}}), 400,
                   "limit_conflict", "limits.ram", "'team'", "'dept'", "unlimited")
    # A child above its parent, or above a grandparent, is refused.
    v1.ok("PUT", "/limits/org", json={"limits": {"cores": 120}})
    v1_error(v1.put("/limits/team", json={"limits": {"cores": 101}}), 400, "limit_conflict",
             "limits.cores", "'team' (101)", "'dept' (100)")
    v1.ok("PUT", "/limits/dept", json={"limits": {"cores": 120}})
    # Overbook: children may add up to more than their parent.
    v1.ok("PUT", "/limits/other", json={"limits": {"cores": 100}})
    assert limits(v1, "team")["limits"] == {"cores": 100, "ram": -1}


def test_overbook_defaults_count_as_the_effective_limit(client: TestClient) -> None:
    v1 = V1(client)
    tree(v1, "org", "team<org")
    v1.ok("PUT", "/limits/defaults", json={"limits": {"cores": 20}})
    # org has no limit of its own: the default (20) is its effective limit.
    v1_error(v1.put("/limits/team", json={"limits": {"cores": 50}}), 400, "limit_conflict",
             "limits.cores", "'org' (20)")
    v1.ok("PUT", "/limits/team", json={"limits": {"cores": 15}})
    # A default below a child's own limit, under a parent relying on it, is refused.
    v1_error(v1.put("/limits/defaults", json={"limits": {"cores": 10}}), 400,
             "limit_conflict", "limits.cores", "'team' (15)", "'org' (10)")
    # Unsetting the default makes org unlimited again: allowed.
    assert v1.delete("/limits/defaults/cores").status_code == 204
    v1_error(v1.delete("/limits/defaults/cores"), 404, "limit_not_found")
    v1.ok("PUT", "/limits/team", json={"limits": {"cores": 50}})


def test_strict_children_may_not_add_up_to_more_than_the_parent(strict: V1) -> None:
    tree(strict, "org")
    strict.ok("PUT", "/limits/org", json={"limits": {"cores": 10}})
    # A child with no limit under a limited parent would be unlimited: refused.
    v1_error(strict.post("/projects", json={"id": "a", "parent_id": "org"}), 409,
             "move_breaks_limits", None, "'a'", "unlimited", "'org'")
    # With limits of its own it fits (400 when they do not).
    strict.ok("POST", "/projects", 201, json={"id": "a", "parent_id": "org",
                                              "limits": {"cores": 6}})
    v1_error(strict.post("/projects", json={"id": "b", "parent_id": "org",
                                            "limits": {"cores": 5}}), 400,
             "limit_conflict", "limits.cores", "add up to 11", "'org'")
    strict.ok("POST", "/projects", 201, json={"id": "b", "parent_id": "org",
                                              "limits": {"cores": 4}})
    v1_error(strict.put("/limits/a", json={"limits": {"cores": 7}}), 400, "limit_conflict",
             "limits.cores", "children of project 'org'", "add up to 11", "10")
    v1_error(strict.put("/limits/org", json={"limits": {"cores": 9}}), 400, "limit_conflict")
    strict.ok("PUT", "/limits/org", json={"limits": {"cores": 12}})
    strict.ok("PUT", "/limits/a", json={"limits": {"cores": 8}})
    # server_group_members is a per-group cap, not a pool: never summed.
    strict.ok("PUT", "/limits/org", json={"limits": {"server_group_members": 5}})
    strict.ok("PUT", "/limits/a", json={"limits": {"server_group_members": 5}})
    strict.ok("PUT", "/limits/b", json={"limits": {"server_group_members": 5}})


def test_strict_a_child_without_a_limit_takes_the_default(strict: V1) -> None:
    tree(strict, "org")
    strict.ok("PUT", "/limits/defaults", json={"limits": {"cores": 4}})
    strict.ok("PUT", "/limits/org", json={"limits": {"cores": 10}})
    tree(strict, "a<org", "b<org")  # 4 + 4 <= 10
    v1_error(strict.post("/projects", json={"id": "c", "parent_id": "org"}), 409,
             "move_breaks_limits", None, "add up to 12")
    # Raising the default would make a and b add up to more than org.
    v1_error(strict.put("/limits/defaults", json={"limits": {"cores": 6}}), 400,
             "limit_conflict", "limits.cores", "'org'")
    # Removing it would leave a and b unlimited under org.
    v1_error(strict.delete("/limits/defaults/cores"), 400, "limit_conflict", "resource",
             "unlimited")
    # Moving a limited project in needs room in the sum.
    tree(strict, "x")
    strict.ok("PUT", "/limits/x", json={"limits": {"cores": 3}})
    v1_error(strict.patch("/projects/x", json={"parent_id": "org"}), 409,
             "move_breaks_limits", None, "add up to 11")
    strict.ok("PUT", "/limits/x", json={"limits": {"cores": 2}})
    strict.ok("PATCH", "/projects/x", json={"parent_id": "org"})


@pytest.mark.corrupts_ledger  # usage planted in the ledger, no allocations
def test_a_limit_below_usage_is_set_and_reported(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "org", "team<org", "idle<org")
    plant(store, "team", "cores", 6)
    r = v1.ok("PUT", "/limits/team", json={"limits": {"cores": 4, "ram": 10}})
    assert r["limits"] == {"cores": 4, "ram": 10}
    assert r["warnings"] == [{"project_id": "team", "resource": "cores", "limit": 4,
                              "in_use": 6}]
    # The subtree counts: org holds team's 6.
    r = v1.ok("PUT", "/limits/org", json={"limits": {"cores": 5}})
    assert r["warnings"] == [{"project_id": "org", "resource": "cores", "limit": 5,
                              "in_use": 6}]
    # Defaults warn for the projects relying on them (team and org have their own).
    plant(store, "idle", "instances", 3)
    r = v1.ok("PUT", "/limits/defaults", json={"limits": {"instances": 2}})
    assert r == {"limits": {"instances": 2}, "warnings": [
        {"project_id": "idle", "resource": "instances", "limit": 2, "in_use": 3},
        {"project_id": "org", "resource": "instances", "limit": 2, "in_use": 3}]}


def test_only_managers_change_limits(client: TestClient, store: Store) -> None:
    v1 = V1(client)
    tree(v1, "p1", "p2")
    v1.ok("PUT", "/limits/p1", json={"limits": {"cores": 4}})
    member = v1.as_("alice:p1", "member")
    before = revision(store)
    for method, path, body in (("PUT", "/limits/p1", {"limits": {"cores": 400}}),
                               ("PUT", "/limits/p2", {"limits": {"cores": 1}}),
                               ("DELETE", "/limits/p1/cores", None),
                               ("PUT", "/limits/defaults", {"limits": {"cores": 1}}),
                               ("DELETE", "/limits/defaults/cores", None),
                               ("GET", "/limits/p2", None)):
        v1_error(member.request(method, path, json=body), 403, "forbidden")
    assert revision(store) == before
    assert member.get("/limits/p1").json()["limits"] == {"cores": 4}
    assert member.get("/limits/defaults").json() == {"limits": {}}
