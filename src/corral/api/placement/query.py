"""Query-string grammar shared by provider listing and (later) allocation candidates.

``member_of``: ``UUID``, ``in:UUID,UUID`` (any of), repeated = all of (1.24),
``!UUID`` / ``!in:...`` forbidden (1.32). ``required``: ``T1,!T2`` (``!`` from 1.22),
``in:T1,T2`` any-of and repeated parameters (1.39). ``resources``: ``RC:N,RC:N``.
"""

from __future__ import annotations

from starlette.requests import Request

from corral.api.microversion import Version
from corral.domain import bounds, codes
from corral.domain.errors import BadQuery, InvalidInput
from corral.domain.names import RESOURCE_CLASS_NAME, normalize_uuid


def _uuids(raw: str, param: str) -> frozenset[str]:
    out = set()
    for item in raw.split(","):
        canonical = normalize_uuid(item.strip())
        if canonical is None:
            raise BadQuery(f"Invalid query string parameters: Expected '{param}' parameter to "
                           f"contain valid UUID(s). Got: {raw}")
        out.add(canonical)
    return frozenset(out)


def member_of(request: Request, v: Version, param: str = "member_of"
              ) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    values = request.query_params.getlist(param)
    if len(values) > 1 and not v.matches((1, 24)):
        raise BadQuery(f"Multiple {param} parameters are not supported")
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        if value.startswith("!"):
            if not v.matches((1, 32)):
                raise BadQuery(f"Forbidden aggregates are not supported in {param} before 1.32: {value}")
            body = value[1:]
            if body.startswith("in:"):
                forbidden |= _uuids(body[3:], param)
            else:
                if "," in body:
                    raise BadQuery(f"Invalid query string parameters: forbidden {param} takes "
                                   f"'!in:' for several aggregates. Got: {value}")
                forbidden |= _uuids(body, param)
        elif value.startswith("in:"):
            required.append(_uuids(value[3:], param))
        else:
            if "," in value:
                raise BadQuery(f"Invalid query string parameters: Expected '{param}' parameter "
                               f"to contain one UUID or 'in:' and several. Got: {value}")
            required.append(_uuids(value, param))
    # No clash check: "in:A,B" with "!B" means "in A, not in B", and a group that is
    # wholly forbidden simply matches nothing (Placement answers 200, empty).
    return tuple(required), frozenset(forbidden)


def required_traits(request: Request, v: Version, param: str = "required"
                    ) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    values = request.query_params.getlist(param)
    if not v.matches((1, 39)):
        values = values[-1:]
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        if value.startswith("in:"):
            if not v.matches((1, 39)):
                raise BadQuery(f"Invalid query string parameters: 'in:' in {param} needs 1.39")
            names = [n.strip() for n in value[3:].split(",")]
            if not all(names) or any(n.startswith("!") for n in names):
                raise BadQuery(f"Invalid query string parameters: Expected '{param}' 'in:' "
                               f"to list trait names. Got: {value}")
            required.append(frozenset(names))
            continue
        for name in (n.strip() for n in value.split(",")):
            if not name:
                raise BadQuery(f"Invalid query string parameters: Expected '{param}' parameter "
                               f"value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}",
                               code=codes.QUERY_BAD_VALUE)
            if name.startswith("!"):
                if not v.matches((1, 22)):
                    raise BadQuery(f"Invalid query string parameters: Expected '{param}' "
                                   f"parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. "
                                   f"Got: {value}")
                forbidden.add(name[1:])
            else:
                required.append(frozenset([name]))
    both = forbidden & {n for group in required if len(group) == 1 for n in group}
    if both:
        raise BadQuery(f"Invalid query string parameters: Conflicting required and forbidden "
                       f"traits found in the following traits keys: {', '.join(sorted(both))}")
    return tuple(required), frozenset(forbidden)


def _shown(text: str) -> str:
    """A value for an error message: a very long one is cut."""
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def limit(raw: str, param: str = "limit") -> int:
    """A ``limit=`` parameter: a whole number from 1 to 2^31 - 1.

    Raises:
        BadQuery: naming the parameter and the range.
    """
    try:
        if not (raw.isascii() and raw.isdigit()):  # no sign, no blanks: as Placement's pattern
            raise InvalidInput(raw)
        return bounds.parse_int(raw, bounds.LIST_LIMIT, param)
    except InvalidInput:
        raise BadQuery(f"Invalid query string parameters: {param} must be "
                       f"{bounds.LIST_LIMIT.describe()}, got {_shown(raw)!r}") from None


def resources(value: str, param: str = "resources") -> tuple[tuple[str, int], ...]:
    out: dict[str, int] = {}
    for item in value.split(","):
        name, sep, amount = item.partition(":")
        name = name.strip()
        if not sep or not RESOURCE_CLASS_NAME.match(name):
            raise BadQuery(f"Badly formed {param} parameter. Expected {param} query string "
                           f"parameter in form: ?{param}=VCPU:2,MEMORY_MB:1024. Got: {value}.")
        number = bounds.integer_text(amount)
        digits = amount.strip()
        if number is None and not (digits.isascii() and digits.isdigit()):
            raise BadQuery(f"Requested resource {name} expected positive integer amount. "
                           f"Got: {_shown(amount)}.")
        if number is not None and number < 1:
            raise BadQuery(f"Requested resource {name} requires amount >= 1. Got: {number}.")
        if number is None or number not in bounds.AMOUNT:  # None: too many digits to read
            raise BadQuery(f"Requested resource {name} in {param} must be "
                           f"{bounds.AMOUNT.describe()} (the most one inventory holds). "
                           f"Got: {_shown(digits)}.")
        if name in out:
            raise BadQuery(f"Resource class {name} appears more than once in {param}: {value}",
                           code=codes.QUERY_DUPLICATE_KEY)
        out[name] = number
    return tuple(out.items())
