"""What an allocation-candidates query asks, parsed and validated (pure data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestGroup:
    """One request group. ``suffix == ""`` is the unsuffixed group, which may spread
    its classes over several providers of one tree plus sharing providers; a suffixed
    group takes all of its resources from one provider."""

    suffix: str
    resources: tuple[tuple[str, int], ...] = ()
    required: tuple[frozenset[str], ...] = ()
    forbidden: frozenset[str] = frozenset()
    member_of: tuple[frozenset[str], ...] = ()
    forbidden_aggregates: frozenset[str] = frozenset()
    in_tree: str | None = None


@dataclass(frozen=True, slots=True)
class CandidateRequest:
    groups: tuple[RequestGroup, ...]
    group_policy: str = "none"
    limit: int | None = None
    root_required: frozenset[str] = frozenset()
    root_forbidden: frozenset[str] = frozenset()
    same_subtree: tuple[tuple[str, ...], ...] = ()
    nested: bool = True
    """False before microversion 1.29: a candidate may use one provider of a tree only."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to satisfy the request: rows -> {class: amount}, and which rows served
    which group (by suffix)."""

    allocations: dict[int, dict[str, int]]
    mappings: dict[str, list[int]]
