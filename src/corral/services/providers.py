"""Resource providers and what hangs off them: inventories, traits, aggregates, usage.

Every change to a provider moves its generation by compare-and-swap in the same
transaction as the change, so two writers that read the same generation cannot both
win: the second gets ConcurrentUpdate (409 placement.concurrent_update).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from corral.domain import capacity, errors
from corral.domain.capacity import Inventory
from corral.domain.model import Provider, ProviderFilter
from corral.services import catalog
from corral.services.stores import ProviderStore, Store

#: Marker for "the request did not mention the parent" (None means "no parent").
UNSET = object()


@dataclass(frozen=True, slots=True)
class InventoryView:
    provider: Provider
    generation: int
    inventories: dict[str, Inventory]
    updated_at: datetime


# -- providers ---------------------------------------------------------------------------

MAX_NAME = 200


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise errors.InvalidInput(
            f"a provider name must be 1 to {MAX_NAME} characters (got {len(name)})", field="name")


def create_provider(store: Store, name: str, uuid: str | None = None,
                    parent_uuid: str | None = None) -> Provider:
    _check_name(name)
    with store.write() as repo:
        parent = None
        if parent_uuid is not None:
            try:
                parent = repo.get_provider(parent_uuid)
            except errors.ProviderNotFound as exc:
                raise errors.InvalidInput(
                    f"parent provider UUID {parent_uuid} does not exist",
                    field="parent_provider_uuid") from exc
        return repo.create_provider(uuid or str(uuidlib.uuid4()), name, parent)


def get_provider(store: Store, uuid: str) -> Provider:
    with store.read() as repo:
        return repo.get_provider(uuid)


def list_providers(store: Store, flt: ProviderFilter) -> list[Provider]:
    """Providers matching every filter, in id order. ``resources`` asks for free
    capacity now (``capacity.fits`` on every class named, checked by the store for the
    whole fleet at once, never provider by provider).

    Raises:
        UnknownResourceClass, UnknownTrait: a name in the filter does not exist.
    """
    with store.read() as repo:
        traits = set(flt.forbidden_traits).union(*flt.required)
        catalog.check_names_exist(repo, (name for name, _ in flt.resources), traits,
                                  classes_where=" in resources parameter",
                                  traits_where=' in "required" parameter')
        return repo.list_providers(flt)


def update_provider(store: Store, uuid: str, *, name: str, parent_uuid: object = UNSET,
                    allow_reparent: bool = False) -> Provider:
    """Rename a provider and, when asked, set or change its parent.

    Without ``allow_reparent`` (before microversion 1.37) a parent may only be set on a
    provider that has none. With it, a provider may move anywhere but into its own
    subtree, or become a root (``parent_uuid=None``).
    """
    _check_name(name)
    with store.write() as repo:
        provider = repo.get_provider(uuid, for_update=True)
        reparent = False
        parent = None
        if parent_uuid is not UNSET and parent_uuid != provider.parent_uuid:
            if parent_uuid is None:
                if not allow_reparent:
                    raise errors.InvalidInput(
                        "Un-parenting a provider is not allowed.", field="parent_provider_uuid")
            else:
                try:
                    parent = repo.get_provider(str(parent_uuid))
                except errors.ProviderNotFound as exc:
                    raise errors.InvalidInput(
                        f"parent provider UUID {parent_uuid} does not exist",
                        field="parent_provider_uuid") from exc
                if provider.parent_uuid is not None and not allow_reparent:
                    raise errors.InvalidInput(
                        "Re-parenting a provider is not allowed.", field="parent_provider_uuid")
                if parent.id in repo.subtree_ids(provider.id):
                    raise errors.InvalidInput(
                        "creating loop in the provider tree is not allowed.",
                        field="parent_provider_uuid")
            reparent = True
        repo.update_provider(provider, name=name, parent=parent, reparent=reparent)
        return repo.get_provider(uuid)


def delete_provider(store: Store, uuid: str) -> None:
    with store.write() as repo:
        provider = repo.get_provider(uuid, for_update=True)
        if repo.has_children(provider.id):
            raise errors.CannotDeleteParent(
                f"Unable to delete parent resource provider {uuid}: "
                "It has child resource providers.")
        if repo.has_allocations(provider.id):
            raise errors.ProviderInUse(
                f"Unable to delete resource provider {uuid}: it has allocations")
        repo.delete_provider(provider)


# -- inventories -------------------------------------------------------------------------

def get_inventories(store: Store, uuid: str) -> InventoryView:
    with store.read() as repo:
        provider = repo.get_provider(uuid)
        invs = repo.inventories([provider.id])[provider.id]
        updated = repo.inventory_updated(provider.id) or provider.updated_at
    return InventoryView(provider, provider.generation, invs, updated)


def _validate(provider: Provider, wanted: Mapping[str, Inventory], reserved_may_equal_total: bool) -> None:
    for name, record in wanted.items():
        problem = capacity.inventory_problem(record, reserved_may_equal_total=reserved_may_equal_total)
        if problem:
            raise errors.InvalidInventory(provider.uuid, name, problem)


def _replace(repo: ProviderStore, provider: Provider, wanted: Mapping[str, Inventory],
             seen_generation: int | None) -> InventoryView:
    current = repo.inventories([provider.id])[provider.id]
    used = repo.usages([provider.id])[provider.id]
    for name in current:
        if name not in wanted and used.get(name, 0) > 0:
            raise errors.InventoryInUse(provider.uuid, name, used[name])
    repo.replace_inventories(provider, wanted)
    generation = repo.bump_generation(provider, seen_generation)
    invs = repo.inventories([provider.id])[provider.id]
    return InventoryView(repo.get_provider(provider.uuid), generation, invs,
                         repo.inventory_updated(provider.id) or provider.updated_at)


def set_inventories(store: Store, uuid: str, generation: int, wanted: Mapping[str, Inventory], *,
                    reserved_may_equal_total: bool) -> InventoryView:
    """Replace the whole inventory of a provider (PUT .../inventories)."""
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        if generation != provider.generation:
            raise errors.ConcurrentUpdate(uuid, generation, provider.generation)
        _validate(provider, wanted, reserved_may_equal_total)
        return _replace(repo, provider, wanted, generation)


def add_inventory(store: Store, uuid: str, resource_class: str, record: Inventory, *,
                  reserved_may_equal_total: bool) -> InventoryView:
    """Add one class (POST .../inventories); the class must not be there yet."""
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        _validate(provider, {resource_class: record}, reserved_may_equal_total)
        current = repo.inventories([provider.id])[provider.id]
        if resource_class in current:
            raise errors.AlreadyExists(
                f"Update conflict: inventory for {resource_class} on resource provider "
                f"{uuid} already exists.")
        return _replace(repo, provider, {**current, resource_class: record}, None)


def update_inventory(store: Store, uuid: str, resource_class: str, generation: int,
                     record: Inventory, *, reserved_may_equal_total: bool) -> InventoryView:
    """Change one existing class (PUT .../inventories/{rc})."""
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        if generation != provider.generation:
            raise errors.ConcurrentUpdate(uuid, generation, provider.generation)
        _validate(provider, {resource_class: record}, reserved_may_equal_total)
        current = repo.inventories([provider.id])[provider.id]
        if resource_class not in current:
            if not repo.resource_class_ids([resource_class]):
                raise errors.UnknownResourceClass(resource_class)
            raise errors.InvalidInput(
                f"No inventory record with resource class {resource_class} for resource "
                f"provider {uuid}", field="resource_class")
        return _replace(repo, provider, {**current, resource_class: record}, generation)


def delete_inventory(store: Store, uuid: str, resource_class: str | None = None) -> None:
    """Delete one class, or (``resource_class=None``) every class, of a provider."""
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        current = repo.inventories([provider.id])[provider.id]
        if resource_class is None:
            wanted: dict[str, Inventory] = {}
        elif resource_class not in current:
            raise errors.InventoryNotFound(uuid, resource_class)
        else:
            wanted = {k: v for k, v in current.items() if k != resource_class}
        _replace(repo, provider, wanted, None)


def get_usages(store: Store, uuid: str) -> tuple[Provider, dict[str, int]]:
    """Usage per class in the provider's inventory (0 where nothing is allocated)."""
    with store.read() as repo:
        provider = repo.get_provider(uuid)
        invs = repo.inventories([provider.id])[provider.id]
        used = repo.usages([provider.id])[provider.id]
    return provider, {name: used.get(name, 0) for name in sorted(set(invs) | set(used))}


