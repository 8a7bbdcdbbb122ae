"""Typed errors of the domain; the API maps each to an HTTP status and code.

    CorralError
     +-- NotFound
     |    +-- ProviderNotFound, ResourceClassNotFound, TraitNotFound,
     |        InventoryNotFound
     +-- Conflict
     |    +-- AmbiguousName           (a name several things carry: lists their ids)
     |    +-- IdempotencyKeyTaken     (another call stored the key first: replay it)
     |    +-- ConcurrentUpdate        (stale generation)
     |    +-- DuplicateName           (provider name or uuid taken)
     |    +-- AlreadyExists           (resource class, trait, inventory class)
     |    +-- InventoryInUse          (removing a class that has allocations)
     |    +-- ProviderInUse           (deleting a provider with allocations)
     |    +-- CannotDeleteParent      (deleting a provider with children)
     |    +-- ResourceClassInUse, TraitInUse
     +-- InvalidInput                 (a value the rules refuse; names the field)
          +-- UnknownResourceClass, UnknownTrait  (named in a request body/query)
          +-- InvalidInventory
          +-- BadQuery                (query string: carries a placement query code)
          +-- UnknownAvailabilityZone (a zone no aggregate defines)
          +-- IdempotencyKeyReused    (a key sent again with another request: 422)

StoreUnavailable (a direct child of CorralError) is the database being unreachable.

Claims add ConsumerGenerationConflict, InsufficientCapacity and InvalidAllocation
(Conflicts) and ConsumerNotFound. The /v1 API adds FlavorNotFound, ExtraSpecNotFound,
FlavorAccessNotFound, ServerGroupNotFound (NotFound) and FlavorAccessExists,
FlavorIsPublic (Conflict) here; host and aggregate errors live in ``domain/hosts.py``.

Errors carry the facts (provider, class, amounts) as attributes; their message is the
human detail. They never carry an HTTP status: that is the API's business.
"""

from __future__ import annotations

from corral.domain import codes


class CorralError(Exception):
    """Base of every error corral raises on purpose."""

    code: str = codes.UNDEFINED
    #: The request field (body, query or CLI option) that named the culprit, when known.
    field: str | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CorralError):
    """The named thing does not exist."""


class ProviderNotFound(NotFound):
    code = codes.PROVIDER_NOT_FOUND

    def __init__(self, uuid: str) -> None:
        super().__init__(f"No resource provider with uuid {uuid} found")
        self.uuid = uuid


class ResourceClassNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such resource class {name}.")
        self.name = name


class TraitNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such trait(s): {name}.")
        self.name = name


class InventoryNotFound(NotFound):
    def __init__(self, provider: str, resource_class: str) -> None:
        super().__init__(
            f"No inventory of class {resource_class} found for resource provider {provider}"
        )
        self.provider = provider
        self.resource_class = resource_class


class Conflict(CorralError):
    """The request is well formed but clashes with the current state."""


class ConcurrentUpdate(Conflict):
    code = codes.CONCURRENT_UPDATE

    def __init__(self, provider: str, seen: int | None = None, current: int | None = None) -> None:
        detail = f"resource provider generation conflict on {provider}"
        if seen is not None and current is not None:
            detail += f": request had generation {seen}, current is {current}"
        super().__init__(detail)
        self.provider = provider


class DuplicateName(Conflict):
    code = codes.DUPLICATE_NAME


class AlreadyExists(Conflict):
    """A resource class, trait or inventory record that already exists."""


class InventoryInUse(Conflict):
    code = codes.INVENTORY_INUSE

    def __init__(self, provider: str, resource_class: str, used: int) -> None:
        super().__init__(
            f"Inventory for {resource_class} on resource provider {provider} is in use: "
            f"{used} units are allocated and would be left with no inventory"
        )
        self.provider = provider
        self.resource_class = resource_class
        self.used = used


class ProviderInUse(Conflict):
    code = codes.PROVIDER_INUSE


class CannotDeleteParent(Conflict):
    code = codes.PROVIDER_CANNOT_DELETE_PARENT


class ResourceClassInUse(Conflict):
    pass


class TraitInUse(Conflict):
    pass


class InvalidInput(CorralError):
    """A value the rules refuse. ``field`` names where it came from, when known."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class UnknownResourceClass(InvalidInput):
    def __init__(self, name: str, where: str = "") -> None:
        super().__init__(f"Unknown resource class {name}{where}", field="resource_class")
        self.name = name


class UnknownTrait(InvalidInput):
    def __init__(self, names: list[str], where: str = "") -> None:
        super().__init__(f"No such trait(s): {', '.join(sorted(names))}{where}", field="traits")
        self.names = names


class InvalidInventory(InvalidInput):
    def __init__(self, provider: str, resource_class: str, reason: str) -> None:
        super().__init__(
            f"Unable to update inventory of {resource_class} for resource provider "
            f"{provider}: {reason}",
            field=f"inventories.{resource_class}",
        )
        self.provider = provider
        self.resource_class = resource_class


class BadQuery(InvalidInput):
    """A bad query-string parameter; ``code`` is one of Placement's query codes."""

    def __init__(self, detail: str, code: str = codes.QUERY_BAD_VALUE) -> None:
        super().__init__(detail)
        self.code = code


