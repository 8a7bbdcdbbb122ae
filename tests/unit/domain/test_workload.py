"""Workloads: the trace parser's errors name line and column; the generator reproduces
the published Azure statistics within tolerance, seeded."""

from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.domain.flavors import Flavor
from corral.domain.synthetic import SyntheticParams, deployment_size, generate, lifetime_h
from corral.domain.workload import TraceError, format_trace, parse_trace

SMALL = {"small": Flavor(id="f1", name="small", vcpus=1, ram_mb=2048, disk_gb=10)}
CAPACITY = {"VCPU": 2000.0, "MEMORY_MB": 4_000_000.0}


def test_a_trace_with_flavors_and_sizes() -> None:
    w = parse_trace("time,event,instance,flavor,vcpus,ram_mb,disk_gb,project\n"
                    "0,create,a,small,,,,p1\n1.5,create,b,,4,8192,,\n2,delete,a,,,,,\n",
                    SMALL)
    assert w.create == [True, True, False] and w.time == [0.0, 1.5, 2.0]
    assert [w.shapes[s].vcpus for s in w.shape] == [1, 4, 1]
    assert w.projects == ["p1", "default"] and w.names == ["a", "b"]


@pytest.mark.parametrize(("text", "line", "column"), [
    ("", 1, None),
    ("time,event\n", 1, "instance"),
    ("time,event,instance,colour\n", 1, "colour"),
    ("time,event,instance,flavor\n0,create,a,huge\n", 2, "flavor"),
    ("time,event,instance,flavor\n0,create,a,small\nx,delete,a,\n", 3, "time"),
    ("time,event,instance,flavor\n5,create,a,small\n4,delete,a,\n", 3, "time"),
    ("time,event,instance,flavor\n0,boot,a,small\n", 2, "event"),
    ("time,event,instance,flavor\n0,delete,ghost,\n", 2, "instance"),
    ("time,event,instance,flavor\n0,create,a,small\n1,create,a,small\n", 3, "instance"),
    ("time,event,instance,vcpus,ram_mb\n0,create,a,0,512\n", 2, "vcpus"),
    ("time,event,instance,vcpus,ram_mb\n0,create,a,2,lots\n", 2, "ram_mb"),
    ("time,event,instance,flavor\n0,create,a\n", 2, None),
])
def test_trace_errors_name_the_line_and_column(text: str, line: int, column: str | None) -> None:
    with pytest.raises(TraceError) as caught:
        parse_trace(text, SMALL)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"line {line}" in caught.value.detail


@given(st.lists(st.tuples(st.integers(1, 64), st.integers(1, 1 << 18), st.integers(0, 999),
                          st.booleans()), max_size=30))
def test_parse_reads_what_format_writes(rows: list[tuple[int, int, int, bool]]) -> None:
    lines = ["time,event,instance,vcpus,ram_mb,disk_gb,project"]
    alive: list[int] = []
    for i, (v, r, d, delete) in enumerate(rows):
        if delete and alive:
            lines.append(f"{i},delete,vm{alive.pop(0)},,,,")
        else:
            alive.append(i)
            lines.append(f"{i},create,vm{i},{v},{r},{d},p")
    w = parse_trace("\n".join(lines) + "\n")
    again = parse_trace(format_trace(w))
    assert (again.time, again.create, again.names) == (w.time, w.create, w.names)
    assert [again.shapes[s].id for s in again.shape] == [w.shapes[s].id for s in w.shape]


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31))
def test_lifetimes_follow_the_azure_cdf(seed: int) -> None:
    rng = random.Random(seed)
    p = SyntheticParams()
    hours = sorted(lifetime_h(rng, p) for _ in range(10_000))
    share = [bisect.bisect(hours, h) / len(hours) for h in (2, 24, 192)]
    assert share[0] == pytest.approx(0.67, abs=0.02)  # two thirds under 2 h
    assert share[1] == pytest.approx(0.88, abs=0.02)  # 88 % under a day
    assert 0.06 <= 1 - share[2] <= 0.11  # a heavy tail past eight days


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31))
def test_deployment_sizes_follow_the_azure_cdf(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [deployment_size(rng, SyntheticParams().deployment_cdf) for _ in range(20_000)]
    assert sum(s <= 2 for s in sizes) / len(sizes) == pytest.approx(0.44, abs=0.02)
    assert sum(s > 30 for s in sizes) / len(sizes) == pytest.approx(0.10, abs=0.015)


# A statistical check (mix and load within a tolerance) holds for most seeds, not all:
# the examples are derandomized so that the suite never fails by chance.
@settings(max_examples=3, deadline=None, derandomize=True)
@given(st.integers(0, 2**31), st.floats(0.3, 1.2))
def test_the_generator_mix_load_and_seed(seed: int, load: float) -> None:
    params = SyntheticParams(events=8_000, load=load, seed=seed)
    w = generate(params, CAPACITY)
    assert len(w) == 8_000 and w.time == sorted(w.time)
    # VMs of a deployment arrive together and share a shape: the mix is per deployment
    deployments = {(t, s) for t, s, c in zip(w.time, w.shape, w.create, strict=True) if c}
    vcpus = [w.shapes[s].vcpus for _t, s in deployments]
    assert sum(v == 1 for v in vcpus) / len(vcpus) == pytest.approx(0.49, abs=0.08)
    assert sum(v == 2 for v in vcpus) / len(vcpus) == pytest.approx(0.25, abs=0.08)
    per_vcpu = {w.shapes[s].ram_mb // w.shapes[s].vcpus for s in w.shape}
    assert per_vcpu <= {2048, 4096, 8192}
    alive: dict[int, int] = {}
    for c, i, s in zip(w.create, w.instance, w.shape, strict=True):
        if c:
            alive[i] = s
        else:
            del alive[i]
    demand = max(sum(w.shapes[s].vcpus for s in alive.values()) / CAPACITY["VCPU"],
                 sum(w.shapes[s].ram_mb for s in alive.values()) / CAPACITY["MEMORY_MB"])
    # deployments of up to 100 VMs sharing a shape make the end-of-run demand noisy
    assert demand == pytest.approx(load, rel=0.5)
    assert generate(params, CAPACITY).instance == w.instance  # seeded


def test_bad_parameters_are_named() -> None:
    with pytest.raises(Exception, match="load"):
        generate(SyntheticParams(load=0), CAPACITY)
