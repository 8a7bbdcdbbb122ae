"""Provider throughput over HTTP: create, set inventory, list; corral against Placement.

Both services run on PostgreSQL (each its own fresh database) with the same number of
worker processes, and are driven by the same client processes with the same requests,
in the same run. Prints requests/s and p50/p95 latency per operation, and corral's
ratio to Placement 16.0.0 (the baseline).

    .venv/bin/python bench/providers.py            # 2,000 providers
    .venv/bin/python bench/providers.py --quick    # 200 providers
"""

from __future__ import annotations

import common
from common import say


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, help="How many providers (default 2000).")
    parser.add_argument("--workers", type=int, default=2, help="Server workers (default 2).")
    parser.add_argument("--clients", type=int, default=4, help="Client processes (default 4).")
    args = parser.parse_args()
    n = args.providers or (200 if args.quick else 2000)
    lists = 20 if args.quick else 100

    say(f"bench/providers.py: {n} providers, {args.workers} server workers each, "
        f"{args.clients} client processes; {common.machine_facts()}")
    dbs = common.Databases(args.postgresql_url)
    pair = common.start_pair(dbs, args.workers, not args.no_placement, "providers")
    fleet = common.flat_fleet(n)
    results: dict[str, dict[str, common.Load]] = {}
    for name, svc in pair.services.items():
        say(f"  {name}: {svc.url}")
        ops: dict[str, common.Load] = {}
        ops["create provider (POST)"] = common.run_requests(svc.url, [
            ("POST", "/resource_providers", {"name": p.name, "uuid": p.uuid}, "1.20")
            for p in fleet.providers], args.clients)
        ops["set inventory (PUT)"] = common.run_requests(svc.url, [
            ("PUT", f"/resource_providers/{p.uuid}/inventories",
             {"resource_provider_generation": 0, "inventories": p.inventories}, "1.20")
            for p in fleet.providers], args.clients)
        ops[f"list all {n} (GET)"] = common.run_requests(
            svc.url, [("GET", "/resource_providers", None, "1.20")] * lists, args.clients)
        ops["list ?resources=VCPU:4,DISK_GB:100 (GET)"] = common.run_requests(svc.url, [
            ("GET", "/resource_providers?resources=VCPU:4,DISK_GB:100", None, "1.20")] * lists,
            args.clients)
        ops["show one (GET)"] = common.run_requests(svc.url, [
            ("GET", f"/resource_providers/{p.uuid}", None, "1.20")
            for p in fleet.providers[: max(lists * 10, 200)]], args.clients)
        got = common.http_json(svc.url, "/resource_providers", "1.20")
        assert len(got["resource_providers"]) == n, (name, len(got["resource_providers"]))
        results[name] = ops
    pair.stop(dbs)

    say("")
    has_base = "placement" in results
    headers = ["operation", "corral req/s", "corral p50 ms", "corral p95 ms"]
    if has_base:
        headers += ["placement req/s", "placement p50 ms", "placement p95 ms",
                    "throughput ratio"]
    rows = []
    for op, ours in results["corral"].items():
        row: list[object] = [op, ours.rps, ours.pct(50), ours.pct(95)]
        if has_base:
            base = results["placement"][op]
            row += [base.rps, base.pct(50), base.pct(95), common.ratio(1 / base.rps, 1 / ours.rps)]
        rows.append(row)
    common.table(headers, rows)
    say("(latencies measured at the clients, under the concurrent load; ratio = corral "
        "req/s / Placement req/s)")


if __name__ == "__main__":
    main()
