"""Bounded numbers of the /v1 API: one annotated type per quantity of domain/bounds.py.

Each type refuses what its column or the engine cannot hold with a 400 naming the field
and the whole range (``limits.cores: must be a whole number from -1 to ...``), and
publishes the range in /openapi.json (``minimum``/``maximum``), so clients and
schema-driven fuzzers see the bounds the server enforces. Body fields are strict (``"4"``
is not 4, ``true`` is not 1, ``2.0`` is not 2); query parameters are read from their
text, ASCII digits only, at most 20 of them. A ``...OrNone`` type also takes null.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from corral.domain import bounds
from corral.domain.scheduling import MAX_COUNT
from corral.domain.tokens import MAX_EXPIRES_IN_DAYS


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _refuse(rng: bounds.IntRange | bounds.FloatRange, value: object) -> PydanticCustomError:
    return PydanticCustomError("out_of_range", "must be {what}, got {got}",
                               {"what": rng.describe(), "got": _shown(value)})


class _Int:
    """The validator of a whole number in ``rng``; ``query``: read from text."""

    def __init__(self, rng: bounds.IntRange, *, query: bool = False, nullable: bool = False
                 ) -> None:
        self.rng, self.query, self.nullable = rng, query, nullable

    def __call__(self, value: Any) -> int | None:
        if value is None and self.nullable:
            return None
        if self.query and isinstance(value, str):
            number = bounds.integer_text(value)
            if number is None:
                raise _refuse(self.rng, value)
            value = number
        if value not in self.rng:
            raise _refuse(self.rng, value)
        assert isinstance(value, int)
        return value

    def schema(self) -> WithJsonSchema:
        number = {"type": "integer", "minimum": self.rng.low, "maximum": self.rng.high}
        return WithJsonSchema({"anyOf": [number, {"type": "null"}]} if self.nullable else number)


class _Float:
    """The validator of a finite number in ``rng`` (NaN, Infinity and 1e400 refused)."""

    def __init__(self, rng: bounds.FloatRange, *, nullable: bool = False) -> None:
        self.rng, self.nullable = rng, nullable

    def __call__(self, value: Any) -> float | None:
        if value is None and self.nullable:
            return None
        if value not in self.rng:
            raise _refuse(self.rng, value)
        assert isinstance(value, int | float)
        return float(value)

    def schema(self) -> WithJsonSchema:
        low = "minimum" if self.rng.low_included else "exclusiveMinimum"
        number = {"type": "number", low: self.rng.low, "maximum": self.rng.high}
        return WithJsonSchema({"anyOf": [number, {"type": "null"}]} if self.nullable else number)


_AMOUNT = _Int(bounds.AMOUNT)
_COUNT = _Int(bounds.COUNT)
_COUNT_OR_NONE = _Int(bounds.COUNT, nullable=True)
_LIMIT = _Int(bounds.QUOTA_LIMIT)
_RATIO_OR_NONE = _Float(bounds.HOST_RATIO, nullable=True)
_BOOT_COUNT = _Int(bounds.IntRange(1, MAX_COUNT))
_DAYS_OR_NONE = _Int(bounds.IntRange(1, MAX_EXPIRES_IN_DAYS), nullable=True)
_Q_AMOUNT = _Int(bounds.AMOUNT, query=True, nullable=True)
_Q_COUNT = _Int(bounds.COUNT, query=True)
_Q_COUNT_OR_NONE = _Int(bounds.COUNT, query=True, nullable=True)

#: At least 1 unit of a resource (a flavor's vcpus and ram_mb, a host's resource totals).
Amount = Annotated[int, BeforeValidator(_AMOUNT), _AMOUNT.schema()]
#: 0 or more units of a resource (a host's reported sizes, a flavor's disk).
Count = Annotated[int, BeforeValidator(_COUNT), _COUNT.schema()]
CountOrNone = Annotated[int | None, BeforeValidator(_COUNT_OR_NONE), _COUNT_OR_NONE.schema()]
#: A quota limit (-1: unlimited).
QuotaLimit = Annotated[int, BeforeValidator(_LIMIT), _LIMIT.schema()]
#: A host's allocation ratio (null: clear the host's own).
HostRatioOrNone = Annotated[float | None, BeforeValidator(_RATIO_OR_NONE),
                            _RATIO_OR_NONE.schema()]
#: Instances in one boot request.
BootCount = Annotated[int, BeforeValidator(_BOOT_COUNT), _BOOT_COUNT.schema()]
#: Days until a token expires (null: never).
ExpiresInDaysOrNone = Annotated[int | None, BeforeValidator(_DAYS_OR_NONE),
                                _DAYS_OR_NONE.schema()]

#: The same read from the query string.
QueryAmountOrNone = Annotated[int | None, BeforeValidator(_Q_AMOUNT), _Q_AMOUNT.schema()]
QueryCount = Annotated[int, BeforeValidator(_Q_COUNT), _Q_COUNT.schema()]
QueryCountOrNone = Annotated[int | None, BeforeValidator(_Q_COUNT_OR_NONE),
                             _Q_COUNT_OR_NONE.schema()]


_Q_TOP = _Int(bounds.IntRange(1, 10000), query=True)
_Q_LIST = _Int(bounds.IntRange(1, 10000), query=True, nullable=True)
_Q_PAGE = _Int(bounds.IntRange(1, 1000), query=True)
#: How many hosts a capacity report lists.
QueryTop = Annotated[int, BeforeValidator(_Q_TOP), _Q_TOP.schema()]
#: How many instances one list returns (none: all).
QueryListLimitOrNone = Annotated[int | None, BeforeValidator(_Q_LIST), _Q_LIST.schema()]
#: How many decisions one page returns.
QueryPageLimit = Annotated[int, BeforeValidator(_Q_PAGE), _Q_PAGE.schema()]