# -- allocations -------------------------------------------------------------------------

class ConsumerGenerationConflict(Conflict):
    """The consumer generation the request carried is not the current one."""

    code = codes.CONCURRENT_UPDATE

    def __init__(self, consumer: str, expected: int | None, got: object) -> None:
        super().__init__(
            f"consumer generation conflict for consumer {consumer} - expected "
            f"{'null' if expected is None else expected} but got {got}")
        self.consumer = consumer


class InsufficientCapacity(Conflict):
    """A claim would take a provider past its usable capacity."""

    def __init__(self, provider: str, resource_class: str, requested: int, used: int,
                 capacity: int) -> None:
        free = max(capacity - used, 0)
        super().__init__(
            f"Unable to allocate inventory: Unable to create allocation for '{resource_class}' "
            f"on resource provider '{provider}'. The requested amount would exceed the "
            f"capacity: asked {requested}, {used} of {capacity} used, {free} free.")
        self.provider = provider
        self.resource_class = resource_class
        self.requested = requested
        self.used = used
        self.capacity = capacity


class InvalidAllocation(Conflict):
    """A claim that breaks an inventory's unit rules, or names a class it lacks."""

    def __init__(self, provider: str, resource_class: str, reason: str) -> None:
        super().__init__(
            f"Unable to allocate inventory: Unable to create allocation for '{resource_class}' "
            f"on resource provider '{provider}'. The requested amount would violate inventory "
            f"constraints: {reason}.")
        self.provider = provider
        self.resource_class = resource_class


class ConsumerNotFound(NotFound):
    def __init__(self, consumer: str) -> None:
        super().__init__(f"No allocations for consumer '{consumer}'")
        self.consumer = consumer


# -- flavors and server groups -------------------------------------------------------------

class FlavorNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No flavor with id or name {ref!r} found")
        self.flavor = ref


class ExtraSpecNotFound(NotFound):
    def __init__(self, flavor: str, key: str) -> None:
        super().__init__(f"Flavor {flavor!r} has no extra spec {key!r}")
        self.flavor = flavor
        self.key = key


class FlavorAccessNotFound(NotFound):
    def __init__(self, flavor: str, project: str) -> None:
        super().__init__(f"Project {project!r} has no access to flavor {flavor!r}")
        self.flavor = flavor
        self.project = project


class FlavorAccessExists(Conflict):
    def __init__(self, flavor: str, project: str) -> None:
        super().__init__(f"Project {project!r} already has access to flavor {flavor!r}")
        self.flavor = flavor
        self.project = project


class FlavorIsPublic(Conflict):
    """Access lists belong to private flavors; a public one is open to every project."""

    def __init__(self, flavor: str) -> None:
        super().__init__(f"Flavor {flavor!r} is public: it has no access list "
                         "(every project may use it)")
        self.flavor = flavor


class ServerGroupNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No server group {ref!r} found")
        self.server_group = ref


# -- names and idempotency -----------------------------------------------------------------

class AmbiguousName(Conflict):
    """A name several things of one kind carry: the caller must give one of their ids."""

    def __init__(self, kind: str, name: str, candidates: list[str],
                 field: str | None = None) -> None:
        super().__init__(f"{len(candidates)} {kind}s are named {name!r}: give one of their "
                         f"ids ({', '.join(candidates)})")
        self.kind = kind
        self.name = name
        self.candidates = candidates
        self.field = field


class IdempotencyKeyTaken(Conflict):
    """Another call stored this key first (its transaction must roll back; its caller
    replays the stored answer)."""

    def __init__(self, scope: str, key: str) -> None:
        super().__init__(f"idempotency key {key!r} is already used in project {scope!r}")
        self.scope = scope
        self.key = key


class IdempotencyKeyReused(InvalidInput):
    """The key of an earlier call, sent with a different request (422 at the edge)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used with a different request: send "
                         "the same body to replay it, or use a new key for a new request",
                         field="Idempotency-Key")
        self.key = key


class UnknownAvailabilityZone(InvalidInput):
    """A request names a zone no aggregate defines (a typo, not a full zone)."""

    def __init__(self, zone: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none is defined"
        super().__init__(f"No availability zone {zone!r}; the zones are: {listed}",
                         field="availability_zone")
        self.zone = zone
        self.known = known


# -- the store -----------------------------------------------------------------------------

class StoreUnavailable(CorralError):
    """The database cannot be reached or did not answer in time (connection refused or
    lost, server shutting down, an SQLite lock held past the busy timeout). Not the
    request's fault: the client may retry after ``retry_after_s`` seconds.

    ``reason`` is the driver's first line with any password removed, for the logs; the
    detail stays generic (clients need to know to retry, not the database's address).
    """

    code = codes.STORE_UNAVAILABLE

    def __init__(self, reason: str, retry_after_s: int = 2) -> None:
        super().__init__("The database is unavailable right now; nothing was changed by "
                         f"this request. Retry in {retry_after_s} seconds.")
        self.reason = reason
        self.retry_after_s = retry_after_s
