"""/v1/capacity: headroom equals what the scheduler actually places.

The bar (issue 6): boot the announced number of instances of a flavor into a zone or an
aggregate and the next boot is refused with no valid host, for several flavors, ratios
set on aggregates and on hosts, reserved memory, the instance cap, disabled and down
hosts. Then utilization, stranded capacity, the errors and who may call.
"""

from __future__ import annotations

from typing import Any

from .helpers import SQLITE_ONLY, V1, assert_v1_error
from .scheduling import AppFactory, app_with, boot, flavor

__all__ = ["app_with"]


def headroom(v1: V1, group_by: str = "az", **params: Any) -> dict[str, dict[str, Any]]:
    """{flavor name: its entry} of GET /v1/capacity."""
    body = v1.ok("GET", "/capacity", params={"group_by": group_by, **params})
    assert body["group_by"] == group_by
    return {e["flavor"]["name"]: e for e in body["capacity"]}


def fill(v1: V1, flavor_name: str, n: int, **body: Any) -> None:
    """Boot ``n`` instances of the flavor (all placed), then one more: refused."""
    for i in range(n):
        r = boot(v1, f"{flavor_name}-{i}", flavor_name, **body)
        assert r.status_code == 201, (i, n, r.text)
    refused_at_all(boot(v1, f"{flavor_name}-extra", flavor_name, **body))


def refused_at_all(r: Any) -> None:
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "no_valid_host", r.text


def test_zone_headroom_is_what_boots_into_the_zone(v1: V1) -> None:
    # az1: a 4-vCPU host at cpu ratio 1.5 (6 VCPU) and an 8-vCPU one (12 VCPU);
    # az2: one host with 2048 MB reserved.
    v1.aggregate("agg-a", availability_zone="az1", cpu_allocation_ratio="1.5")
    v1.aggregate("agg-b", availability_zone="az2", reserved_host_memory_mb=2048)
    v1.report("a1", vcpus=4, memory_mb=8192, disk_gb=100)
    v1.report("a2", vcpus=8, memory_mb=16384, disk_gb=200)
    v1.report("b1", vcpus=4, memory_mb=8192, disk_gb=100)
    for host, agg in (("a1", "agg-a"), ("a2", "agg-a"), ("b1", "agg-b")):
        v1.add(agg, host)
    flavor(v1, "small", vcpus=1, ram_mb=1024, disk_gb=10)
    flavor(v1, "wide", vcpus=3, ram_mb=2048, disk_gb=10)
    found = headroom(v1)
    # small in az1: a1 min(6 VCPU, (8192-512)/1024=7, 10 disk) = 6; a2 min(12, 15, 20) = 12
    # small in az2: b1 min(16 VCPU at the default 4.0, (8192-2048)/1024 = 6, 10) = 6
    assert found["small"]["groups"] == {"az1": 18, "az2": 6}
    assert found["small"]["total"] == 24
    assert found["small"]["hosts_eligible"] == {"az1": 2, "az2": 1}
    # wide: a1 6//3 = 2, a2 12//3 = 4, b1 min(16//3, 6144//2048) = 3
    assert found["wide"]["groups"] == {"az1": 6, "az2": 3}
    fill(v1, "wide", 6, availability_zone="az1")
    for i in range(3):
        assert boot(v1, f"s{i}", "small", availability_zone="az2").status_code == 201
    # What is left is announced again, and is right again.
    found = headroom(v1)
    assert found["wide"]["groups"] == {"az1": 0, "az2": 1}
    # az1 after 6 wide: a1 has 0 VCPU left, a2 has 0; small fits nowhere in az1.
    assert found["small"]["groups"] == {"az1": 0, "az2": 3}
    fill(v1, "small", 3, availability_zone="az2")
    assert headroom(v1)["wide"]["total"] == 0


def test_aggregate_extra_specs_headroom_is_what_boots(v1: V1) -> None:
    v1.aggregate("gold", tier="gold", ram_allocation_ratio="1.5")
    v1.aggregate("plain")
    for name in ("g1", "g2"):
        v1.report(name, vcpus=4, memory_mb=4096, disk_gb=100)
        v1.add("gold", name)
    v1.report("p1", vcpus=16, memory_mb=65536, disk_gb=1000)
    v1.add("plain", "p1")
    flavor(v1, "goldie", vcpus=1, ram_mb=1000, disk_gb=1,
           specs={"aggregate_instance_extra_specs:tier": "gold"})
    found = headroom(v1, "aggregate", flavor="goldie")
    # (4096 - 512) x 1.5 = 5376 MB per host: 5 instances each, 16 VCPU allows more.
    assert found["goldie"]["groups"] == {"gold": 10, "plain": 0}
    assert found["goldie"]["hosts_eligible"] == {"gold": 2, "plain": 0}
    fill(v1, "goldie", 10)


