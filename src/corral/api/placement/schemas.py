"""Request bodies of the Placement API, strict: unknown fields and wrong types are 400s.

Every number is bounded by its quantity's range in :mod:`corral.domain.bounds` (the
same ranges the /v1 models, the query parser and the CLI use).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints

from corral.domain import bounds
from corral.domain.names import normalize_uuid


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _uuid(value: str) -> str:
    canonical = normalize_uuid(value)
    if canonical is None:
        raise ValueError(f"{value!r} is not a 'uuid'")
    return canonical


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{values!r} has non-unique elements")
    return values


Uuid = Annotated[str, AfterValidator(_uuid)]
#: Aggregate UUIDs of a provider: a set, so a repeated one is refused, as in Placement.
AggregateList = Annotated[list[Uuid], Field(max_length=10000), AfterValidator(_unique)]
ClassName = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]+$", max_length=255)]
CustomName = Annotated[str, StringConstraints(pattern=r"^CUSTOM_[A-Z0-9_]+$", max_length=255)]
TraitName = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]+$", max_length=255)]
Generation = Annotated[int, Field(ge=bounds.GENERATION.low, le=bounds.GENERATION.high)]
#: An inventory's whole-number fields: at least 1 (``Amount``) or 0 (``Count``).
Amount = Annotated[int, Field(ge=bounds.AMOUNT.low, le=bounds.AMOUNT.high)]
Count = Annotated[int, Field(ge=bounds.COUNT.low, le=bounds.COUNT.high)]
Ratio = Annotated[float, Field(gt=bounds.PLACEMENT_RATIO.low, le=bounds.PLACEMENT_RATIO.high,
                               allow_inf_nan=False)]


class InventoryFields(Strict):
    total: Amount
    reserved: Count = 0
    min_unit: Amount = 1
    max_unit: Amount = bounds.AMOUNT.high
    step_size: Amount = 1
    allocation_ratio: Ratio = 1.0


class InventoryRecord(InventoryFields):
    """One class inside PUT .../inventories (a stray generation is tolerated)."""

    resource_provider_generation: Generation | None = None


class InventoryPut(InventoryFields):
    resource_provider_generation: Generation


class InventoryPost(InventoryFields):
    """POST .../inventories: Placement accepts, and ignores, a provider generation."""

    resource_class: ClassName
    resource_provider_generation: Generation | None = None


class InventoriesPut(Strict):
    resource_provider_generation: Generation
    inventories: dict[ClassName, InventoryRecord]


class ProviderPost(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    uuid: Uuid | None = None


class ProviderPost114(ProviderPost):
    parent_provider_uuid: Uuid | None = None


class ProviderPut(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ProviderPut114(ProviderPut):
    parent_provider_uuid: Uuid | None = None


class TraitsPut(Strict):
    resource_provider_generation: Generation
    traits: Annotated[list[TraitName], Field(max_length=10000)]


class AggregatesPut119(Strict):
    resource_provider_generation: Generation
    aggregates: AggregateList


class ResourceClassBody(Strict):
    name: CustomName


class AggregatesList(RootModel[AggregateList]):
    """PUT .../aggregates before 1.19: a bare list of aggregate UUIDs."""
