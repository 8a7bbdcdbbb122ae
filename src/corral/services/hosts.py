"""Compute hosts: reports, heartbeats, operator changes, and effective overcommit.

A host is a root resource provider (named like the host, UUID derived from the name
so that re-reporting is stable) whose VCPU, MEMORY_MB and DISK_GB inventories carry
the host's *effective* allocation ratios and reserved memory (see
:mod:`corral.domain.overcommit`). :func:`recompute_overcommit` is the one place that
turns the inputs (host values, aggregate metadata, membership, settings) into those
inventories; every change to an input calls it in the same transaction, and it moves
the generation of each provider it changes, so the next candidates query and the next
claim see the new capacity with no restart.

The trait ``COMPUTE_STATUS_DISABLED`` is corral's: it is on a host's provider exactly
when the host is disabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from corral.config import Settings
from corral.config_fleet import defaults_of
from corral.domain import errors
from corral.domain import hosts as rules
from corral.domain.audit_log import Actor
from corral.domain.capacity import Inventory
from corral.domain.hosts import DISABLED_TRAIT, Host, HostReport, HostRow, ResourceView
from corral.domain.hosts import HOST_NAMESPACE as HOST_NAMESPACE  # pure: in the domain now
from corral.domain.hosts import effective_of as effective_of
from corral.domain.hosts import provider_uuid as provider_uuid
from corral.domain.names import (
    MAX_NAME_LENGTH,
    RESOURCE_CLASS_NAME,
    TRAIT_NAME,
    is_custom,
    normalize_uuid,
)
from corral.domain.overcommit import (
    BASE_CLASSES,
    KEYS,
    Effective,
    host_inventories,
)
from corral.persistence.clock import utcnow
from corral.services import names
from corral.services.audit_log import record
from corral.services.stores import CatalogStore, HostStore, InstanceStore, ProviderStore, Store

log = structlog.get_logger("corral.hosts")

class OvercommitRepo(HostStore, ProviderStore, Protocol):
    """What recomputing hosts' inventories reads and writes."""


class _ViewRepo(HostStore, ProviderStore, InstanceStore, Protocol):
    """What showing hosts reads."""


class _TraitRepo(ProviderStore, CatalogStore, Protocol):
    """What keeping a host's traits writes."""


def recompute_overcommit(repo: OvercommitRepo, settings: Settings, host_ids: Iterable[int], *,
                         touched: Iterable[int] = (),
                         extra: Mapping[int, Mapping[str, Inventory]] | None = None
                         ) -> dict[int, Effective]:
    """Write the effective ratios and reserved memory of hosts into their inventories.

    Call it, in the transaction that changed them, whenever an input changed: a host's
    own values or report, an aggregate's metadata, a membership. Each provider whose
    inventory changes, or that is in ``touched`` (the caller changed its traits or
    aggregates), moves its generation exactly once.

    Args:
        host_ids: the hosts whose inputs may have changed.
        touched: hosts whose provider changed otherwise and must move its generation.
        extra: {host id: its non-base classes} for a host that just reported them;
            other hosts keep the non-base classes they have.

    Returns:
        {host id: effective values}.

    Raises:
        InventoryInUse: a class the host no longer reports still has allocations.
        ConcurrentUpdate: a provider moved under us (a concurrent Placement write).
    """
    must_bump = set(touched)
    ids = sorted(set(host_ids) | must_bump)
    rows = repo.host_rows(ids)
    if not rows:
        return {}
    defaults = defaults_of(settings)
    aggregates = repo.host_aggregates_of(ids)
    invs = repo.inventories([r.resource_provider_id for r in rows])
    out: dict[int, Effective] = {}
    for row in rows:
        effective = effective_of(row.overrides(), aggregates[row.id], defaults)
        out[row.id] = effective
        current = invs[row.resource_provider_id]
        if extra is not None and row.id in extra:
            others = dict(extra[row.id])
        else:
            others = {k: v for k, v in current.items() if k not in BASE_CLASSES}
        wanted = host_inventories(row.vcpus, row.memory_mb, row.disk_gb, effective, others)
        _write_inventories(repo, row, effective, current, wanted, bump=row.id in must_bump)
    return out


