"""The 409 'no valid host' explanation: structural or transient, buckets in operator
words with figures for admins, nearest misses, and what a project member sees."""

from __future__ import annotations

from typing import Any

from .helpers import V1
from .scheduling import boot as boot_
from .scheduling import booted, flavor, refused

MEMBER = ("alice:p1", "member")


def test_a_flavor_larger_than_every_max_unit_is_structural(v1: V1) -> None:
    v1.report("cn1", vcpus=8)
    v1.report("cn2", vcpus=4)
    flavor(v1, "wide", vcpus=9)
    explanation = refused(boot_(v1, flavor="wide"), "no_capacity", filter="resources",
                          resource_class="VCPU", kind="structural", retry_can_help=False)
    (bucket,) = explanation["buckets"]
    assert bucket["message"] == ("2 hosts: needs 9 vCPUs on one provider; the largest "
                                 "allowed there is 8 vCPUs (max_unit)")
    assert bucket["figures"] == {"needed": 9, "largest_max_unit": 8}
    assert sorted(bucket["host_names"]) == ["cn1", "cn2"]
    assert "retrying will not help" in v1.post("/instances", json={
        "name": "x", "flavor": "wide", "project_id": "p1"}).json()["error"]["message"]


def test_a_zone_no_host_is_in_is_structural(v1: V1) -> None:
    v1.report("cn1")
    v1.aggregate("az", availability_zone="zone-a")
    v1.add("az", "cn1")
    v1.aggregate("sunk", availability_zone="atlantis")  # a zone with no host in it
    flavor(v1, "small")
    explanation = refused(boot_(v1, availability_zone="atlantis"), "constraint_unsatisfiable",
                          filter="availability_zone", constraint="zone", kind="structural")
    assert explanation["buckets"][0]["message"] == "1 hosts: not in availability zone atlantis"