def test_host_ratios_and_the_instance_cap(v1: V1) -> None:
    v1.aggregate("capped", max_instances_per_host=3, availability_zone="z")
    v1.report("c1", vcpus=8, memory_mb=32768, disk_gb=500)
    v1.report("c2", vcpus=2, memory_mb=32768, disk_gb=500)
    v1.add("capped", "c1")
    v1.add("capped", "c2")
    v1.ok("PATCH", "/hosts/c2", json={"cpu_allocation_ratio": 1.0})
    flavor(v1, "one", vcpus=1, ram_mb=512, disk_gb=1)
    found = headroom(v1, "host")
    assert found["one"]["groups"] == {"c1": 3, "c2": 2}  # the cap, then 2 VCPU at 1.0
    fill(v1, "one", 5)
    assert headroom(v1, "fleet")["one"]["groups"] == {"fleet": 0}


def test_max_unit_and_many_at_once(v1: V1) -> None:
    v1.report("h1", vcpus=4, memory_mb=16384, disk_gb=100)
    v1.report("h2", vcpus=8, memory_mb=16384, disk_gb=100)
    flavor(v1, "big", vcpus=6, ram_mb=1024, disk_gb=1)  # more vCPUs than h1 has
    found = headroom(v1, "host")
    # h1: 16 VCPU of capacity, but max_unit 4 < 6: none; h2: 32 // 6 = 5.
    assert found["big"]["groups"] == {"h1": 0, "h2": 5}
    assert found["big"]["hosts_eligible"] == {"h1": 1, "h2": 1}
    r = boot(v1, "many", "big", count=5)
    assert r.status_code == 201, r.text
    refused_at_all(boot(v1, "more", "big"))


def test_disabled_and_down_hosts_count_nothing(app_with: AppFactory) -> None:
    v1 = app_with(host_down_after_s=60)
    v1.report("up1", vcpus=2, memory_mb=4096, disk_gb=50)
    v1.report("off", vcpus=2, memory_mb=4096, disk_gb=50)
    v1.report("gone", vcpus=2, memory_mb=4096, disk_gb=50)
    v1.ok("PATCH", "/hosts/off", json={"enabled": False, "disabled_reason": "maintenance"})
    v1.ok("PATCH", "/hosts/gone", json={"forced_down": True})
    flavor(v1, "m", vcpus=2, ram_mb=1024, disk_gb=10)
    found = headroom(v1, "host")
    assert found["m"]["groups"] == {"up1": 3}  # min(8 // 2, 3584 // 1024, 50 // 10)
    assert found["m"]["hosts_eligible"] == {"up1": 1}
    fill(v1, "m", 3)
    u = v1.ok("GET", "/capacity/utilization")
    assert u["hosts_usable"] == 1 and u["hosts_total"] == 3
    assert u["fleet"]["VCPU"] == {"used": 6, "usable": 8, "ratio": 0.75}
    assert u["fleet"]["MEMORY_MB"]["usable"] == 3584


def test_utilization_per_zone_and_aggregate_and_stranded_hosts(v1: V1) -> None:
    v1.aggregate("z1", availability_zone="z1")
    v1.report("tight", vcpus=4, memory_mb=2560, disk_gb=100)   # 2048 MB usable
    v1.report("roomy", vcpus=4, memory_mb=16896, disk_gb=100)  # 16384 MB usable
    v1.add("z1", "tight")
    flavor(v1, "m2", vcpus=1, ram_mb=2048, disk_gb=1)
    r = boot(v1, "fills-tight", "m2", availability_zone="z1")
    assert r.status_code == 201, r.text
    # tight: 15 VCPU and 99 GB free, no memory: all its free units are stranded.
    u = v1.ok("GET", "/capacity/utilization")
    assert u["availability_zones"]["z1"]["MEMORY_MB"] == {"used": 2048, "usable": 2048,
                                                          "ratio": 1.0}
    assert u["aggregates"]["z1"]["VCPU"]["used"] == 1
    assert u["aggregates"]["(no aggregate)"]["VCPU"] == {"used": 0, "usable": 16, "ratio": 0.0}
    assert u["stranded"] == {"VCPU": 15, "MEMORY_MB": 0, "DISK_GB": 99}
    hosts = v1.ok("GET", "/capacity/stranded", params={"top": 5})["hosts"]
    assert [h["host"] for h in hosts] == ["tight"]
    assert hosts[0]["stranded"] == {"VCPU": 15, "DISK_GB": 99}
    assert hosts[0]["exhausted"] == ["MEMORY_MB"]
    assert hosts[0]["availability_zone"] == "z1"


