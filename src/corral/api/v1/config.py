"""GET /v1/config: the settings this server runs with, each with where it came from.

Cloud admin only (``corral:config:show``). Every option of ``corral config sample`` is
listed with its section, its value (secrets hidden, URLs without their passwords:
corral/config_view.py), its origin (the configuration file and section, ``CORRAL_X``,
``--x`` given to ``corral serve``, a default of this database's fleet, or the built-in
default) and whether it is part of the fleet policy. ``corral config show`` prints it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from corral.api.context import RequestContext
from corral.api.v1.common import allow, settings_of
from corral.config import OPTIONS
from corral.config_view import describe
from corral.domain import errors

MayConfigShow = Annotated[RequestContext, Depends(allow("corral:config:show"))]

router = APIRouter(tags=["config"])


def origins_of(request: Request) -> dict[str, str]:
    found: dict[str, str] = getattr(request.app.state, "origins", None) or {}
    return found


@router.get("/config")
def show_config(
    request: Request, _ctx: MayConfigShow,
    option: Annotated[list[str] | None, Query(
        description="Only this option; repeat for several.")] = None,
    fleet_policy: Annotated[bool, Query(
        description="Only the fleet policy's options (the scheduler's, the overcommit "
        "defaults, liveness, the quota model).")] = False,
) -> dict[str, Any]:
    """Every option with its value and origin; secrets hidden."""
    known = {opt.name for opt in OPTIONS}
    for name in option or ():
        if name not in known:
            raise errors.InvalidInput(f"unknown option {name!r} (corral config sample lists "
                                      "every option)", field="option")
    rows = describe(settings_of(request), origins_of(request))
    if option:
        rows = [r for r in rows if r["option"] in option]
    if fleet_policy:
        rows = [r for r in rows if r["fleet_policy"]]
    return {"options": rows}