def _write_inventories(repo: OvercommitRepo, row: HostRow, effective: Effective,
                       current: Mapping[str, Inventory], wanted: Mapping[str, Inventory], *,
                       bump: bool) -> None:
    """Replace the host's inventories with ``wanted`` if they differ (refused while a
    class dropped has allocations), and move its generation if so or if ``bump``."""
    changed = wanted != current
    if changed:
        gone = [name for name in current if name not in wanted]
        if gone:
            used = repo.usages([row.resource_provider_id])[row.resource_provider_id]
            for name in gone:
                if used.get(name, 0) > 0:
                    raise errors.InventoryInUse(row.provider_uuid, name, used[name])
    if changed or bump:
        provider = repo.get_provider(row.provider_uuid)
        if changed:
            repo.replace_inventories(provider, wanted)
        repo.bump_generation(provider)
        log.info("host_inventory_updated", host=row.name, provider=provider.uuid,
                 inventory_changed=changed, ratios={k: effective.get(k).value for k in KEYS})


# -- reading -------------------------------------------------------------------------------

def _build(repo: _ViewRepo, settings: Settings, rows: Sequence[HostRow],
           now: datetime) -> list[Host]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    rp_ids = [r.resource_provider_id for r in rows]
    aggregates = repo.host_aggregates_of(ids)
    invs, used, traits = repo.inventories(rp_ids), repo.usages(rp_ids), repo.provider_traits(rp_ids)
    instances = repo.instance_counts(ids)
    logged = repo.logged_heartbeats(ids)
    defaults = defaults_of(settings)
    found = []
    for row in rows:
        rp_id, aggs, overrides = row.resource_provider_id, aggregates[row.id], row.overrides()
        beat = rules.later(row.last_heartbeat, logged.get(row.id))
        zones = sorted({md[rules.AVAILABILITY_ZONE] for md in aggs.values()
                        if rules.AVAILABILITY_ZONE in md})
        resources = {
            name: ResourceView(inv.total, inv.reserved, inv.allocation_ratio, inv.capacity,
                               used[rp_id].get(name, 0))
            for name, inv in invs[rp_id].items()}
        found.append(Host(
            name=row.name, provider_uuid=row.provider_uuid, generation=row.generation,
            enabled=row.enabled, disabled_reason=row.disabled_reason,
            forced_down=row.forced_down, last_heartbeat=beat,
            state=rules.host_state(row.forced_down, beat, now,
                                   settings.host_down_after_s),
            availability_zone=zones[0] if zones else None, aggregates=sorted(aggs),
            traits=traits[rp_id], reported=row.reported(), overrides=overrides,
            effective=effective_of(overrides, aggs, defaults), resources=resources,
            created_at=row.created_at, updated_at=row.updated_at,
            instances=instances.get(row.id, 0), failed_builds=row.failed_builds))
    return found


def host_named(repo: HostStore, ref: str, *, field: str | None = None) -> HostRow:
    """The host whose id (its resource provider's UUID) is ``ref``, else whose name is.

    Raises:
        HostNotFound: neither.
    """
    canonical = normalize_uuid(ref)
    return names.resolve(
        "host", ref,
        by_id=lambda r: repo.get_host_row_by_provider(canonical) if canonical else None,
        by_name=lambda n: [row] if (row := repo.get_host_row(n)) is not None else [],
        id_of=lambda row: row.provider_uuid, not_found=rules.HostNotFound, field=field)


def get_host(store: Store, settings: Settings, name: str, *, now: datetime | None = None) -> Host:
    # One snapshot: a heartbeat fold committing between the rows and the log is unseen.
    with store.snapshot() as repo:
        return _build(repo, settings, [host_named(repo, name)], now or utcnow())[0]


