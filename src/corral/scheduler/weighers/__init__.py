"""The weighers, one module each (``WEIGHER``, see corral/scheduler/plugin.py), found
here by rank: the order their parts of a score are summed and shown. Each has a setting
``<name>_weight_multiplier``, which aggregate metadata of the same name overrides per
host. Adding a weigher is adding its module.
"""

from __future__ import annotations

import sys

from corral.scheduler.plugin import Option, Weigher
from corral.scheduler.registry import discover

#: {name: weigher}, in summing order.
WEIGHERS: dict[str, Weigher] = {w.name: w for w in discover(sys.modules[__name__], "WEIGHER")}
#: The settings the weighers bring (their multipliers), in weigher order.
OPTIONS: tuple[Option, ...] = tuple(w.option for w in WEIGHERS.values())
