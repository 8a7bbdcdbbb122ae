"""Simulator throughput: events per second replaying a synthetic workload.

    .venv/bin/python bench/simulate.py [--hosts 10000] [--events 1000000] [--policy pack]

Prints events/s of ``corral simulate``'s replay and, as the baseline, the cost of the
live path the simulator replaces (the live ``run_filters`` + ``weigh`` per decision,
measured on a few hundred decisions of the same fleet), with the ratio.
"""

from __future__ import annotations

import argparse
import time

from corral.config import Settings
from corral.domain.synthetic import SyntheticParams, generate
from corral.scheduler.placer import Placer
from corral.scheduler.runner import Ask, host_query_of
from corral.simulation.fleet import SIM_NOW, build, parse_fleet, usable_capacity
from corral.simulation.replay import parse_policy, simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--policy", default="spread")
    parser.add_argument("--load", type=float, default=0.85)
    args = parser.parse_args()
    fleet = parse_fleet({"host_groups": [
        {"name": "cn", "count": args.hosts * 3 // 4, "vcpus": 64, "memory_mb": 262144,
         "disk_gb": 4000, "zone": "az1"},
        {"name": "mem", "count": args.hosts - args.hosts * 3 // 4, "vcpus": 32,
         "memory_mb": 524288, "disk_gb": 4000, "zone": "az2"}]})
    policy = parse_policy(args.policy, Settings())
    t0 = time.perf_counter()
    workload = generate(SyntheticParams(events=args.events, load=args.load),
                        usable_capacity(fleet, policy.settings))
    generated = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = simulate(fleet, workload, policy)
    total = time.perf_counter() - t0
    rate = len(workload) / result.elapsed_s
    print(f"fleet {args.hosts} hosts, {len(workload)} events ({result.boots} boots, "
          f"acceptance {result.acceptance:.4f}), policy {policy.label}")
    print(f"generate {generated:.1f} s; replay {result.elapsed_s:.1f} s = {rate:,.0f} events/s; "
          f"with setup and measures {total:.1f} s")
    print(f"decision latency p50 {result.latency_us['p50']} us, p99 {result.latency_us['p99']} us")
    # Baseline: the live functions per decision (what _pick runs, without the store).
    state, table = build(fleet, policy.settings)
    placer = Placer(state, table, policy.settings.filters, now=SIM_NOW)
    keys = [placer.key(s, host_query_of(Ask(flavor=f, project_id="p", user_id="u")))
            for s, f in enumerate(workload.shapes)]
    n = 200
    t0 = time.perf_counter()
    for i in range(n):
        placer.check(keys[i % len(keys)], placer.decide(keys[i % len(keys)]))
    live = (time.perf_counter() - t0) / n
    print(f"baseline: live run_filters + weigh {live * 1e3:.3f} ms per decision; the "
          f"simulator's decision is {live * 1e6 / result.latency_us['mean']:.0f}x faster "
          f"(mean {result.latency_us['mean']} us)")


if __name__ == "__main__":
    main()
