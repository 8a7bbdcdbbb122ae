"""The candidate engine in-process: search, and search + render + JSON, at fleet scale.

No database and no HTTP: fleets are built straight into a FleetState, so this measures
what the columnar engine costs and what turning its answer into a Placement response
costs. The baseline, measured in the same run, is the obvious per-provider Python loop
(check every class of every flat host against its capacity) that a row-at-a-time
implementation would run.

    .venv/bin/python bench/engine.py              # 1,000, 10,000 and 50,000 hosts
    .venv/bin/python bench/engine.py --quick      # 1,000 and 10,000, fewer repeats
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial

from corral.api.microversion import Version
from corral.api.placement.allocation_candidates import render
from corral.domain.capacity import Inventory
from corral.engine.records import ProviderRecord
from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.search import find_candidates
from corral.engine.state import TRAIT_SHARING, FleetState
from corral.services.candidates import CandidateFinder

AGGS = [f"agg-{i}" for i in range(10)]


def flat(n: int) -> list[ProviderRecord]:
    return [ProviderRecord(
        h + 1, str(uuid.UUID(int=h + 1)), 1, None, h + 1,
        {"VCPU": Inventory(64, allocation_ratio=4.0), "MEMORY_MB": Inventory(262144, 512),
         "DISK_GB": Inventory(2000)},
        {"VCPU": h % 200, "MEMORY_MB": 1024 * (h % 100)},
        frozenset({"HW_CPU_X86_AVX2"}) if h % 2 else frozenset(), frozenset({AGGS[h % 10]}))
        for h in range(n)]


def nested(n: int) -> list[ProviderRecord]:
    """n hosts, each a root (memory) with two NUMA children (VCPU); disk from 10 shared pools."""
    out: list[ProviderRecord] = []
    pid = 0
    for h in range(n):
        pid += 1
        root = pid
        out.append(ProviderRecord(root, str(uuid.UUID(int=pid)), 1, None, root,
                                  {"MEMORY_MB": Inventory(262144, 512)},
                                  {"MEMORY_MB": 1024 * (h % 100)}, frozenset(),
                                  frozenset({AGGS[h % 10]})))
        for _ in range(2):
            pid += 1
            out.append(ProviderRecord(pid, str(uuid.UUID(int=pid)), 1, root, root,
                                      {"VCPU": Inventory(32, allocation_ratio=4.0)},
                                      {"VCPU": h % 64}))
    for i in range(10):
        pid += 1
        out.append(ProviderRecord(pid, str(uuid.UUID(int=pid)), 1, None, pid,
                                  {"DISK_GB": Inventory(100000)}, {},
                                  frozenset({TRAIT_SHARING}), frozenset({AGGS[i]})))
    return out


def naive(records: list[ProviderRecord], wanted: dict[str, int],
          limit: int | None) -> list[dict[str, dict[str, int]]]:
    """Baseline: every host, every class, one at a time, building the same answers
    (one allocation request per fitting flat host) the engine builds."""
    found: list[dict[str, dict[str, int]]] = []
    for rec in records:
        if all(rc in rec.inventories and rec.used.get(rc, 0) + amount
               <= rec.inventories[rc].capacity for rc, amount in wanted.items()):
            found.append({rec.uuid: dict(wanted)})
            if limit is not None and len(found) >= limit:
                break
    return found


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def finder_over(state: FleetState) -> CandidateFinder:
    """A CandidateFinder answering from ``state`` (no store: nothing to refresh)."""
    finder = CandidateFinder.__new__(CandidateFinder)
    finder.state = state
    finder.lock = threading.Lock()
    finder.store = _NoStore()  # type: ignore[assignment]
    finder.refresh_in = lambda repo: 0  # type: ignore[method-assign]
    finder._check_names = lambda repo, req: None  # type: ignore[method-assign]
    return finder


class _NoStore:
    """Stands in for the store: the fleet is already in the engine."""

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        yield None


def answer(finder: CandidateFinder, req: CandidateRequest, version: Version) -> str:
    """What a request costs past the database: search, render, serialise."""
    return json.dumps(render(finder.find(req), version))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1000, 10000] if args.quick else [1000, 10000, 50000]
    repeat = 5 if args.quick else 15
    version = Version(1, 39)
    print(f"bench/engine.py: repeats={repeat}; figures are p50/p95 milliseconds")
    print("| fleet | hosts | query | candidates | search p50 | search p95 | "
          "search+render+JSON p50 | naive loop p50 | search vs naive |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, build in (("flat", flat), ("nested+sharing", nested)):
        for n in sizes:
            records = build(n)
            state = FleetState()
            state.apply(records)
            gc.freeze()  # as CandidateFinder.refresh does after a large load
            finder = finder_over(state)
            everyone = (("VCPU", 2), ("MEMORY_MB", 2048), ("DISK_GB", 20))
            # Few hosts have this much memory free: the scan, not the answer, dominates.
            selective = (("VCPU", 2), ("MEMORY_MB", 258000))
            for label, wanted, limit in (("fits all, limit=1000", everyone, 1000),
                                         ("fits all, no limit", everyone, None),
                                         ("fits 1%, limit=1000", selective, 1000)):
                req = CandidateRequest(groups=(RequestGroup("", wanted),), limit=limit)
                count = len(find_candidates(state, req))
                s50, s95 = timed(partial(find_candidates, state, req), repeat)
                full50, _ = timed(partial(answer, finder, req, version), repeat)
                if kind == "flat":
                    n50, _ = timed(partial(naive, records, dict(wanted), limit), repeat)
                    ratio = f"{n50 / s50:.1f}x"
                    naive_s = f"{n50:.1f}"
                else:
                    naive_s, ratio = "-", "-"
                print(f"| {kind} | {n} | {label} | {count} | {s50:.1f} | {s95:.1f} | "
                      f"{full50:.1f} | {naive_s} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