def get_allocations(store: Store, uuid: str
                    ) -> tuple[Provider, dict[str, dict[str, int]], dict[str, int]]:
    """The provider, its allocations by consumer, and each consumer's generation."""
    with store.read() as repo:
        provider = repo.get_provider(uuid)
        allocations = repo.provider_allocations(provider.id)
        generations: dict[str, int] = {}
        for consumer in allocations:
            row = repo.get_consumer(consumer)
            if row is not None:
                generations[consumer] = row.generation
        return provider, allocations, generations


# -- traits and aggregates of a provider -------------------------------------------------

def get_provider_traits(store: Store, uuid: str) -> tuple[Provider, list[str]]:
    with store.read() as repo:
        provider = repo.get_provider(uuid)
        return provider, repo.provider_traits([provider.id])[provider.id]


def set_provider_traits(store: Store, uuid: str, generation: int | None,
                        names: list[str]) -> tuple[Provider, list[str]]:
    """Replace the provider's traits; ``generation=None`` (DELETE) skips the check."""
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        if generation is not None and generation != provider.generation:
            raise errors.ConcurrentUpdate(uuid, generation, provider.generation)
        ids = repo.trait_ids(names)
        unknown = set(names) - set(ids)
        if unknown:
            raise errors.UnknownTrait(sorted(unknown))
        repo.set_provider_traits(provider, ids.values())
        repo.bump_generation(provider, generation)
        return repo.get_provider(uuid), repo.provider_traits([provider.id])[provider.id]


def get_provider_aggregates(store: Store, uuid: str) -> tuple[Provider, list[str]]:
    with store.read() as repo:
        provider = repo.get_provider(uuid)
        return provider, repo.provider_aggregates([provider.id])[provider.id]


def set_provider_aggregates(store: Store, uuid: str, aggregates: list[str], *,
                            generation: int | None, bump: bool) -> tuple[Provider, list[str]]:
    """Replace the provider's aggregates.

    Args:
        generation: the generation the caller saw (from 1.19), checked when given.
        bump: move the generation (from 1.19; older clients expect it unchanged).
    """
    with store.write() as repo:
        provider = repo.get_provider(uuid)
        if generation is not None and generation != provider.generation:
            raise errors.ConcurrentUpdate(uuid, generation, provider.generation)
        repo.set_provider_aggregates(provider, aggregates)
        if bump:
            repo.bump_generation(provider, generation)
        else:
            repo.touch_provider(provider)
        return repo.get_provider(uuid), repo.provider_aggregates([provider.id])[provider.id]
