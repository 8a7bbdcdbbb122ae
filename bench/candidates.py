"""GET /allocation_candidates at fleet scale: corral against OpenStack Placement 16.0.0.

For each fleet (flat hosts; and hosts as a root plus two NUMA children drawing disk
from sharing storage providers) of 1,000 and 10,000 providers, both services get the
same fleet through the HTTP API, on their own fresh PostgreSQL database, with the same
number of worker processes, in the same run. Then, per query:

- one client, sequential requests: p50/p95 latency;
- several client processes at once: requests/s (and p50/p95 under that load);
- the number of candidates each service returned (they must agree);
- corral's engine alone, in this process: the cold load of the fleet from the
  database, and the search itself (no HTTP, no JSON).

Ratios are Placement's figure over corral's (time) or corral's over Placement's (rate):
above 1x, corral is faster.

    .venv/bin/python bench/candidates.py                 # 1,000 and 10,000 providers
    .venv/bin/python bench/candidates.py --quick         # 300 providers, few requests
    .venv/bin/python bench/candidates.py --sizes 1000    # one size
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import common
from common import say

from corral.engine.request import CandidateRequest, RequestGroup
from corral.engine.search import find_candidates
from corral.persistence import make_store
from corral.services.candidates import CandidateFinder


@dataclass(frozen=True)
class Query:
    label: str
    groups: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    limit: int | None = None
    group_policy: str | None = None

    def params(self) -> dict[str, str]:
        out = {}
        for suffix, res in self.groups:
            out[f"resources{suffix}"] = ",".join(f"{rc}:{n}" for rc, n in res)
        if self.group_policy:
            out["group_policy"] = self.group_policy
        if self.limit:
            out["limit"] = str(self.limit)
        return out

    def path(self) -> str:
        return "/allocation_candidates?" + urlencode(self.params(), safe=":,")

    def engine_request(self) -> CandidateRequest:
        return CandidateRequest(
            groups=tuple(RequestGroup(suffix, resources) for suffix, resources in
                         sorted(self.groups)),
            group_policy=self.group_policy or "none", limit=self.limit)


INSTANCE = (("VCPU", 2), ("MEMORY_MB", 4096), ("DISK_GB", 40))
QUERIES = {
    "flat": [
        Query("VCPU:2,MEMORY_MB:4096,DISK_GB:40 limit=1000", (("", INSTANCE),), limit=1000),
        Query("VCPU:2,MEMORY_MB:4096,DISK_GB:40 (no limit)", (("", INSTANCE),)),
    ],
    "nested": [
        Query("VCPU:2,MEMORY_MB:4096,DISK_GB:40 limit=1000", (("", INSTANCE),), limit=1000),
        Query("2 NUMA groups (isolate) + shared DISK_GB limit=1000",
              (("", (("DISK_GB", 40),)),
               ("1", (("VCPU", 2), ("MEMORY_MB", 2048))),
               ("2", (("VCPU", 2), ("MEMORY_MB", 2048)))),
              limit=1000, group_policy="isolate"),
    ],
}
VERSION = "1.39"


def engine_alone(db_url: str, queries: list[Query], repeat: int) -> dict[str, Any]:
    """Cold load of the fleet into a fresh engine, then each query's search, in-process."""
    store = make_store(db_url)
    try:
        finder = CandidateFinder(store)
        t0 = time.perf_counter()
        finder.refresh()
        cold = time.perf_counter() - t0
        out: dict[str, Any] = {"cold_load_s": cold, "providers": finder.state.n}
        for q in queries:
            req = q.engine_request()
            found = find_candidates(finder.state, req)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                find_candidates(finder.state, req)
                times.append(time.perf_counter() - t0)
            finds = []
            for _ in range(max(3, repeat // 2)):
                t0 = time.perf_counter()
                finder.find(req)
                finds.append(time.perf_counter() - t0)
            out[q.label] = (len(found), statistics.median(times) * 1000,
                            statistics.median(finds) * 1000)
        return out
    finally:
        store.dispose()


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="Comma-separated fleet sizes (default 1000,10000).")
    parser.add_argument("--kinds", default="flat,nested", help="Fleet kinds (default %(default)s).")
    parser.add_argument("--workers", type=int, default=2, help="Server workers (default 2).")
    parser.add_argument("--clients", type=int, default=4,
                        help="Client processes for the throughput figure (default 4).")
    parser.add_argument("--load-clients", type=int, default=4,
                        help="Client processes loading the fleet (default 4).")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("300" if args.quick else "1000,10000")).split(",")]
    kinds = args.kinds.split(",")

    say(f"bench/candidates.py: fleets {kinds} x {sizes} providers; {args.workers} server "
        f"workers each; {args.clients} client processes; {common.machine_facts()}")
    dbs = common.Databases(args.postgresql_url)
    results = []
    engine_rows = []
    load_rows: list[tuple[str, int, float, float]] = []
    for size in sizes:
        if args.quick:
            seq, conc, repeat = 5, 8, 5
        elif size >= 5000:
            seq, conc, repeat = 10, 20, 10
        else:
            seq, conc, repeat = 20, 40, 20
        for kind in kinds:
            fleet = common.flat_fleet(size) if kind == "flat" else common.nested_fleet(size)
            pair = common.start_pair(dbs, args.workers, not args.no_placement, fleet.name)
            loaded = {}
            for name, svc in pair.services.items():
                seconds = common.load_fleet(svc.url, fleet, args.load_clients)
                loaded[name] = seconds
                say(f"  {fleet.name}: loaded {len(fleet)} providers into {name} "
                    f"in {seconds:.1f}s")
            load_rows.append((fleet.name, len(fleet), loaded["corral"],
                              loaded.get("placement", float("nan"))))
            for q in QUERIES[kind]:
                row: dict[str, Any] = {"fleet": fleet.name, "query": q.label}
                for name, svc in pair.services.items():
                    body = common.http_json(svc.url, q.path().split("?")[0], VERSION, q.params())
                    row[f"{name}_n"] = len(body["allocation_requests"])
                    alone, loaded_run = common.measure(
                        svc.url, ("GET", q.path(), None, VERSION),
                        sequential=seq, concurrent=conc, clients=args.clients)
                    row[name] = (alone, loaded_run)
                    say(f"  {fleet.name} | {q.label} | {name}: {row[f'{name}_n']} candidates, "
                        f"p50 {alone.pct(50):.1f} ms, p95 {alone.pct(95):.1f} ms, "
                        f"{loaded_run.rps:.1f} req/s with {args.clients} clients")
                results.append(row)
            eng = engine_alone(pair.db_urls["corral"], QUERIES[kind], repeat)
            say(f"  {fleet.name} | engine alone: {eng}")
            for q in QUERIES[kind]:
                n, search_ms, find_ms = eng[q.label]
                engine_rows.append([fleet.name, q.label, eng["cold_load_s"], n, search_ms,
                                    find_ms])
            pair.stop(dbs)

    has_base = not args.no_placement
    say("")
    say("Loading the fleet through the HTTP API (seconds, "
        f"{args.load_clients} client processes):")
    common.table(["fleet", "providers", "corral s", "placement s", "ratio"],
                 [[*r, common.ratio(r[3], r[2])] for r in load_rows])
    say("")
    say("GET /allocation_candidates, one client (latency) and "
        f"{args.clients} clients (throughput):")
    headers = ["fleet", "query", "candidates (corral/placement)", "corral p50 ms",
               "corral p95 ms", "corral req/s"]
    if has_base:
        headers += ["placement p50 ms", "placement p95 ms", "placement req/s",
                    "p50 ratio", "req/s ratio"]
    rows = []
    for r in results:
        ours_alone, ours_loaded = r["corral"]
        line: list[object] = [r["fleet"], r["query"],
                              f"{r['corral_n']}/{r.get('placement_n', '-')}",
                              ours_alone.pct(50), ours_alone.pct(95), ours_loaded.rps]
        if has_base:
            base_alone, base_loaded = r["placement"]
            line += [base_alone.pct(50), base_alone.pct(95), base_loaded.rps,
                     common.ratio(base_alone.pct(50), ours_alone.pct(50)),
                     common.ratio(1 / base_loaded.rps, 1 / ours_loaded.rps)]
        rows.append(line)
    common.table(headers, rows)
    mismatched = [r for r in results if has_base and r["corral_n"] != r["placement_n"]]
    if mismatched:
        say(f"NOTE: candidate counts differ for {len(mismatched)} queries (see above)")
    say("")
    say("corral's engine alone (in-process; no HTTP, no JSON):")
    common.table(["fleet", "query", "cold load s", "candidates", "search ms (median)",
                  "finder.find ms (median)"], engine_rows)
    say("(finder.find = freshness check against the database + name check + search + "
        "rendering; search = the NumPy candidate search only)")


if __name__ == "__main__":
    main()
