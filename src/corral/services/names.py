"""Names or ids: how every user-named thing is found (server groups, flavors, host
aggregates, hosts, projects), for /v1 and the CLI alike.

A reference is tried as an id first (ids never collide); else it is a name, which must
name exactly one thing among those the caller may see: none is the kind's not-found
error, several is :class:`~corral.domain.errors.AmbiguousName` (409 ``ambiguous_name``)
listing the candidates' ids, so the caller can pick one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from corral.domain import errors

T = TypeVar("T")


def resolve(kind: str, ref: str, *, by_id: Callable[[str], T | None],
            by_name: Callable[[str], Sequence[T]], id_of: Callable[[T], str],
            not_found: Callable[[str], errors.CorralError],
            field: str | None = None) -> T:
    """The one ``kind`` that ``ref`` is the id of, else the only one named ``ref``.

    Raises:
        The error ``not_found(ref)`` builds: nothing matches.
        AmbiguousName: several things are named ``ref``.
    """
    found = by_id(ref)
    if found is not None:
        return found
    named = list(by_name(ref))
    if not named:
        error = not_found(ref)
        if field is not None:
            error.field = field
        raise error
    if len(named) > 1:
        raise errors.AmbiguousName(kind, ref, sorted(id_of(x) for x in named), field=field)
    return named[0]
