"""Names of resource classes and traits: the standard catalogues and custom rules."""

from __future__ import annotations

import re
import uuid as _uuid

CUSTOM_PREFIX = "CUSTOM_"
CUSTOM_NAME = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
#: Any resource class name a request may carry (standard or custom).
RESOURCE_CLASS_NAME = re.compile(r"^[A-Z0-9_]+$")
#: Traits: standard traits use the same alphabet.
TRAIT_NAME = re.compile(r"^[A-Z0-9_]+$")
#: Consumer types (1.38) and resource class/trait names are limited to 255 characters.
MAX_NAME_LENGTH = 255


def is_custom(name: str) -> bool:
    return CUSTOM_NAME.match(name) is not None


def normalize_uuid(value: str) -> str | None:
    """Return the canonical dashed lower-case form of a UUID, or None if it is not one."""
    try:
        return str(_uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None
