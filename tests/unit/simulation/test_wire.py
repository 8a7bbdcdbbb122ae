"""The live fleet's wire form: a fleet survives the trip field for field, and a body
that is not in the form names its first bad field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from corral.domain import errors
from corral.simulation.fleet import parse_fleet
from corral.simulation.wire import fleet_body, fleet_of

FLEET = {"aggregates": [{"name": "dense", "metadata": {"cpu_allocation_ratio": "8"}}],
         "host_groups": [
             {"name": "cn", "count": 3, "vcpus": 16, "memory_mb": 65536, "disk_gb": 500,
              "zone": "az1", "traits": ["CUSTOM_SSD", "HW_CPU_X86_AVX2"],
              "cpu_allocation_ratio": 2.5, "resources": {"CUSTOM_FPGA": 2}},
             {"name": "big", "count": 1, "vcpus": 32, "memory_mb": 131072, "disk_gb": 0,
              "aggregates": ["dense"], "enabled": False, "up": False}],
         "flavors": [{"name": "small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10,
                      "extra_specs": {"trait:CUSTOM_SSD": "required"}}]}


def test_a_fleet_survives_the_trip() -> None:
    fleet = parse_fleet(FLEET)
    assert fleet_of(json.loads(json.dumps(fleet_body(fleet)))) == fleet


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["hosts"][1].update(vcpus="32"), "fleet.hosts[1].vcpus"),
    (lambda b: b["hosts"][0].update(enabled=1), "fleet.hosts[0].enabled"),
    (lambda b: b["hosts"][0].update(vcpus=True), "fleet.hosts[0].vcpus"),
    (lambda b: b["hosts"][0].pop("name"), "fleet.hosts[0].name"),
    (lambda b: b["hosts"][0]["used"].update(VCPU=1.5), "fleet.hosts[0].used.VCPU"),
    (lambda b: b["aggregates"].update(dense={"cpu_allocation_ratio": 8}),
     "fleet.aggregates.dense"),
    (lambda b: b["flavors"][0].update(extra_specs=[]), "fleet.flavors[0].extra_specs"),
    (lambda b: b.update(hosts={}), "fleet.hosts"),
])
def test_a_bad_body_names_its_field(change: Any, field: str) -> None:
    body = json.loads(json.dumps(fleet_body(parse_fleet(FLEET))))
    body["hosts"][0]["used"] = {"VCPU": 1}
    change(body)
    with pytest.raises(errors.InvalidInput) as caught:
        fleet_of(body)
    assert caught.value.field == field, caught.value.detail