def test_an_anti_affinity_group_filling_every_eligible_host_is_structural(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    v1.report("elsewhere")
    v1.aggregate("az", availability_zone="zone-b")
    v1.add("az", "elsewhere")
    flavor(v1, "small")
    gid = v1.ok("POST", "/server-groups", 201,
                json={"name": "g", "policy": "anti-affinity", "project_id": "p1"})["id"]
    booted(v1, "m1", server_group=gid)
    booted(v1, "m2", server_group=gid)
    # 'elsewhere' is empty but in another zone: the group fills every eligible host.
    v1.aggregate("az-a", availability_zone="zone-a")
    v1.add("az-a", "cn1")
    v1.add("az-a", "cn2")
    explanation = refused(boot_(v1, "m3", server_group=gid, availability_zone="zone-a"),
                          "constraint_unsatisfiable", filter="server_group",
                          constraint="group_policy", kind="structural")
    assert {b["filter"]: b["hosts"] for b in explanation["buckets"]} == {
        "availability_zone": 1, "server_group": 2}
    # Without the zone, 'elsewhere' could take it: the same group is then not full.
    assert booted(v1, "m3", server_group=gid)["host"] == "elsewhere"


def test_hosts_full_but_big_enough_when_empty_is_transient(v1: V1) -> None:
    v1.report("cn1", memory_mb=4096)  # 3584 MB usable
    flavor(v1, "half", ram_mb=2048)
    booted(v1, "a", "half")
    explanation = refused(boot_(v1, flavor="half"), "no_capacity", filter="resources",
                          resource_class="MEMORY_MB", kind="transient", retry_can_help=True)
    (bucket,) = explanation["buckets"]
    assert bucket["message"] == ("1 hosts: needs 2048 MB free RAM under ratio 1.0 and 512 MB "
                                 "reserved; the best has 1536 MB RAM")
    assert bucket["figures"] == {"needed": 2048, "best_free": 1536, "best_host": "cn1"}
    assert explanation["nearest_misses"] == [{
        "host": "cn1", "message": "cn1: 512 MB RAM short",
        "lacks": [{"resource_class": "MEMORY_MB", "needed": 2048, "free": 1536, "short": 512}]}]


def test_the_ratio_and_reserved_figures_name_each_host_s_values(v1: V1) -> None:
    v1.report("cn1", memory_mb=4096)
    v1.report("cn2", memory_mb=4096)
    v1.ok("PATCH", "/hosts/cn2", json={"ram_allocation_ratio": 0.5,
                                        "reserved_host_memory_mb": 1024})
    flavor(v1, "big", ram_mb=3600)
    explanation = refused(boot_(v1, flavor="big"), "no_capacity", resource_class="MEMORY_MB")
    assert "under ratios 0.5 to 1.0 and 512 to 1024 MB reserved; the best has 3584 MB RAM" \
        in explanation["buckets"][0]["message"]


def test_hosts_down_are_transient(v1: V1) -> None:
    v1.report("cn1")
    v1.report("cn2")
    flavor(v1, "small")
    v1.ok("PATCH", "/hosts/cn1", json={"forced_down": True})
    v1.ok("PATCH", "/hosts/cn2", json={"enabled": False})
    explanation = refused(boot_(v1), "hosts_unavailable", filter="compute",
                          kind="transient", retry_can_help=True)
    assert sorted((b["summary"], b["host_names"]) for b in explanation["buckets"]) == [
        ("1 hosts: disabled", ["cn2"]), ("1 hosts: down", ["cn1"])]


def test_nearest_misses_come_by_smallest_shortfall(v1: V1) -> None:
    # Usable RAM after 512 MB reserved: a 1000, b 3000, c 2000, d 500 (names out of order).
    for name, usable in (("a", 1000), ("b", 3000), ("c", 2000), ("d", 500)):
        v1.report(name, memory_mb=usable + 512)
    flavor(v1, "big", ram_mb=3500)
    explanation = refused(boot_(v1, flavor="big"), "no_capacity", resource_class="MEMORY_MB")
    misses = explanation["nearest_misses"]
    assert [m["host"] for m in misses] == ["b", "c", "a"]
    assert [m["lacks"][0]["short"] for m in misses] == [500, 1500, 2500]
    assert misses[0]["message"] == "b: 500 MB RAM short"


def test_a_member_sees_categories_and_counts_only(v1: V1) -> None:
    v1.report("cn-secret-1", memory_mb=4096)
    v1.report("cn-secret-2", vcpus=2)
    v1.ok("PATCH", "/hosts/cn-secret-2", json={"enabled": False})
    flavor(v1, "big", ram_mb=3600)
    member = v1.as_(*MEMBER)
    r = boot_(member, flavor="big")
    explanation = refused(r, "no_capacity", filter="resources", resource_class="MEMORY_MB",
                          kind="transient")
    assert "nearest_misses" not in explanation
    assert sorted((b["filter"], b["hosts"], b["message"]) for b in explanation["buckets"]) == [
        ("compute", 1, "1 hosts: disabled"),
        ("resources", 1, "1 hosts: not enough free MEMORY_MB")]
    for bucket in explanation["buckets"]:
        assert set(bucket) <= {"code", "filter", "constraint", "resource_class", "hosts",
                               "message"}
    assert "cn-secret" not in r.text and "3584" not in r.text
    admin = refused(boot_(v1, flavor="big"), "no_capacity")
    assert "cn-secret-1" in str(admin["nearest_misses"])


def removed(explanation: dict[str, Any]) -> dict[str, int]:
    return {s["step"]: s["removed"] for s in explanation["funnel"][1:] if s["removed"]}


def test_the_funnel_counts_each_host_once_where_it_was_first_removed(v1: V1) -> None:
    v1.report("down")
    v1.report("off-zone")
    v1.report("small", memory_mb=1024)
    v1.report("full", memory_mb=4096)
    v1.report("isolated", memory_mb=4096)  # ties with "full": the filler goes there
    v1.ok("PATCH", "/hosts/down", json={"forced_down": True})
    v1.aggregate("az", availability_zone="zone-a")
    for name in ("down", "small", "full", "isolated"):
        v1.add("az", name)
    v1.aggregate("private", filter_tenant_id="someone-else")
    v1.add("private", "isolated")
    v1.add("private", "down")  # removed by compute first: counted there only
    flavor(v1, "mid", ram_mb=2048)
    booted(v1, "filler", "mid", availability_zone="zone-a", project_id="someone-else")
    explanation = refused(boot_(v1, flavor="mid", availability_zone="zone-a"),
                          "no_capacity", resource_class="MEMORY_MB")
    assert explanation["funnel"][0] == {"step": "considered", "hosts": 5}
    assert removed(explanation) == {"compute": 1, "availability_zone": 1,
                                    "tenant_isolation": 1, "resources": 2}
    assert sum(b["hosts"] for b in explanation["buckets"]) == 5
