"""Host aggregates: named sets of hosts with metadata, each also a Placement aggregate.

Membership is mirrored into the hosts' resource providers (Placement aggregate
``host_aggregates.uuid``), moving their generations. Metadata is validated key by key
(:func:`corral.domain.hosts.check_metadata_item`); a host may be in one availability
zone only. A change to membership or to overcommit metadata recomputes the affected
hosts' inventories in the same transaction
(:func:`corral.services.hosts.recompute_overcommit`).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import structlog

from corral.config import Settings
from corral.domain import errors
from corral.domain import hosts as rules
from corral.domain.audit_log import Actor
from corral.domain.hosts import AVAILABILITY_ZONE, Aggregate, AggregateRow, HostRow
from corral.domain.names import normalize_uuid
from corral.domain.overcommit import KEYS
from corral.services import names
from corral.services.audit_log import Recorder, record
from corral.services.hosts import host_named, recompute_overcommit
from corral.services.stores import (
    AggregateStore,
    HostStore,
    ProviderStore,
    Store,
)

log = structlog.get_logger("corral.aggregates")


class _ZoneRepo(AggregateStore, HostStore, Protocol):
    """What checking availability zones reads."""


def _record(repo: AggregateStore, row: AggregateRow) -> Aggregate:
    return _records(repo, [row])[0]


def _records(repo: AggregateStore, rows: Sequence[AggregateRow]) -> list[Aggregate]:
    ids = [r.id for r in rows]
    metadata, members = repo.aggregate_metadata(ids), repo.aggregate_hosts(ids)
    return [Aggregate(name=r.name, uuid=r.uuid, metadata=metadata[r.id],
                      hosts=[name for _, name in members[r.id]],
                      created_at=r.created_at, updated_at=r.updated_at)
            for r in rows]


def _row(repo: AggregateStore, ref: str, *, for_update: bool = False) -> AggregateRow:
    """The aggregate whose UUID is ``ref``, else whose name is (AggregateNotFound)."""
    canonical = normalize_uuid(ref)
    found = names.resolve(
        "host aggregate", ref,
        by_id=lambda r: repo.get_aggregate_row_by_uuid(canonical) if canonical else None,
        by_name=lambda n: [row] if (row := repo.get_aggregate_row(n)) is not None else [],
        id_of=lambda row: row.uuid, not_found=rules.AggregateNotFound)
    if for_update:  # lock it by its name, as every writer of aggregates does
        locked = repo.get_aggregate_row(found.name, for_update=True)
        if locked is None:
            raise rules.AggregateNotFound(ref)
        return locked
    return found


def _shown(agg: Aggregate) -> dict[str, object]:
    """An aggregate as its audit entries show it."""
    return {"name": agg.name, "uuid": agg.uuid, "metadata": dict(agg.metadata),
            "hosts": list(agg.hosts)}


def _check_metadata(metadata: Mapping[str, str | None]) -> None:
    for key, value in metadata.items():
        if value is None:
            rules.check_metadata_key(key)
        else:
            rules.check_metadata_item(key, value)


def _check_zone(repo: _ZoneRepo, aggregate: AggregateRow, zone: str,
                host_ids: list[int]) -> None:
    """Refuse when one of the hosts is in another zone through another aggregate."""
    elsewhere = repo.zones_of_hosts(host_ids, except_aggregate=aggregate.id)
    names = {h.id: h.name for h in repo.host_rows(host_ids)}
    for host_id in sorted(host_ids, key=lambda i: names[i]):
        for other_zone, via in elsewhere[host_id]:
            if other_zone != zone:
                raise rules.AvailabilityZoneConflict(names[host_id], other_zone, zone, via)


def create_aggregate(store: Store, name: str, metadata: Mapping[str, str] | None = None, *,
                     actor: Actor) -> Aggregate:
    rules.check_aggregate_name(name)
    wanted = dict(metadata or {})
    _check_metadata(wanted)
    with store.write() as repo:
        if repo.get_aggregate_row(name) is not None:
            raise errors.DuplicateName(f"Host aggregate {name!r} already exists.")
        repo.insert_aggregate(name, str(uuidlib.uuid4()), wanted)
        found = _record(repo, _row(repo, name))
        record(repo, actor, "aggregate.create", "aggregate", name, after=_shown(found))
    log.info("aggregate_created", aggregate=name, uuid=found.uuid, actor=actor.user_id)
    return found


def list_aggregates(store: Store) -> list[Aggregate]:
    with store.read() as repo:
        return _records(repo, repo.aggregate_rows())


def get_aggregate(store: Store, name: str) -> Aggregate:
    with store.read() as repo:
        return _record(repo, _row(repo, name))


def update_metadata(store: Store, settings: Settings, name: str,
                    changes: Mapping[str, str | None], *, actor: Actor) -> Aggregate:
    """Set keys (a value) and unset keys (None); unsetting a missing key is a no-op.

    Raises:
        InvalidInput: a bad key or value, naming ``metadata.<key>``.
        AvailabilityZoneConflict: a member host is in another zone elsewhere.
    """
    _check_metadata(changes)
    set_ = {k: v for k, v in changes.items() if v is not None}
    unset = [k for k, v in changes.items() if v is None]
    with store.write() as repo:
        row = _row(repo, name, for_update=True)
        was = _record(repo, row)
        host_ids = [i for i, _ in repo.aggregate_hosts([row.id])[row.id]]
        repo.lock_hosts(host_ids)
        if AVAILABILITY_ZONE in set_:
            _check_zone(repo, row, set_[AVAILABILITY_ZONE], host_ids)
        repo.change_aggregate_metadata(row.id, set_, unset)
        if any(k in KEYS for k in changes):
            recompute_overcommit(repo, settings, host_ids)
        found = _record(repo, _row(repo, name))
        record(repo, actor, "aggregate.metadata.set", "aggregate", row.name,
               before={"metadata": was.metadata}, after={"metadata": found.metadata})
    log.info("aggregate_metadata_changed", aggregate=name, set=sorted(set_), unset=sorted(unset),
             actor=actor.user_id)
    return found


def delete_aggregate(store: Store, name: str, *, actor: Actor) -> None:
    """Delete an aggregate with no hosts (AggregateNotEmpty otherwise)."""
    with store.write() as repo:
        row = _row(repo, name, for_update=True)
        was = _record(repo, row)
        members = repo.aggregate_hosts([row.id])[row.id]
        if members:
            raise rules.AggregateNotEmpty(name, [n for _, n in members])
        repo.delete_aggregate(row.id)
        repo.forget_placement_aggregate(row.uuid)
        record(repo, actor, "aggregate.delete", "aggregate", row.name, before=_shown(was))
    log.info("aggregate_deleted", aggregate=name, actor=actor.user_id)


def _host(repo: HostStore, ref: str) -> HostRow:
    return host_named(repo, ref, field="host")


def _mirror(repo: ProviderStore, host: HostRow, uuid: str, *, member: bool) -> None:
    """Add (or remove) the Placement aggregate ``uuid`` on the host's provider, keeping
    the provider's other aggregates (some may have been set through Placement)."""
    provider = repo.get_provider(host.provider_uuid)
    current = set(repo.provider_aggregates([provider.id])[provider.id])
    repo.set_provider_aggregates(provider, current | {uuid} if member else current - {uuid})


