"""GET /v1/simulation/fleet: the live fleet as ``corral simulate --fleet live`` replays it.

Cloud admin only (``corral:simulation:fleet``). One read of the fleet, nothing written
(services/live_fleet.py), in the wire form of corral/simulation/wire.py, with the fleet
policy this server runs with (each value and its origin): the simulation itself runs in
the CLI, on the operator's machine, so a long what-if never takes a server's time from
boots.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from corral.api.context import RequestContext
from corral.api.v1.common import allow, settings_of, store_of
from corral.config import FLEET_POLICY
from corral.config_view import BUILT_IN
from corral.services.live_fleet import read_live_fleet
from corral.simulation.wire import fleet_body

MaySimulationFleet = Annotated[RequestContext, Depends(allow("corral:simulation:fleet"))]

router = APIRouter(tags=["simulation"])


@router.get("/simulation/fleet")
def copy_fleet(request: Request, _ctx: MaySimulationFleet) -> JSONResponse:
    """The hosts (shape, own overcommit values, traits, aggregates, enabled, up, usage),
    the aggregates' metadata, the flavors, and the fleet policy in use."""
    settings = settings_of(request)
    origins = getattr(request.app.state, "origins", None) or {}
    fleet = read_live_fleet(store_of(request), settings)
    policy = {name: {"value": getattr(settings, name), "origin": origins.get(name, BUILT_IN)}
              for name in FLEET_POLICY}
    # A JSONResponse as it is: the fleet can be large, and it is JSON-ready already.
    return JSONResponse({"fleet": fleet_body(fleet), "policy": policy})
