"""SQL for the fleet policy (mixed into the Repository): settings every process reads.

Two layers of ``name -> (value, origin)``: ``published`` (what the last ``corral serve``
runs with) and ``default`` (defaults a fleet carries with it, below any explicit
configuration). Values are JSON; a layer is replaced whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import Connection, delete, insert, select

from corral.domain.fleet_policy import PolicyValue
from corral.persistence import tables as t
from corral.persistence.clock import utcnow

_fp = t.fleet_policy


class FleetPolicyQueries:
    conn: Connection

    def fleet_policy(self, layer: str) -> dict[str, PolicyValue]:
        """The values of one layer, by option name (empty when never written)."""
        rows = self.conn.execute(select(_fp.c.name, _fp.c.value, _fp.c.origin, _fp.c.updated_at)
                                 .where(_fp.c.layer == layer)).mappings()
        return {r["name"]: PolicyValue(json.loads(r["value"]), r["origin"], r["updated_at"])
                for r in rows}

    def replace_fleet_policy(self, layer: str, values: Mapping[str, tuple[object, str]]) -> None:
        """Make ``values`` ({name: (value, origin)}) the whole of ``layer``."""
        self.conn.execute(delete(_fp).where(_fp.c.layer == layer))
        if values:
            now = utcnow()
            self.conn.execute(insert(_fp), [
                {"layer": layer, "name": name, "value": json.dumps(value), "origin": origin,
                 "updated_at": now} for name, (value, origin) in sorted(values.items())])

    def set_fleet_policy(self, layer: str, name: str, value: object, origin: str) -> None:
        """Set one value of ``layer``, keeping the others."""
        self.conn.execute(delete(_fp).where(_fp.c.layer == layer, _fp.c.name == name))
        self.conn.execute(insert(_fp).values(layer=layer, name=name, value=json.dumps(value),
                                             origin=origin, updated_at=utcnow()))