def list_hosts(store: Store, settings: Settings, *, availability_zone: str | None = None,
               state: str | None = None, enabled: bool | None = None,
               now: datetime | None = None) -> list[Host]:
    """Every host, by name; each filter given narrows the list."""
    if state is not None and state not in (rules.UP, rules.DOWN):
        raise errors.InvalidInput(f"state must be 'up' or 'down' (got {state!r})", field="state")
    with store.snapshot() as repo:  # the rows and the heartbeat log, as get_host
        found = _build(repo, settings, repo.host_rows(), now or utcnow())
    return [h for h in found
            if (availability_zone is None or h.availability_zone == availability_zone)
            and (state is None or h.state == state)
            and (enabled is None or h.enabled == enabled)]


# -- a host reports itself -------------------------------------------------------------------

def _check_report(report: HostReport) -> None:
    for fld in ("vcpus", "memory_mb", "disk_gb"):
        rules.check_count(getattr(report, fld), fld)
    for i, trait in enumerate(report.traits or []):
        if not TRAIT_NAME.match(trait) or len(trait) > MAX_NAME_LENGTH:
            raise errors.InvalidInput(f"{trait!r} is not a trait name", field=f"traits.{i}")
        if trait == DISABLED_TRAIT:
            raise errors.InvalidInput(
                f"{DISABLED_TRAIT} is managed by corral: disable the host instead "
                "(PATCH /v1/hosts/{name} with enabled false)", field=f"traits.{i}")
    for name, total in (report.resources or {}).items():
        where = f"resources.{name}"
        if not RESOURCE_CLASS_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
            raise errors.InvalidInput(f"{name!r} is not a resource class name", field=where)
        if name in BASE_CLASSES:
            raise errors.InvalidInput(
                f"{name} is reported as vcpus, memory_mb or disk_gb, not in resources",
                field=where)
        rules.check_count(total, where, low=1)


def _extra_inventories(repo: CatalogStore, resources: Mapping[str, int]) -> dict[str, Inventory]:
    repo.ensure_resource_classes(n for n in resources if is_custom(n))
    unknown = set(resources) - set(repo.resource_class_ids(resources))
    if unknown:
        name = sorted(unknown)[0]
        raise errors.InvalidInput(f"Unknown resource class {name} (custom classes start with "
                                  "CUSTOM_)", field=f"resources.{name}")
    return {name: Inventory(total=total, reserved=0, min_unit=1, max_unit=total, step_size=1,
                            allocation_ratio=1.0)
            for name, total in resources.items()}


def _sync_traits(repo: _TraitRepo, rp_id: int, provider_uuid_: str, enabled: bool,
                 reported: list[str] | None) -> bool:
    """Give the provider its reported traits (or keep its own) plus corral's disabled
    trait when the host is disabled; True when that changed anything."""
    current = set(repo.provider_traits([rp_id])[rp_id])
    if reported is None:
        wanted = current - {DISABLED_TRAIT}
    else:
        repo.ensure_traits(t for t in reported if is_custom(t))
        wanted = set(reported)
        unknown = wanted - set(repo.trait_ids(wanted))
        if unknown:
            raise errors.UnknownTrait(sorted(unknown), " (custom traits start with CUSTOM_)")
    if not enabled:
        wanted.add(DISABLED_TRAIT)
    if wanted == current:
        return False
    repo.set_provider_traits(repo.get_provider(provider_uuid_),
                             repo.trait_ids(wanted).values())
    return True


