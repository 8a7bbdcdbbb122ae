"""Resource classes and traits: the standard catalogues plus operators' CUSTOM_ names.

Standard names come from ``os-resource-classes`` and ``os-traits`` and are synced
into the store at start-up; they can be neither created nor deleted. Custom names
match ``CUSTOM_[A-Z0-9_]+``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import os_resource_classes
import os_traits

from corral.domain import errors
from corral.domain.names import MAX_NAME_LENGTH, is_custom
from corral.services.stores import CatalogStore, Store

STANDARD_RESOURCE_CLASSES: frozenset[str] = frozenset(os_resource_classes.STANDARDS)
STANDARD_TRAITS: frozenset[str] = frozenset(os_traits.get_traits())


def sync_standard_names(store: Store) -> tuple[int, int]:
    """Insert any standard class or trait the store lacks; returns how many of each."""
    with store.write() as repo:
        return (repo.ensure_resource_classes(STANDARD_RESOURCE_CLASSES),
                repo.ensure_traits(STANDARD_TRAITS))


def check_names_exist(repo: CatalogStore, classes: Iterable[str], traits: Iterable[str], *,
                      classes_where: str, traits_where: str) -> None:
    """Refuse a query that names a resource class or trait the store does not know.

    Raises:
        UnknownResourceClass: the first unknown class (400).
        UnknownTrait: every unknown trait (400).
    """
    wanted_classes, wanted_traits = set(classes), set(traits)
    unknown = sorted(wanted_classes - set(repo.resource_class_ids(wanted_classes)))
    if unknown:
        raise errors.UnknownResourceClass(unknown[0], classes_where)
    missing = sorted(wanted_traits - set(repo.trait_ids(wanted_traits)))
    if missing:
        raise errors.UnknownTrait(missing, traits_where)


def _require_custom(name: str, kind: str) -> None:
    if not is_custom(name) or len(name) > MAX_NAME_LENGTH:
        raise errors.InvalidInput(
            f"{kind} {name!r} is not a custom name: custom names must start with CUSTOM_, "
            f"use only A-Z, 0-9 and _ and be at most {MAX_NAME_LENGTH} characters long; "
            "standard names cannot be changed", field="name")


# -- resource classes --------------------------------------------------------------------

def list_resource_classes(store: Store) -> list[str]:
    with store.read() as repo:
        return repo.resource_class_names()


def show_resource_class(store: Store, name: str) -> datetime:
    """Returns when the class last changed. Raises ResourceClassNotFound."""
    with store.read() as repo:
        updated = repo.resource_class_updated(name)
    if updated is None:
        raise errors.ResourceClassNotFound(name)
    return updated


def create_resource_class(store: Store, name: str) -> None:
    _require_custom(name, "resource class")
    with store.write() as repo:
        if not repo.create_resource_class(name):
            raise errors.AlreadyExists(f"Conflicting resource class already exists: {name}")


def ensure_resource_class(store: Store, name: str) -> bool:
    """Create-or-verify (PUT from 1.7). Returns True when it was created.

    Raises:
        InvalidInput: the name is not a custom one, even when it exists (a standard
            class cannot be "verified" this way, as in Placement).
    """
    _require_custom(name, "resource class")
    with store.write() as repo:
        if repo.resource_class_ids([name]):
            return False
        return repo.create_resource_class(name)


def rename_resource_class(store: Store, old: str, new: str) -> datetime:
    """Rename a custom class (PUT 1.2-1.6). Returns when it changed."""
    with store.write() as repo:
        if not repo.resource_class_ids([old]):
            raise errors.ResourceClassNotFound(old)
        if old in STANDARD_RESOURCE_CLASSES:
            raise errors.InvalidInput(f"Cannot update standard resource class {old}", field="name")
        _require_custom(new, "resource class")
        repo.rename_resource_class(old, new)
        updated = repo.resource_class_updated(new)
    assert updated is not None
    return updated


def delete_resource_class(store: Store, name: str) -> None:
    with store.write() as repo:
        ids = repo.resource_class_ids([name])
        if not ids:
            raise errors.ResourceClassNotFound(name)
        if name in STANDARD_RESOURCE_CLASSES:
            raise errors.InvalidInput(f"Cannot delete standard resource class {name}", field="name")
        if repo.resource_class_in_use(ids[name]):
            raise errors.ResourceClassInUse(
                f"Unable to delete resource class {name}: it is used in inventory or allocations")
        repo.delete_resource_class(ids[name])


# -- traits ----------------------------------------------------------------------------

def list_traits(store: Store, *, names: list[str] | None = None, prefix: str | None = None,
                associated: bool | None = None) -> list[str]:
    with store.read() as repo:
        return repo.list_traits(names=names, prefix=prefix, associated=associated)


def show_trait(store: Store, name: str) -> datetime:
    with store.read() as repo:
        updated = repo.trait_updated(name)
    if updated is None:
        raise errors.TraitNotFound(name)
    return updated


def ensure_trait(store: Store, name: str) -> tuple[bool, datetime]:
    """Create a custom trait if absent. Returns (created, when it last changed)."""
    _require_custom(name, "trait")
    with store.write() as repo:
        created = not repo.trait_ids([name]) and repo.create_trait(name)
        updated = repo.trait_updated(name)
    assert updated is not None
    return created, updated


def delete_trait(store: Store, name: str) -> None:
    with store.write() as repo:
        ids = repo.trait_ids([name])
        if not ids:
            raise errors.TraitNotFound(name)
        if name in STANDARD_TRAITS:
            raise errors.InvalidInput(f"Cannot delete standard trait {name}.", field="name")
        if repo.trait_in_use(ids[name]):
            raise errors.TraitInUse(f"The trait {name} is in use by a resource provider.")
        repo.delete_trait(ids[name])
