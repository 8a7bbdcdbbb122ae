"""Instances as the API shows them, read from their rows; the reads the instance use
cases share (a live instance, what a consumer holds, an instance's server group)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from corral.domain import errors
from corral.domain import scheduling as s
from corral.domain.flavors import ServerGroup
from corral.domain.hosts import HostNotFound
from corral.domain.instances import InstanceRow
from corral.domain.names import normalize_uuid
from corral.domain.scheduling import Instance
from corral.services import hosts as host_svc
from corral.services import server_groups as group_svc
from corral.services.stores import InstanceStore, Repo, Store

#: Consumer types of an instance's allocations and of a move's source allocations.
INSTANCE_TYPE = "INSTANCE"
MIGRATION_TYPE = "MIGRATION"


def to_instance(row: InstanceRow, names: Mapping[int, str],
                zones: Mapping[int, str | None]) -> Instance:
    """``names``/``zones``: {host id: its name / its availability zone}."""
    return Instance(
        id=row.uuid, name=row.name, project_id=row.project_id, user_id=row.user_id,
        flavor_id=row.flavor_id, state=row.state,
        host=names.get(row.host_id) if row.host_id is not None else None,
        availability_zone=zones.get(row.host_id) if row.host_id is not None else None,
        requested_availability_zone=row.availability_zone,
        server_group=row.server_group_uuid, new_flavor_id=row.new_flavor_id,
        source_host=(names.get(row.source_host_id) if row.source_host_id is not None
                     else None),
        attempts=row.attempts, alternates=row.alternates, decision_id=row.decision_uuid,
        fault=row.fault, created_at=row.created_at, updated_at=row.updated_at,
        deleted_at=row.deleted_at)


def to_instances(repo: Repo, rows: Sequence[InstanceRow]) -> list[Instance]:
    names = repo.host_names_by_id([r.host_id for r in rows] +
                                  [r.source_host_id for r in rows])
    zones_of = repo.zones_of_hosts(r.host_id for r in rows if r.host_id is not None)
    zones = {host: found[0][0] for host, found in zones_of.items() if found}
    return [to_instance(r, names, zones) for r in rows]


def live_instance(repo: InstanceStore, uuid: str, project_id: str | None,
                  for_update: bool = False) -> InstanceRow:
    """The instance ``uuid`` (of ``project_id``, unless None), not deleted.

    Raises:
        InstanceNotFound: there is none.
    """
    canonical = normalize_uuid(uuid)
    row = repo.get_instance_row(canonical, for_update=for_update) if canonical else None
    if row is None or row.state == s.DELETED or (
            project_id is not None and row.project_id != project_id):
        raise s.InstanceNotFound(uuid)
    return row


def allocations_of(repo: Repo, consumer: str) -> dict[str, dict[str, int]]:
    """What ``consumer`` holds: {provider uuid: {resource class: amount}}."""
    row = repo.get_consumer(consumer)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if row is not None:
        for rp_uuid, _gen, rc, used in repo.consumer_allocations(row.id):
            out[rp_uuid][rc] = used
    return dict(out)


def group_of(store: Store, row: InstanceRow) -> ServerGroup | None:
    """The instance's server group (None when it has none, or it was deleted since)."""
    if not row.server_group_uuid:
        return None
    try:
        return group_svc.get_server_group(store, row.server_group_uuid)
    except errors.ServerGroupNotFound:
        return None


def get_instance(store: Store, uuid: str, *, project_id: str | None = None) -> Instance:
    with store.read() as repo:
        return to_instances(repo, [live_instance(repo, uuid, project_id)])[0]


def list_instances(store: Store, *, project_id: str | None = None, host: str | None = None,
                   state: str | None = None, limit: int | None = None) -> list[Instance]:
    if state is not None and state not in s.STATES:
        raise errors.InvalidInput(f"state must be one of {', '.join(s.STATES)}", field="state")
    with store.read() as repo:
        host_id = None
        if host is not None:
            try:
                host_id = host_svc.host_named(repo, host, field="host").id
            except HostNotFound:
                return []
        return to_instances(repo, repo.instance_rows(project_id=project_id, host_id=host_id,
                                                     state=state, limit=limit))
