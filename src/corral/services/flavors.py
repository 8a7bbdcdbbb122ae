"""Flavors: create, list, show, describe, delete; extra specs; project access.

Each use-case is one transaction. Who may call which is the edge's business; the
services take ``project_id`` where visibility matters: None means "every flavor"
(admins, the CLI), a project id means "public flavors and those shared with it" (a
private flavor a project cannot see is reported as not found, never as forbidden, so
its existence does not leak). Extra specs are checked against the standard catalogues
(:data:`corral.services.catalog.STANDARD_RESOURCE_CLASSES` and ``STANDARD_TRAITS``) plus
any valid CUSTOM_ name, always on the merged result of a change.
"""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections.abc import Mapping
from typing import Protocol

import structlog

from corral.domain import errors
from corral.domain import flavors as rules
from corral.domain.audit_log import Actor
from corral.domain.flavors import Flavor
from corral.persistence.revisions import FLAVORS
from corral.services.audit_log import record
from corral.services.catalog import STANDARD_RESOURCE_CLASSES, STANDARD_TRAITS
from corral.services.stores import FlavorStore, RevisionStore, Store

log = structlog.get_logger("corral.flavors")

CATALOGUE = rules.Catalogue(STANDARD_RESOURCE_CLASSES, STANDARD_TRAITS)


class FlavorCacheRepo(FlavorStore, RevisionStore, Protocol):
    """What the flavor cache reads."""


def _shown(flavor: Flavor) -> dict[str, object]:
    """A flavor as its audit entries show it."""
    return {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus,
            "ram_mb": flavor.ram_mb, "disk_gb": flavor.disk_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap_mb": flavor.swap_mb,
            "is_public": flavor.is_public, "description": flavor.description,
            "extra_specs": dict(flavor.extra_specs)}


def create_flavor(store: Store, *, actor: Actor, name: str, vcpus: int, ram_mb: int,
                  disk_gb: int = 0,
                  ephemeral_gb: int = 0, swap_mb: int = 0, is_public: bool = True,
                  flavor_id: str | None = None, description: str | None = None,
                  extra_specs: Mapping[str, str] | None = None) -> Flavor:
    """Create a flavor; ``flavor_id`` defaults to a new UUID.

    Raises:
        InvalidInput: a field out of range or a bad extra spec (naming it).
        DuplicateName: the id or the name is taken.
    """
    rules.check_flavor_name(name)
    if flavor_id is not None:
        rules.check_flavor_id(flavor_id)
    rules.check_flavor_sizes(vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb,
                             ephemeral_gb=ephemeral_gb, swap_mb=swap_mb)
    rules.check_description(description)
    specs = dict(extra_specs or {})
    rules.check_extra_specs(specs, CATALOGUE)
    flavor = Flavor(id=flavor_id or str(uuidlib.uuid4()), name=name, vcpus=vcpus,
                    ram_mb=ram_mb, disk_gb=disk_gb, ephemeral_gb=ephemeral_gb,
                    swap_mb=swap_mb, is_public=is_public, description=description,
                    extra_specs=specs)
    with store.write() as repo:
        created = repo.create_flavor(flavor)
        record(repo, actor, "flavor.create", "flavor", created.id, after=_shown(created))
    log.info("flavor_created", flavor=created.id, name=created.name, public=created.is_public,
             actor=actor.user_id)
    return created


def get_flavor(store: Store, ref: str, *, project_id: str | None = None) -> Flavor:
    """The flavor with id (else name) ``ref``, if ``project_id`` (when given) may see it.

    Raises:
        FlavorNotFound: no such flavor, or one the project may not see.
    """
    with store.read() as repo:
        return flavor_in(repo, ref, project_id=project_id)


def flavor_in(repo: FlavorStore, ref: str, *, project_id: str | None = None) -> Flavor:
    """:func:`get_flavor` inside the caller's transaction."""
    flavor = repo.get_flavor(ref)
    if project_id is not None and not repo.flavor_visible_to(flavor.id, project_id):
        raise errors.FlavorNotFound(ref)
    return flavor


class FlavorCache:
    """Flavors as one process last read them, dropped whenever any flavor changes (the
    ``flavors`` revision moves), so a boot costs one indexed read instead of four."""

    def __init__(self) -> None:
        self.revision = -1
        self.found: dict[tuple[str, str | None], Flavor] = {}
        self.lock = threading.Lock()

    def cached(self, store: Store, ref: str, *, project_id: str | None = None) -> Flavor | None:
        """The flavor if the cache holds it and no flavor changed since (one statement, no
        transaction); None otherwise (then :meth:`get` it in a transaction)."""
        revision = store.revision(FLAVORS)
        with self.lock:
            if revision != self.revision:
                return None
            return self.found.get((ref, project_id))

    def get(self, repo: FlavorCacheRepo, ref: str, *, project_id: str | None = None) -> Flavor:
        revision = repo.revision(FLAVORS)
        key = (ref, project_id)
        with self.lock:
            if revision != self.revision:
                self.found, self.revision = {}, revision
            hit = self.found.get(key)
        if hit is not None:
            return hit
        flavor = flavor_in(repo, ref, project_id=project_id)
        with self.lock:
            if revision == self.revision:
                self.found[key] = flavor
        return flavor


