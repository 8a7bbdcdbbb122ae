"""Names where users use names, and input that is wrong rather than unlucky (issue 11,
points 6 and 8).

Everything a user names (server groups, flavors, host aggregates, hosts, projects) is
found by id or by name wherever it is referenced; a name several things carry is a 409
``ambiguous_name`` listing their ids. A zone, a hinted instance or a token's project
that does not exist is the caller's mistake (4xx naming the field), never a "no valid
host" and never silently accepted. A dry run answers what the boot would, quotas
included. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from .helpers import V1, assert_v1_error
from .scheduling import flavor

ALICE = ("alice:p1", "member")


def setup(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    flavor(v1, "small")


def group(v1: V1, name: str, project: str = "p1", policy: str = "anti-affinity") -> str:
    found: str = v1.ok("POST", "/server-groups", 201, json={
        "name": name, "policy": policy, "project_id": project})["id"]
    return found


def boot(v1: V1, **body: Any) -> Any:
    if v1.token == "admin":
        body.setdefault("project_id", "p1")
    return v1.post("/instances", json={"name": "vm", "flavor": "small", **body})


# -- point 6: names ----------------------------------------------------------------------------

def test_a_boot_joins_a_server_group_by_name(v1: V1) -> None:
    """The README's example: create 'web', then boot with --server-group web."""
    setup(v1)
    gid = group(v1, "web")
    r = boot(v1, server_group="web", count=2)
    assert r.status_code == 201, r.text
    assert {i["server_group"] for i in r.json()["instances"]} == {gid}
    assert {i["host"] for i in r.json()["instances"]} == {"cn1", "cn2"}  # anti-affinity
    assert sorted(v1.ok("GET", "/server-groups/web")["members"]) == sorted(
        i["id"] for i in r.json()["instances"])


def test_a_member_resolves_only_its_own_projects_group_names(v1: V1) -> None:
    setup(v1)
    group(v1, "web", project="p2")
    alice = v1.as_(*ALICE)
    assert_v1_error(boot(alice, server_group="web"), 404, code="server_group_not_found",
                    field="server_group")
    assert_v1_error(alice.get("/server-groups/web"), 404, code="server_group_not_found")
    mine = group(v1, "web", project="p1")  # now p1 has one too: no ambiguity for alice
    assert alice.ok("GET", "/server-groups/web")["id"] == mine
    r = boot(alice, server_group="web")
    assert r.status_code == 201, r.text
    assert r.json()["instances"][0]["server_group"] == mine


def test_an_ambiguous_name_is_a_409_listing_the_ids(v1: V1) -> None:
    setup(v1)
    ids = sorted([group(v1, "web"), group(v1, "web")])
    error = assert_v1_error(boot(v1, server_group="web"), 409, code="ambiguous_name",
                            field="server_group")
    assert all(i in error["message"] for i in ids), error
    error = assert_v1_error(v1.get("/server-groups/web"), 409, code="ambiguous_name")
    assert all(i in error["message"] for i in ids), error
    assert_v1_error(v1.delete("/server-groups/web"), 409, code="ambiguous_name")
    assert v1.ok("GET", f"/server-groups/{ids[0]}")["id"] == ids[0]  # the id still works
    v1.ok("DELETE", f"/server-groups/{ids[0]}", 204)
    v1.ok("DELETE", "/server-groups/web", 204)  # the name is unique again
    assert v1.ok("GET", "/server-groups")["server_groups"] == []


def test_aggregates_and_hosts_by_id_or_name(v1: V1) -> None:
    setup(v1)
    agg = v1.aggregate("gold")
    host = v1.host("cn1")
    v1.ok("POST", f"/aggregates/{agg['uuid']}/hosts", json={"host": host["provider_uuid"]})
    assert v1.ok("GET", f"/aggregates/{agg['uuid']}")["hosts"] == ["cn1"]
    assert v1.ok("GET", f"/hosts/{host['provider_uuid']}")["name"] == "cn1"
    v1.ok("PATCH", f"/hosts/{host['provider_uuid']}", json={"enabled": False,
                                                          "disabled_reason": "maintenance"})
    assert v1.host("cn1")["enabled"] is False
    assert_v1_error(v1.post("/aggregates/gold/hosts", json={"host": "cn9"}), 404,
                    code="host_not_found", field="host")


def test_projects_by_id_or_name(v1: V1) -> None:
    v1.ok("POST", "/projects", 201, json={"id": "8d1c", "name": "research"})
    v1.ok("POST", "/projects", 201, json={"id": "team", "parent_id": "research"})
    assert v1.ok("GET", "/projects/research")["id"] == "8d1c"
    assert v1.ok("GET", "/projects/team")["parent_id"] == "8d1c"
    v1.ok("PUT", "/limits/research", json={"limits": {"cores": 10}})
    assert v1.ok("GET", "/limits/8d1c")["limits"] == {"cores": 10}
    made = v1.ok("POST", "/tokens", 201, json={"role": "reader", "project_id": "research"})
    assert made["project_id"] == "8d1c"
    v1.ok("POST", "/projects", 201, json={"id": "other", "name": "research"})
    error = assert_v1_error(v1.get("/projects/research"), 409, code="ambiguous_name")
    assert "8d1c" in error["message"] and "other" in error["message"]


