"""The stored fleet policy: two layers of ``name -> (value, origin)``.

``published`` is what the last ``corral serve`` runs with; ``default`` holds defaults a
fleet carries with it, below any explicit configuration (see ``services/system.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The layer ``corral serve`` publishes at start-up.
PUBLISHED = "published"
#: The layer of a fleet's own defaults.
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """One stored option: its value (as JSON decodes it), where it came from, when."""

    value: object
    origin: str
    updated_at: datetime