def test_ad_hoc_shapes_and_every_flavor_by_default(v1: V1) -> None:
    v1.report("h", vcpus=4, memory_mb=8704, disk_gb=100)  # 8192 MB usable
    flavor(v1, "a", vcpus=1, ram_mb=1024)
    flavor(v1, "b", vcpus=2, ram_mb=4096)
    body = v1.ok("GET", "/capacity", params={"group_by": "fleet"})
    assert [(e["flavor"]["name"], e["total"]) for e in body["capacity"]] == [("a", 8), ("b", 2)]
    shaped = v1.ok("GET", "/capacity", params={"vcpus": 4, "ram_mb": 1024, "disk_gb": 0,
                                               "group_by": "fleet"})["capacity"]
    assert [(e["flavor"]["name"], e["total"]) for e in shaped] == [("4vcpu-1024mb-0gb", 4)]


@SQLITE_ONLY
def test_bad_input_names_the_field(v1: V1) -> None:
    assert_v1_error(v1.get("/capacity", params={"flavor": "nope"}), 400, field="flavor")
    assert_v1_error(v1.get("/capacity", params={"group_by": "rack"}), 400, field="group_by")
    assert_v1_error(v1.get("/capacity", params={"vcpus": 0, "ram_mb": 1}), 400, field="vcpus")
    assert_v1_error(v1.get("/capacity/stranded", params={"top": 0}), 400, field="top")


@SQLITE_ONLY
def test_only_the_cloud_admin(v1: V1) -> None:
    member = v1.as_("alice", roles="member")
    for path in ("/capacity", "/capacity/utilization", "/capacity/stranded"):
        assert_v1_error(member.get(path), 403, code="forbidden")
        assert_v1_error(v1.as_("").get(path), 401)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition ``text`` (labels any order)."""
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample == name and sorted(rest.rstrip("}").split(",")) == want:
            return float(value)
    raise AssertionError(f"no sample {name}{want} in /metrics")


def test_gauges_at_metrics_follow_the_fleet(v1: V1) -> None:
    v1.aggregate("agg", availability_zone="az1")
    v1.report("h1", vcpus=4, memory_mb=8704, disk_gb=100)  # 16 VCPU, 8192 MB
    v1.report("h2", vcpus=4, memory_mb=2560, disk_gb=100)  # 2048 MB
    v1.add("agg", "h1")
    flavor(v1, "m", vcpus=1, ram_mb=2048, disk_gb=1)
    text = v1.client.get("/metrics", headers={"x-auth-token": "admin"}).text
    found = headroom(v1)["m"]["groups"]
    assert metric(text, "corral_capacity_free_slots", flavor="m",
                  availability_zone="az1") == found["az1"]
    assert metric(text, "corral_capacity_free_slots_aggregate", flavor="m",
                  aggregate="agg") == found["az1"]
    u = v1.ok("GET", "/capacity/utilization")
    for rc in ("VCPU", "MEMORY_MB", "DISK_GB"):
        assert metric(text, "corral_capacity_usable", resource_class=rc) == u["fleet"][rc]["usable"]
        assert metric(text, "corral_capacity_used", resource_class=rc) == u["fleet"][rc]["used"]
        assert metric(text, "corral_capacity_stranded", resource_class=rc) == u["stranded"][rc]
    assert metric(text, "corral_capacity_utilization_ratio_zone", resource_class="VCPU",
                  availability_zone="az1") == u["availability_zones"]["az1"]["VCPU"]["ratio"]
    assert boot(v1, "two", "m", availability_zone="az1").status_code == 201
    after = v1.client.get("/metrics", headers={"x-auth-token": "admin"}).text
    assert metric(after, "corral_capacity_free_slots", flavor="m",
                  availability_zone="az1") == found["az1"] - 1
