"""The filters, one module each (``FILTER``, see corral/scheduler/plugin.py), found
here by rank: the default order, cheap and structural first, so the funnel reads from
"could never" to "not right now". ``scheduler.enabled_filters`` may drop or reorder
them. Adding a filter is adding its module.
"""

from __future__ import annotations

import sys

from corral.scheduler.plugin import Filter, Option
from corral.scheduler.registry import discover

#: {name: filter}, in the default order.
FILTERS: dict[str, Filter] = {f.name: f for f in discover(sys.modules[__name__], "FILTER")}
#: Every filter's name, in the default order.
FILTER_NAMES: tuple[str, ...] = tuple(FILTERS)
#: The settings the filters bring, in filter order.
OPTIONS: tuple[Option, ...] = tuple(o for f in FILTERS.values() for o in f.options)