def add_host(store: Store, settings: Settings, name: str, host: str, *, actor: Actor
             ) -> Aggregate:
    """Put a host in the aggregate; its provider joins the Placement aggregate.

    Raises:
        HostAlreadyInAggregate, AvailabilityZoneConflict (409); HostNotFound (404).
    """
    with store.write() as repo:
        row = _row(repo, name, for_update=True)
        found = _host(repo, host)
        repo.lock_hosts([found.id])
        zone = repo.aggregate_metadata([row.id])[row.id].get(AVAILABILITY_ZONE)
        if zone is not None:
            _check_zone(repo, row, zone, [found.id])
        if not repo.add_aggregate_host(row.id, found.id):
            raise rules.HostAlreadyInAggregate(name, host)
        _mirror(repo, found, row.uuid, member=True)
        recompute_overcommit(repo, settings, [found.id], touched=[found.id])
        result = _record(repo, _row(repo, name))
        _record_hosts(repo, actor, "aggregate.host.add", result, found.name)
    log.info("aggregate_host_added", aggregate=name, host=host, actor=actor.user_id)
    return result


def remove_host(store: Store, settings: Settings, name: str, host: str, *, actor: Actor
                ) -> Aggregate:
    """Take a host out of the aggregate (and its provider out of the Placement one)."""
    with store.write() as repo:
        row = _row(repo, name, for_update=True)
        found = _host(repo, host)
        repo.lock_hosts([found.id])
        if not repo.remove_aggregate_host(row.id, found.id):
            raise rules.HostNotInAggregate(name, host)
        _mirror(repo, found, row.uuid, member=False)
        recompute_overcommit(repo, settings, [found.id], touched=[found.id])
        result = _record(repo, _row(repo, name))
        _record_hosts(repo, actor, "aggregate.host.remove", result, found.name)
    log.info("aggregate_host_removed", aggregate=name, host=host, actor=actor.user_id)
    return result


def _record_hosts(repo: Recorder, actor: Actor, action: str, now: Aggregate,
                  host: str) -> None:
    """Record a membership change: the hosts before (``host`` in or out) and after."""
    after = list(now.hosts)
    before = ([h for h in after if h != host] if action.endswith(".add")
              else sorted([*after, host]))
    record(repo, actor, action, "aggregate", now.name, before={"hosts": before},
           after={"hosts": after})
