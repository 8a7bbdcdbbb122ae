"""Server groups: create, list, show, delete.

A group belongs to a project and is immutable once created (as Nova's): a policy
(affinity, anti-affinity and their soft variants) and, for anti-affinity only, the
``max_server_per_host`` rule. ``members`` stays empty until instances exist. Who may
act on which project is the edge's business: these functions take the project to
act in, or None for "any project" (admins, the CLI).
"""

from __future__ import annotations

import uuid as uuidlib

import structlog

from corral.domain import errors, quotas
from corral.domain import flavors as rules
from corral.domain.flavors import ServerGroup
from corral.domain.names import normalize_uuid
from corral.persistence import Repository, Store
from corral.services import ledger

log = structlog.get_logger("corral.server_groups")


def create_server_group(store: Store, *, name: str, policy: str, project_id: str, user_id: str,
                        max_server_per_host: int | None = None) -> ServerGroup:
    """Create a group in ``project_id``.

    Raises:
        InvalidInput: a bad name or policy, or the rule with a policy other than
            anti-affinity, or a rule below 1.
        QuotaExceeded: the project (or an ancestor) is at its server_groups limit.
    """
    rules.check_server_group(name, policy, max_server_per_host)
    for value, field in ((project_id, "project_id"), (user_id, "user_id")):
        if not 1 <= len(value) <= rules.MAX_LENGTH:
            raise errors.InvalidInput(f"{field} must be 1 to {rules.MAX_LENGTH} characters",
                                      field=field)
    group = ServerGroup(id=str(uuidlib.uuid4()), name=name, policy=policy,
                        project_id=project_id, user_id=user_id,
                        max_server_per_host=max_server_per_host)
    with store.write() as repo:
        created = repo.create_server_group(group)
        ledger.charge(repo, {(project_id, quotas.SERVER_GROUPS): 1}, enforce=True)
    log.info("server_group_created", server_group=created.id, policy=policy,
             project=project_id)
    return created


def get_server_group(store: Store, uuid: str, *, project_id: str | None = None) -> ServerGroup:
    """The group ``uuid``; with ``project_id``, only if it belongs to that project.

    Raises:
        ServerGroupNotFound: no such group (or another project's).
    """
    with store.read() as repo:
        return server_group_in(repo, uuid, project_id=project_id)


def server_group_in(repo: Repository, uuid: str, *, project_id: str | None = None
                    ) -> ServerGroup:
    """:func:`get_server_group` inside the caller's transaction."""
    canonical = normalize_uuid(uuid)
    if canonical is None:
        raise errors.ServerGroupNotFound(uuid)
    group = repo.get_server_group(canonical)
    if project_id is not None and group.project_id != project_id:
        raise errors.ServerGroupNotFound(uuid)
    return group


def find_server_group(store: Store, ref: str, *, project_id: str | None = None) -> ServerGroup:
    """The group with UUID ``ref``, else the only one named ``ref`` (in ``project_id``).

    Raises:
        ServerGroupNotFound: none matches.
        Conflict: several groups have that name (names are not unique): use the UUID.
    """
    if normalize_uuid(ref) is not None:
        try:
            return get_server_group(store, ref, project_id=project_id)
        except errors.ServerGroupNotFound:
            pass  # a group may be named like a UUID
    with store.read() as repo:
        found = repo.list_server_groups(project_id=project_id, name=ref)
    if not found:
        raise errors.ServerGroupNotFound(ref)
    if len(found) > 1:
        raise errors.Conflict(f"{len(found)} server groups are named {ref!r}: give the UUID")
    return found[0]


def list_server_groups(store: Store, *, project_id: str | None = None) -> list[ServerGroup]:
    """The groups of ``project_id``, or of every project when it is None."""
    with store.read() as repo:
        return repo.list_server_groups(project_id=project_id)


def delete_server_group(store: Store, uuid: str, *, project_id: str | None = None) -> None:
    """Delete a group (of ``project_id``, when given). Raises ServerGroupNotFound."""
    group = get_server_group(store, uuid, project_id=project_id)
    with store.write() as repo:
        repo.delete_server_group(group.id)
        ledger.charge(repo, {(group.project_id, quotas.SERVER_GROUPS): -1}, enforce=False)
    log.info("server_group_deleted", server_group=group.id, project=group.project_id)