def report_host(store: Store, settings: Settings, name: str, report: HostReport
                ) -> tuple[Host, bool]:
    """Create or update a host from its own report; also a heartbeat.

    Returns:
        The host, and True when it was created.

    Raises:
        InvalidInput: a bad name, amount, trait or resource class (naming the field).
        DuplicateName: a provider of that name that is not this host's exists.
        InventoryInUse: a class dropped from the report still has allocations.
    """
    rules.check_host_name(name)
    _check_report(report)
    now = utcnow()
    uuid = provider_uuid(name)
    totals = {"vcpus": report.vcpus, "memory_mb": report.memory_mb, "disk_gb": report.disk_gb}
    with store.write() as repo:
        row = repo.get_host_row(name)
        created = row is None
        if row is None:
            try:
                provider = repo.get_provider(uuid, for_update=True)  # left by a crash: adopt
            except errors.ProviderNotFound:
                provider = repo.create_provider(uuid, name, None)
            host_id = repo.insert_host(name, provider.id, heartbeat=now, **totals)
            rp_id, rp_uuid, enabled = provider.id, provider.uuid, True
        else:
            repo.lock_hosts([row.id])
            locked = host_named(repo, name)  # read again under the lock
            # Its provider too, before its generation is read: a claim on the host that
            # is committing makes this wait for it rather than fail on the generation.
            repo.get_provider(locked.provider_uuid, for_update=True)
            host_id, rp_id = locked.id, locked.resource_provider_id
            rp_uuid, enabled = locked.provider_uuid, locked.enabled
            repo.update_host(host_id, {**totals, "last_heartbeat": now})
        extra = (None if report.resources is None
                 else {host_id: _extra_inventories(repo, report.resources)})
        traits_changed = _sync_traits(repo, rp_id, rp_uuid, enabled, report.traits)
        recompute_overcommit(repo, settings, [host_id],
                             touched=[host_id] if traits_changed else [], extra=extra)
        host = _build(repo, settings, [host_named(repo, name)], now)[0]
    log.info("host_reported", host=name, provider=uuid, created=created)
    return host, created


# -- operators change a host -----------------------------------------------------------------

def update_host(store: Store, settings: Settings, name: str, changes: Mapping[str, object],
                *, actor: Actor) -> Host:
    """Change what operators own on a host: enabled/disabled with a reason, forced down,
    and its own overcommit values (None clears one back to its aggregates or the default).

    Raises:
        InvalidInput: a bad value, or a reason for a host that is (or becomes) enabled.
    """
    values = rules.check_host_changes(changes)
    with store.write() as repo:
        repo.lock_hosts([host_named(repo, name).id])
        row = host_named(repo, name)  # read again under the lock: a racing PATCH has committed
        # Its provider before its generation is read (as a report does): a committing
        # claim on the host is waited for, not a 409.
        repo.get_provider(row.provider_uuid, for_update=True)
        enabled = bool(values.get("enabled", row.enabled))
        if "enabled" in values or "disabled_reason" in values:
            reason = values.get("disabled_reason", row.disabled_reason if not enabled else None)
            if enabled and reason is not None:
                raise errors.InvalidInput("only a disabled host has a disabled_reason "
                                          "(set enabled to false too)", field="disabled_reason")
            values["disabled_reason"] = reason
        if values:
            repo.update_host(row.id, values)
        traits_changed = _sync_traits(repo, row.resource_provider_id, row.provider_uuid,
                                      enabled, None)
        recompute_overcommit(repo, settings, [row.id], touched=[row.id] if traits_changed else [])
        host = _build(repo, settings, [host_named(repo, name)], utcnow())[0]
        before, after = _operated(row, row.overrides()), _operated(host, host.overrides)
        if before != after:
            record(repo, actor, "host.update", "host", row.name, before=before, after=after)
    log.info("host_updated", host=name, fields=sorted(values), actor=actor.user_id)
    return host


def _operated(host: HostRow | Host, overrides: Mapping[str, object]) -> dict[str, object]:
    """What operators own on a host, as its audit entries show it."""
    return {"enabled": host.enabled, "disabled_reason": host.disabled_reason,
            "forced_down": host.forced_down, **overrides}


def delete_host(store: Store, name: str, *, actor: Actor) -> None:
    """Delete a host and its resource provider (refused while it has allocations)."""
    with store.write() as repo:
        row = host_named(repo, name)
        repo.lock_hosts([row.id])
        provider = repo.get_provider(row.provider_uuid, for_update=True)
        if repo.has_allocations(provider.id):
            raise rules.HostInUse(name)
        if repo.has_children(provider.id):
            raise errors.CannotDeleteParent(
                f"Unable to delete host {name!r}: its resource provider {provider.uuid} has "
                "child resource providers")
        repo.delete_host(row.id)
        repo.delete_provider(provider)
        record(repo, actor, "host.delete", "host", row.name,
               before={"provider_uuid": row.provider_uuid, **_operated(row, row.overrides())})
    log.info("host_deleted", host=name, provider=row.provider_uuid, actor=actor.user_id)

