"""Finding the plugins: every module of a plugin package that defines the expected
object (``FILTER`` or ``WEIGHER``), ordered by the object's ``rank``. So adding a filter
or a weigher is adding its module: no list to extend elsewhere."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def discover(package: ModuleType, attribute: str) -> list[Any]:
    """The ``attribute`` of each module of ``package`` (modules without it, or whose name
    starts with ``_``, are skipped), by rank then name."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        plugin = getattr(module, attribute, None)
        if plugin is not None:
            found.append(plugin)
    return sorted(found, key=lambda p: (p.rank, p.name))