def list_flavors(store: Store, *, project_id: str | None = None, is_public: bool | None = None,
                 min_vcpus: int = 0, min_ram_mb: int = 0, min_disk_gb: int = 0) -> list[Flavor]:
    """Flavors by name: every one, or (with ``project_id``) those the project may see."""
    with store.read() as repo:
        return repo.list_flavors(project_id=project_id, is_public=is_public,
                                 min_vcpus=min_vcpus, min_ram_mb=min_ram_mb,
                                 min_disk_gb=min_disk_gb)


def set_description(store: Store, ref: str, description: str | None, *, actor: Actor
                    ) -> Flavor:
    rules.check_description(description)
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        repo.set_flavor_description(flavor.id, description)
        record(repo, actor, "flavor.update", "flavor", flavor.id,
               before={"description": flavor.description}, after={"description": description})
        return repo.get_flavor(flavor.id)


def delete_flavor(store: Store, ref: str, *, actor: Actor) -> None:
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        repo.delete_flavor(flavor.id)
        record(repo, actor, "flavor.delete", "flavor", flavor.id, before=_shown(flavor))
    log.info("flavor_deleted", flavor=flavor.id, name=flavor.name, actor=actor.user_id)


def update_extra_specs(store: Store, ref: str, changes: Mapping[str, str | None], *,
                       actor: Actor) -> Flavor:
    """Merge ``changes`` into the flavor's extra specs: a value sets, None removes.

    The merged set is checked as a whole before anything is written; removing a key
    that is not there is not an error.

    Raises:
        InvalidInput: a bad key or value, or a merged set Placement could not read.
    """
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        merged = dict(flavor.extra_specs)
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        rules.check_extra_specs(merged, CATALOGUE)
        repo.replace_extra_specs(flavor.id, merged)
        record(repo, actor, "flavor.extra_specs.set", "flavor", flavor.id,
               before={"extra_specs": dict(flavor.extra_specs)}, after={"extra_specs": merged})
        return repo.get_flavor(flavor.id)


def delete_extra_spec(store: Store, ref: str, key: str, *, actor: Actor) -> Flavor:
    """Remove one key. Raises ExtraSpecNotFound, or InvalidInput when the rest is invalid."""
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        if key not in flavor.extra_specs:
            raise errors.ExtraSpecNotFound(flavor.id, key)
        merged = {k: v for k, v in flavor.extra_specs.items() if k != key}
        rules.check_extra_specs(merged, CATALOGUE)
        repo.replace_extra_specs(flavor.id, merged)
        record(repo, actor, "flavor.extra_specs.unset", "flavor", flavor.id,
               before={"extra_specs": dict(flavor.extra_specs)}, after={"extra_specs": merged})
        return repo.get_flavor(flavor.id)


# -- access --------------------------------------------------------------------------------

def _check_project(project_id: str) -> None:
    if not 1 <= len(project_id) <= rules.MAX_LENGTH or project_id != project_id.strip():
        raise errors.InvalidInput(
            f"a project id is 1 to {rules.MAX_LENGTH} characters without surrounding "
            f"whitespace, got {project_id!r}", field="project_id")


def list_access(store: Store, ref: str) -> tuple[Flavor, list[str]]:
    """The projects a private flavor is shared with. Raises FlavorIsPublic."""
    with store.read() as repo:
        flavor = repo.get_flavor(ref)
        if flavor.is_public:
            raise errors.FlavorIsPublic(flavor.id)
        return flavor, repo.flavor_projects(flavor.id)


def add_access(store: Store, ref: str, project_id: str, *, actor: Actor
               ) -> tuple[Flavor, list[str]]:
    """Share a private flavor with a project. Raises FlavorIsPublic, FlavorAccessExists."""
    _check_project(project_id)
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        if flavor.is_public:
            raise errors.FlavorIsPublic(flavor.id)
        before = repo.flavor_projects(flavor.id)
        repo.add_flavor_project(flavor.id, project_id)
        projects = repo.flavor_projects(flavor.id)
        record(repo, actor, "flavor.access.add", "flavor", flavor.id,
               before={"projects": before}, after={"projects": projects})
    log.info("flavor_access_added", flavor=flavor.id, project=project_id, actor=actor.user_id)
    return flavor, projects


def remove_access(store: Store, ref: str, project_id: str, *, actor: Actor
                  ) -> tuple[Flavor, list[str]]:
    """Stop sharing a private flavor. Raises FlavorIsPublic, FlavorAccessNotFound."""
    with store.write() as repo:
        flavor = repo.get_flavor(ref, for_update=True)
        if flavor.is_public:
            raise errors.FlavorIsPublic(flavor.id)
        before = repo.flavor_projects(flavor.id)
        repo.remove_flavor_project(flavor.id, project_id)
        projects = repo.flavor_projects(flavor.id)
        record(repo, actor, "flavor.access.remove", "flavor", flavor.id,
               before={"projects": before}, after={"projects": projects})
    log.info("flavor_access_removed", flavor=flavor.id, project=project_id,
             actor=actor.user_id)
    return flavor, projects
