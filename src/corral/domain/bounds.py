"""The range of every number corral takes from outside, one range per quantity.

Each range comes from where the value ends up, and every boundary (the Placement
query parser and JSON schemas, the /v1 models, the CLI, the configuration) checks its
input against the range named here, so a value refused in one place is refused in all:

- **counts of a resource** (inventory fields, allocation and requested amounts, flavor
  and host sizes) go to ``Integer`` columns: a signed 32-bit integer, as in Placement,
  whose inventory schemas stop at 2147483647 too;
- **generations** (provider and consumer) are ``BigInteger`` columns: signed 64-bit;
- **quota limits** are ``BigInteger`` columns too, but are shown to every JSON client
  (the dashboard's JavaScript among them), which reads integers exactly only up to
  2^53 - 1: that is their ceiling;
- **allocation ratios** of a Placement inventory stop at the largest single-precision
  float, as Placement's; a host's or an aggregate's ratio at 1000 (an overcommit past
  that is a typo, and the engine multiplies reported sizes by it);
- the candidate engine keeps usable capacities in NumPy ``int64`` arrays and sums them
  over providers: a capacity above :data:`ENGINE_CAPACITY_MAX` (2^53 - 1, exact in a
  float64 too) is held at that value, which no sum of 32-bit allocations reaches.

A number written as text is parsed with :func:`parse_int` / :func:`parse_float`, which
refuse anything but ASCII digits and more than :data:`MAX_DIGITS` of them before
calling ``int`` (Python refuses to convert more than 4,300 digits, and a number that
long is never a count, a generation or a limit). Floats must be finite: ``1e400``
(infinity once parsed), ``NaN`` and ``Infinity`` are refused, and a ratio must be above
0, which also refuses ``-0.0`` and ``1e-400`` (zero once parsed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from corral.domain import errors

#: A signed 32-bit integer column (SQLAlchemy ``Integer``), and Placement's MAX_INT.
INT32_MAX = 2**31 - 1
#: A signed 64-bit integer column (``BigInteger``), and NumPy's ``int64``.
INT64_MAX = 2**63 - 1
#: The largest integer a float64, and so every JSON client, holds exactly.
SAFE_INT_MAX = 2**53 - 1
#: The largest single-precision float (Placement stores allocation ratios as one).
FLOAT32_MAX = 3.40282e38
#: The most digits (sign aside) a number given as text may have.
MAX_DIGITS = 20
#: What the candidate engine holds of a usable capacity (see the module docstring).
ENGINE_CAPACITY_MAX = SAFE_INT_MAX

_INTEGER = re.compile(r"^[+-]?[0-9]+$", re.ASCII)
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$", re.ASCII)


@dataclass(frozen=True, slots=True)
class IntRange:
    """Whole numbers from ``low`` to ``high``, both included; ``note`` says what a
    special value means."""

    low: int
    high: int
    note: str = ""

    def __contains__(self, value: object) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def describe(self) -> str:
        note = f", {self.note}" if self.note else ""
        return f"a whole number from {self.low} to {self.high}{note}"


@dataclass(frozen=True, slots=True)
class FloatRange:
    """Finite numbers above ``low`` (or from it, when ``low_included``) up to ``high``."""

    low: float
    high: float
    low_included: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        try:
            number = float(value)
        except OverflowError:  # an int past the largest float
            return False
        if not math.isfinite(number) or number > self.high:
            return False
        return number >= self.low if self.low_included else number > self.low

    def describe(self) -> str:
        if self.low_included:
            return f"a finite number from {self.low:g} to {self.high:g}"
        return f"a finite number above {self.low:g} and at most {self.high:g}"


# -- the quantities ---------------------------------------------------------------------

#: A positive count of a resource: an allocation, a requested amount, an inventory's
#: total, min_unit, max_unit and step_size, a flavor's vcpus and ram_mb.
AMOUNT = IntRange(1, INT32_MAX)
#: A count of a resource that may be zero: an inventory's reserved, a flavor's disk,
#: ephemeral and swap, a host's reported sizes and reserved memory.
COUNT = IntRange(0, INT32_MAX)
#: A provider's or a consumer's generation.
GENERATION = IntRange(0, INT64_MAX)
#: A quota limit; -1 is unlimited.
QUOTA_LIMIT = IntRange(-1, SAFE_INT_MAX, "-1 for unlimited")
#: How many items a list call returns (``limit=``), and similar "at most N" knobs.
LIST_LIMIT = IntRange(1, INT32_MAX)
#: The allocation ratio of a Placement inventory.
PLACEMENT_RATIO = FloatRange(0.0, FLOAT32_MAX)
#: The allocation ratio of a host, an aggregate, or the configured default.
HOST_RATIO = FloatRange(0.0, 1000.0)
#: A weigher's multiplier (configuration, policies, aggregate metadata): weighted scores
#: are summed over every weigher, and the sum must stay finite and ordered.
WEIGHT_MULTIPLIER = FloatRange(-1e9, 1e9, low_included=True)
#: A duration in seconds (configuration): a signed 32-bit count, 68 years, so that
#: ``now`` less it is still a date.
SECONDS = IntRange(0, INT32_MAX)
#: The same ceiling counted in hours.
HOURS = IntRange(0, INT32_MAX // 3600)


def _refuse(field: str, rng: IntRange | FloatRange, shown: str) -> errors.InvalidInput:
    if len(shown) > 40:
        shown = shown[:30] + f"... ({len(shown)} characters)"
    return errors.InvalidInput(f"{field} must be {rng.describe()}, got {shown}", field=field)


def check_int(value: object, rng: IntRange, field: str) -> int:
    """``value`` if it is a whole number within ``rng``.

    Raises:
        InvalidInput: naming ``field`` and the range.
    """
    if value not in rng:
        raise _refuse(field, rng, repr(value))
    assert isinstance(value, int)
    return value


def check_float(value: object, rng: FloatRange, field: str) -> float:
    """``value`` as a float if it is a finite number within ``rng``.

    Raises:
        InvalidInput: naming ``field`` and the range.
    """
    if value not in rng:
        raise _refuse(field, rng, repr(value))
    assert isinstance(value, int | float)
    return float(value)


def integer_text(text: str) -> int | None:
    """The whole number ``text`` writes in ASCII digits (blanks around and a sign
    allowed, at most :data:`MAX_DIGITS` digits), or None."""
    stripped = text.strip()
    if not _INTEGER.match(stripped) or len(stripped.lstrip("+-")) > MAX_DIGITS:
        return None
    return int(stripped)


def parse_int(text: str, rng: IntRange, field: str) -> int:
    """A whole number written in ASCII digits (see :func:`integer_text`), within ``rng``.

    Raises:
        InvalidInput: naming ``field`` and the range.
    """
    number = integer_text(text)
    if number is None:
        raise _refuse(field, rng, repr(text))
    return check_int(number, rng, field)


def parse_float(text: str, rng: FloatRange, field: str) -> float:
    """A decimal number (``1.5``, ``16``, ``2e3``) within ``rng``; never inf or NaN.

    Raises:
        InvalidInput: naming ``field`` and the range.
    """
    stripped = text.strip()
    if not _DECIMAL.match(stripped) or len(stripped) > 64:
        raise _refuse(field, rng, repr(text))
    return check_float(float(stripped), rng, field)
