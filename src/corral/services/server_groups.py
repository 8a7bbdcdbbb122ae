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
from corral.services import ledger, names
from corral.services.stores import ServerGroupStore, Store

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


def get_server_group(store: Store, ref: str, *, project_id: str | None = None,
                     field: str | None = None) -> ServerGroup:
    """The group whose UUID is ``ref``, else the only one named ``ref``; with
    ``project_id``, only among that project's groups (a project's caller never finds,
    by id or by name, another project's group).

    Raises:
        ServerGroupNotFound: none matches (or another project's).
        AmbiguousName: several of the groups seen are named ``ref``: give the UUID.
    """
    with store.read() as repo:
        return server_group_named(repo, ref, project_id=project_id, field=field)


def server_group_named(repo: ServerGroupStore, ref: str, *, project_id: str | None = None,
                       field: str | None = None) -> ServerGroup:
    """:func:`get_server_group` inside the caller's transaction."""
    def by_id(uuid: str) -> ServerGroup | None:
        canonical = normalize_uuid(uuid)
        if canonical is None:
            return None
        try:
            group = repo.get_server_group(canonical)
        except errors.ServerGroupNotFound:
            return None  # a group may be named like a UUID
        return group if project_id is None or group.project_id == project_id else None

    return names.resolve("server group", ref, by_id=by_id,
                         by_name=lambda n: repo.list_server_groups(project_id=project_id,
                                                                   name=n),
                         id_of=lambda g: g.id, not_found=errors.ServerGroupNotFound,
                         field=field)


def owner_of(store: Store, ref: str) -> str | None:
    """The project of the group whose UUID is ``ref`` (None: no such UUID). Names are
    not looked up across projects: a name is resolved within the caller's project."""
    canonical = normalize_uuid(ref)
    if canonical is None:
        return None
    with store.read() as repo:
        try:
            return repo.get_server_group(canonical).project_id
        except errors.ServerGroupNotFound:
            return None


def list_server_groups(store: Store, *, project_id: str | None = None) -> list[ServerGroup]:
    """The groups of ``project_id``, or of every project when it is None."""
    with store.read() as repo:
        return repo.list_server_groups(project_id=project_id)


def delete_server_group(store: Store, ref: str, *, project_id: str | None = None) -> None:
    """Delete a group (by UUID or name; of ``project_id``, when given).

    Raises:
        ServerGroupNotFound, AmbiguousName: see :func:`get_server_group`.
    """
    group = get_server_group(store, ref, project_id=project_id)
    with store.write() as repo:
        repo.delete_server_group(group.id)
        ledger.charge(repo, {(group.project_id, quotas.SERVER_GROUPS): -1}, enforce=False)
    log.info("server_group_deleted", server_group=group.id, project=group.project_id)