# -- point 8: wrong input ---------------------------------------------------------------------

def test_an_unknown_zone_is_a_400_listing_the_zones(v1: V1) -> None:
    setup(v1)
    v1.aggregate("a", availability_zone="az1")
    v1.aggregate("b", availability_zone="az2")
    for body in ({}, {"dry_run": True}):
        error = assert_v1_error(boot(v1, availability_zone="az3", **body), 400,
                                code="unknown_availability_zone", field="availability_zone")
        assert "'az3'" in error["message"] and "az1, az2" in error["message"], error
    assert v1.ok("GET", "/decisions")["decisions"] == []  # not a scheduling refusal


def test_a_hint_naming_no_instance_is_a_400(v1: V1) -> None:
    setup(v1)
    missing = "5b0ad1c8-3c39-4bcf-9d3e-0d1f1d1f4a40"
    for hint in ("same_host", "different_host"):
        error = assert_v1_error(boot(v1, hints={hint: [missing]}), 400, code="invalid_input",
                                field=f"hints.{hint}")
        assert missing in error["message"]
    theirs = boot(v1, project_id="p2").json()["instances"][0]["id"]
    alice = v1.as_(*ALICE)
    assert_v1_error(boot(alice, hints={"same_host": [theirs]}), 400, field="hints.same_host")
    assert v1.ok("GET", "/decisions")["decisions"][0]["outcome"] == "scheduled"  # p2's only


def test_an_unknown_flavor_or_group_names_the_field(v1: V1) -> None:
    setup(v1)
    assert_v1_error(boot(v1, flavor="nope", server_group="web"), 404,
                    code="flavor_not_found", field="flavor")
    assert_v1_error(boot(v1, server_group="web"), 404, code="server_group_not_found",
                    field="server_group")


def test_a_token_for_a_project_that_does_not_exist_is_refused(v1: V1) -> None:
    assert_v1_error(v1.post("/tokens", json={"role": "member", "project_id": "ghost"}), 404,
                    code="project_not_found", field="project_id")
    assert v1.ok("GET", "/tokens")["tokens"] == []
    assert v1.ok("GET", "/projects")["projects"] == []


def test_an_admin_names_the_project_it_boots_and_groups_in(v1: V1) -> None:
    setup(v1)
    assert_v1_error(v1.post("/instances", json={"name": "vm", "flavor": "small"}), 400,
                    code="invalid_input", field="project_id")
    assert_v1_error(v1.post("/server-groups", json={"name": "g", "policy": "affinity"}), 400,
                    code="invalid_input", field="project_id")
    assert v1.ok("GET", "/projects")["projects"] == []  # no "admin" project appeared
    alice = v1.as_(*ALICE)  # a project's member still boots in its own project
    r = boot(alice)
    assert r.status_code == 201, r.text
    assert r.json()["instances"][0]["project_id"] == "p1"


def test_a_dry_run_answers_what_the_boot_would_quota_included(v1: V1) -> None:
    setup(v1)
    v1.ok("POST", "/projects", 201, json={"id": "p1"})
    v1.ok("PUT", "/limits/p1", json={"limits": {"instances": 2}})
    assert boot(v1).status_code == 201
    dry = boot(v1, count=4, dry_run=True)
    real = boot(v1, count=4)
    assert (dry.status_code, real.status_code) == (403, 403), (dry.text, real.text)
    strip = ("request_id",)
    assert ({k: v for k, v in dry.json()["error"].items() if k not in strip}
            == {k: v for k, v in real.json()["error"].items() if k not in strip})
    assert dry.json()["error"]["code"] == "quota_exceeded"
    fits = boot(v1, dry_run=True)  # one more fits: the dry run says so, claims nothing
    assert fits.status_code == 200 and fits.json()["fits"] == 1, fits.text
    usage = v1.ok("GET", "/projects/p1/quota")["resources"]["instances"]
    assert (usage["own"], usage["subtree"]) == (1, 1)


def test_a_dry_run_checks_the_group_member_limit(v1: V1) -> None:
    setup(v1)
    v1.ok("POST", "/projects", 201, json={"id": "p1"})
    v1.ok("PUT", "/limits/p1", json={"limits": {"server_group_members": 1}})
    group(v1, "web", policy="soft-affinity")
    dry = boot(v1, server_group="web", count=2, dry_run=True)
    real = boot(v1, server_group="web", count=2)
    assert dry.status_code == real.status_code == 403, (dry.text, real.text)
    assert dry.json()["error"]["message"] == real.json()["error"]["message"]
