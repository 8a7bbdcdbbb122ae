"""The claim race, side by side: corral against OpenStack Placement 16.0.0 on PostgreSQL.

A small fleet (3 providers, VCPU total 8 x allocation_ratio 2.5 = 20 usable each, 60 in
all) and several client processes racing PUT /allocations/{new consumer} claims of 1-3
VCPU on a random provider, far more than fit. Both services run with the same number of
worker processes on their own database. Every run uses a fresh fleet; each run is
reported, then the totals. What is checked per run:

- claims won (204) and the units they were granted, against the 60 usable;
- usage as the provider reports it (GET .../usages), and overcommit: units in use
  beyond a provider's usable capacity;
- answers other than 204/409 (a 500 is a failure to serialise the race);
- whether what the winners were told equals what is stored.

    .venv/bin/python bench/race.py             # 5 runs each
    .venv/bin/python bench/race.py --quick     # 2 runs each
"""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from collections import Counter
from typing import Any

import common
import httpx
from common import say

PROVIDERS, TOTAL, RATIO = 3, 8, 2.5
USABLE = int(TOTAL * RATIO)
PROJECT, USER = "6e4f2a8c-0d1b-4c5e-9f3a-7b2d1c0e9a11", "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"


def claimer(base: str, providers: list[str], claims: int, version: str, seed: int,
            barrier: Any, out: Any) -> None:
    rnd = random.Random(seed)
    records = []
    headers = {**common.ADMIN, "openstack-api-version": f"placement {version}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120.0) as client:
        barrier.wait(60)
        for _ in range(claims):
            rp, amount = rnd.choice(providers), rnd.randint(1, 3)
            body: dict[str, Any] = {"allocations": {rp: {"resources": {"VCPU": amount}}},
                                    "project_id": PROJECT, "user_id": USER}
            if version >= "1.28":
                body["consumer_generation"] = None
            if version >= "1.38":
                body["consumer_type"] = "INSTANCE"
            resp = client.put(f"/allocations/{uuid.uuid4()}", json=body)
            records.append((rp, amount, resp.status_code))
    out.put(records)


def fresh_fleet(base: str, tag: str) -> list[str]:
    uuids = []
    with httpx.Client(base_url=base, headers={
            **common.ADMIN, "openstack-api-version": "placement 1.20"}, timeout=60) as api:
        for i in range(PROVIDERS):
            r = api.post("/resource_providers", json={"name": f"race-{tag}-{i}"})
            r.raise_for_status()
            rp = r.json()
            api.put(f"/resource_providers/{rp['uuid']}/inventories", json={
                "resource_provider_generation": rp["generation"],
                "inventories": {"VCPU": {"total": TOTAL, "allocation_ratio": RATIO}}},
            ).raise_for_status()
            uuids.append(rp["uuid"])
    return uuids


#: What Placement logs when it lets a write through an over-capacity provider because the
#: write "reduces the existing overage" (objects/allocation.py, _check_capacity_exceeded).
OVERAGE_LOG = "reduces existing overage"


def overage_lines(svc: common.Service) -> int:
    return svc.log_path.read_text(errors="replace").count(OVERAGE_LOG)


def one_race(svc: common.Service, tag: str, clients: int, claims: int, version: str,
             seed: int) -> dict[str, Any]:
    base = svc.url
    logged_before = overage_lines(svc)
    providers = fresh_fleet(base, tag)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=claimer, daemon=True,
                         args=(base, providers, claims, version, seed * 100 + i, barrier, out))
             for i in range(clients)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    records = []
    for _ in procs:
        records.extend(out.get(timeout=600))
    seconds = time.perf_counter() - t0
    for p in procs:
        p.join(10)
    statuses = Counter(status for _, _, status in records)
    won = [(rp, amount) for rp, amount, status in records if status == 204]
    usage = {}
    with httpx.Client(base_url=base, headers=common.ADMIN, timeout=60) as api:
        for rp in providers:
            usage[rp] = api.get(f"/resource_providers/{rp}/usages").json()["usages"]["VCPU"]
    granted: Counter[str] = Counter()
    for rp, amount in won:
        granted[rp] += amount
    return {
        "claims": len(records), "won": len(won), "granted": sum(granted.values()),
        "used": sum(usage.values()), "per_provider": [usage[rp] for rp in providers],
        "overcommit": sum(max(0, u - USABLE) for u in usage.values()),
        "errors": sum(n for s, n in statuses.items() if s not in (204, 409)),
        "statuses": dict(sorted(statuses.items())),
        "consistent": dict(granted) == {rp: u for rp, u in usage.items() if u},
        "seconds": seconds,
        "overage_logged": overage_lines(svc) - logged_before,
    }


def main() -> None:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="Races per service (default 5; quick 2).")
    parser.add_argument("--workers", type=int, default=4, help="Server workers (default 4).")
    parser.add_argument("--clients", type=int, default=6, help="Client processes (default 6).")
    parser.add_argument("--claims", type=int, default=30, help="Claims per client (default 30).")
    parser.add_argument("--microversion", default="1.39",
                        help="Microversion of the claims (default 1.39: consumer_generation "
                             "null; below 1.28 the request carries no consumer generation).")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)

    say(f"bench/race.py: {PROVIDERS} providers x {USABLE} usable VCPU = "
        f"{PROVIDERS * USABLE} units; {args.clients} client processes x {args.claims} claims of "
        f"1-3 VCPU (microversion {args.microversion}); {args.workers} server workers each; "
        f"{runs} runs; {common.machine_facts()}")
    dbs = common.Databases(args.postgresql_url)
    pair = common.start_pair(dbs, args.workers, not args.no_placement, "race")
    rows = []
    totals: dict[str, Counter[str]] = {name: Counter() for name in pair.services}
    for run in range(runs):
        for name, svc in pair.services.items():
            r = one_race(svc, f"{run}", args.clients, args.claims, args.microversion, run)
            for key in ("claims", "won", "granted", "used", "overcommit", "errors",
                        "overage_logged"):
                totals[name][key] += r[key]
            totals[name]["inconsistent"] += not r["consistent"]
            totals[name]["runs_over"] += r["overcommit"] > 0
            rows.append([f"{name} #{run + 1}", r["claims"], r["won"], r["granted"],
                         f"{r['used']}/{PROVIDERS * USABLE}",
                         "/".join(map(str, r["per_provider"])), r["overcommit"], r["errors"],
                         "yes" if r["consistent"] else "NO", r["overage_logged"],
                         r["statuses"], r["seconds"]])
            say(f"  {rows[-1]}")
    pair.stop(dbs)

    say("")
    common.table(["run", "claims", "won (204)", "units granted", "used/usable",
                  f"per provider (usable {USABLE})", "overcommit", "non-204/409",
                  "told == stored", "'reduces existing overage' logged", "statuses",
                  "seconds"], rows)
    say("")
    common.table(["service", "runs", "claims won", "units granted", "units used",
                  "usable", "overcommitted units", "runs overcommitted", "non-204/409 answers",
                  "runs told != stored"],
                 [[name, runs, t["won"], t["granted"], t["used"], runs * PROVIDERS * USABLE,
                   t["overcommit"], t["runs_over"], t["errors"], t["inconsistent"]]
                  for name, t in totals.items()])
    say(f"('{OVERAGE_LOG}' logged: Placement's warning when it admits a write to a provider "
        "already over capacity; corral has no such path)")


if __name__ == "__main__":
    main()
