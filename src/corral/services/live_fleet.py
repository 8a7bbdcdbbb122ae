"""The live fleet as the simulator copies it (``GET /v1/simulation/fleet``): one read
transaction, nothing written. Hosts with their reports, own overcommit values, traits,
aggregates, liveness (under the server's ``host_down_after_s``, at the server's clock)
and current usage; the aggregates' metadata; the flavors."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC

import structlog

from corral.config import Settings
from corral.domain.capacity import Inventory
from corral.domain.hosts import DISABLED_TRAIT, later
from corral.services.flavors import list_flavors
from corral.services.stores import Store
from corral.simulation.fleet import MEASURED, FleetSpec, HostSpec

log = structlog.get_logger("corral.simulator")


def read_live_fleet(store: Store, settings: Settings) -> FleetSpec:
    """Copy the live fleet once (one read transaction; nothing is written): hosts with
    their reports, own overcommit values, traits, aggregates, liveness and current
    usage, the aggregates' metadata, and the flavors."""
    now = time.time()
    with store.snapshot() as repo:  # the rows and the heartbeat log of one moment
        rows = repo.host_rows()
        logged = repo.logged_heartbeats()
        aggs = repo.aggregate_rows()
        metadata = repo.aggregate_metadata(a.id for a in aggs)
        agg_name = {a.id: a.name for a in aggs}
        of_host: dict[int, list[str]] = {}
        for host_id, agg_id in repo.memberships():
            of_host.setdefault(host_id, []).append(agg_name[agg_id])
        providers = {p.id: p for p in repo.provider_rows(
            [r.resource_provider_id for r in rows])}
    flavors = list_flavors(store)
    hosts = []
    for r in rows:
        p = providers.get(r.resource_provider_id)
        invs: Mapping[str, Inventory] = p.inventories if p else {}
        beat = later(r.last_heartbeat, logged.get(r.id))  # naive UTC, as stored
        fresh = (beat is not None
                 and now - beat.replace(tzinfo=UTC).timestamp() <= settings.host_down_after_s)
        hosts.append(HostSpec(
            name=r.name, vcpus=r.vcpus, memory_mb=r.memory_mb, disk_gb=r.disk_gb,
            aggregates=tuple(sorted(of_host.get(r.id, []))),
            traits=frozenset(p.traits if p else ()) - {DISABLED_TRAIT}, enabled=r.enabled,
            up=bool(fresh and not r.forced_down),
            overrides={k: float(v) for k, v in r.overrides().items() if v is not None},
            extra={rc: inv.total for rc, inv in invs.items() if rc not in MEASURED},
            used=dict(p.used if p else {}), instances=p.consumers if p else 0))
    log.info("simulator_fleet_read", hosts=len(hosts), aggregates=len(aggs))
    return FleetSpec(tuple(hosts), {agg_name[a]: m for a, m in metadata.items()},
                     tuple(flavors), source="live")


