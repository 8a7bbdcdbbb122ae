"""Request bodies of the allocation endpoints, one model per microversion range."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, RootModel, StringConstraints

from corral.api.placement.schemas import Amount, ClassName, Generation, InventoryRecord, Strict, Uuid

Resources = Annotated[dict[ClassName, Amount], Field(min_length=1)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ConsumerType = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]+$", max_length=255)]
GroupSuffix = Annotated[str, StringConstraints(pattern=r"^([a-zA-Z0-9_-]{1,64})?$")]
Mappings = Annotated[dict[GroupSuffix, Annotated[list[Uuid], Field(min_length=1)]],
                     Field(min_length=1)]


class ProviderRef(Strict):
    uuid: Uuid


class ListItem(Strict):
    resource_provider: ProviderRef
    resources: Resources


class PutList(Strict):
    """1.0-1.7: a list of {resource_provider, resources}."""

    allocations: Annotated[list[ListItem], Field(min_length=1)]


class PutList18(PutList):
    """1.8-1.11: project and user required."""

    project_id: ExternalId
    user_id: ExternalId


class DictItem(Strict):
    generation: Generation | None = None
    resources: Resources


class PutDict112(Strict):
    """1.12-1.27: dict keyed by provider; at least one provider."""

    allocations: Annotated[dict[Uuid, DictItem], Field(min_length=1)]
    project_id: ExternalId
    user_id: ExternalId


class Deletable(Strict):
    """Shape of one consumer in POST /allocations (1.13), or PUT from 1.28: may be empty."""

    allocations: dict[Uuid, DictItem]
    project_id: ExternalId
    user_id: ExternalId


class Deletable128(Deletable):
    consumer_generation: Generation | None


class Deletable134(Deletable128):
    mappings: Mappings | None = None


class Deletable138(Deletable134):
    consumer_type: ConsumerType


PUT_MODELS: list[tuple[tuple[int, int], type[Strict]]] = [
    ((1, 38), Deletable138), ((1, 34), Deletable134), ((1, 28), Deletable128),
    ((1, 12), PutDict112), ((1, 8), PutList18), ((1, 0), PutList),
]


class Post113(RootModel[Annotated[dict[Uuid, Deletable], Field(min_length=1)]]):
    pass


class Post128(RootModel[Annotated[dict[Uuid, Deletable128], Field(min_length=1)]]):
    pass


class Post134(RootModel[Annotated[dict[Uuid, Deletable134], Field(min_length=1)]]):
    pass


class Post138(RootModel[Annotated[dict[Uuid, Deletable138], Field(min_length=1)]]):
    pass


POST_MODELS: list[tuple[tuple[int, int], type[RootModel]]] = [  # type: ignore[type-arg]
    ((1, 38), Post138), ((1, 34), Post134), ((1, 28), Post128), ((1, 13), Post113),
]


class ReshapeInventory(Strict):
    resource_provider_generation: Generation
    inventories: dict[ClassName, InventoryRecord]


class _Reshape(Strict):
    # At least one provider: a reshape that moves no inventory is not one.
    inventories: Annotated[dict[Uuid, ReshapeInventory], Field(min_length=1)]


class Reshape130(_Reshape):
    allocations: dict[Uuid, Deletable128]


class Reshape134(_Reshape):
    allocations: dict[Uuid, Deletable134]


class Reshape138(_Reshape):
    allocations: dict[Uuid, Deletable138]


RESHAPE_MODELS: list[tuple[tuple[int, int], type[Strict]]] = [
    ((1, 38), Reshape138), ((1, 34), Reshape134), ((1, 30), Reshape130),
]
