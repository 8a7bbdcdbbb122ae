"""The rows storage returns of the project tree (``projects``): a project by its row id,
with its external id, name and parent's row id. The tree's rules are in
:mod:`corral.domain.projects`; these are only what was read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """A project as a claim's chain walk reads it."""

    id: int
    external_id: str
    name: str | None
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A whole ``projects`` row (the parent as a row id)."""

    id: int
    external_id: str
    name: str | None
    parent_id: int | None
    created_at: datetime
    updated_at: datetime
