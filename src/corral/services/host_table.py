"""The scheduler's HostTable, kept fresh from the store.

It is rebuilt when the ``hosts`` revision moves (any host or host aggregate change but
heartbeats: one indexed row to check per decision). Heartbeats are re-read on their own,
all of them (they may come from several processes whose clocks differ a little), every
second, or every tenth of ``host_down_after_s`` when that is shorter. Whether a host is
down is computed at each decision from its last heartbeat.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import structlog

from corral.config import Settings
from corral.persistence.revisions import HOSTS
from corral.scheduler.hosts import AggregateInfo, HostInfo, HostTable, Policy
from corral.scheduler.records import Configuration
from corral.scheduler.weighers import WEIGHERS
from corral.services.hosts import defaults_of, effective_of
from corral.services.stores import AggregateStore, HostStore, RevisionStore

log = structlog.get_logger("corral.scheduler")


class HostTableRepo(HostStore, AggregateStore, RevisionStore, Protocol):
    """What the host table is read from."""

#: Heartbeats are re-read every second, or every this share of host_down_after_s if shorter.
HEARTBEAT_REFRESH_SHARE = 0.1


def _epoch(when: datetime | None) -> float | None:
    return None if when is None else when.replace(tzinfo=UTC).timestamp()


def policy_of(settings: Settings) -> Policy:
    """The defaults a host falls back to when its aggregates say nothing."""
    return Policy(strategy=settings.strategy,
                  max_instances_per_host=settings.max_instances_per_host,
                  multipliers={w: float(getattr(settings, f"{w}_weight_multiplier"))
                               for w in WEIGHERS})


def configuration_of(settings: Settings, policy: Policy) -> Configuration:
    """What every decision record says of the configuration."""
    st = settings
    return Configuration(
        strategy=st.strategy, filters=st.filters, host_subset_size=st.host_subset_size,
        max_attempts=st.max_attempts, max_instances_per_host=st.max_instances_per_host,
        multipliers=policy.multipliers,
        defaults={"cpu_allocation_ratio": st.cpu_allocation_ratio,
                  "ram_allocation_ratio": st.ram_allocation_ratio,
                  "disk_allocation_ratio": st.disk_allocation_ratio,
                  "reserved_host_memory_mb": st.reserved_host_memory_mb},
        host_down_after_s=st.host_down_after_s)


class HostTableCache:
    """One per Scheduler; used under the engine's lock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = policy_of(settings)
        self.table: HostTable | None = None
        self._revision: int | None = None
        self._heartbeats_read = 0.0
        self.refresh_s = min(1.0, settings.host_down_after_s * HEARTBEAT_REFRESH_SHARE)

    def get(self, repo: HostTableRepo) -> HostTable:
        """The table, rebuilt or with fresh heartbeats as needed (in ``repo``'s transaction)."""
        revision = repo.revision(HOSTS)
        if self.table is None or revision != self._revision:
            self.table = self._load(repo)
            self._revision = revision
            self._heartbeats_read = time.monotonic()
        elif time.monotonic() - self._heartbeats_read >= self.refresh_s:
            for name, when in repo.heartbeats():
                i = self.table.index.get(name)
                if i is not None:
                    self.table.heartbeat[i] = _epoch(when)
            self._heartbeats_read = time.monotonic()
        return self.table

    def _load(self, repo: HostTableRepo) -> HostTable:
        rows = repo.host_rows()
        aggregates = repo.aggregate_rows()
        metadata = repo.aggregate_metadata(a.id for a in aggregates)
        agg_name = {a.id: a.name for a in aggregates}
        of_host: dict[int, dict[str, dict[str, str]]] = {}
        for host_id, agg_id in repo.memberships():
            of_host.setdefault(host_id, {})[agg_name[agg_id]] = metadata[agg_id]
        defaults = defaults_of(self.settings)
        infos = []
        for r in rows:
            aggs = of_host.get(r.id, {})
            infos.append(HostInfo(
                id=r.id, name=r.name, provider_uuid=r.provider_uuid,
                enabled=r.enabled, forced_down=r.forced_down,
                heartbeat=_epoch(r.last_heartbeat), failed_builds=r.failed_builds,
                effective=effective_of(r.overrides(), aggs, defaults),
                aggregates=tuple(sorted(aggs))))
        log.info("host_table_loaded", hosts=len(infos), aggregates=len(aggregates))
        return HostTable(infos, [AggregateInfo(a.name, metadata[a.id]) for a in aggregates],
                         self.policy)
