"""/v1/capacity: headroom per flavor, utilization per class, stranded capacity.

Cloud admins only (403 otherwise). Everything is computed from the scheduler's engine
(services/capacity.py; docs/capacity.md).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from corral.api.v1.access import require_cloud_admin
from corral.api.v1.common import Caller, store_of
from corral.api.v1.types import QueryAmountOrNone, QueryCountOrNone, QueryTop
from corral.domain import errors
from corral.services import capacity as svc
from corral.services.scheduler import Scheduler

router = APIRouter(tags=["capacity"])


def scheduler_of(request: Request) -> Scheduler:
    found: Scheduler = request.app.state.scheduler
    return found


def _shapes(vcpus: int | None, ram_mb: int | None, disk_gb: int | None) -> list[svc.Shape]:
    if vcpus is None and ram_mb is None and disk_gb is None:
        return []
    for name, value in (("vcpus", vcpus), ("ram_mb", ram_mb)):
        if value is None or value < 1:
            raise errors.InvalidInput(f"an ad-hoc shape needs {name} of at least 1",
                                      field=name)
    if disk_gb is not None and disk_gb < 0:
        raise errors.InvalidInput("disk_gb must be 0 or more", field="disk_gb")
    assert vcpus is not None and ram_mb is not None
    return [svc.Shape(vcpus, ram_mb, disk_gb or 0)]


def headroom_body(h: svc.FlavorHeadroom) -> dict[str, Any]:
    return {"flavor": {"id": h.flavor_id, "name": h.flavor_name}, "total": h.total,
            "groups": h.groups, "hosts_eligible": h.hosts_eligible,
            "hosts_with_room": h.hosts_with_room}


@router.get("/capacity")
def show_capacity(
    request: Request, ctx: Caller,
    flavor: Annotated[list[str] | None, Query(
        description="Flavor id or name; repeat for several (none: every flavor).")] = None,
    group_by: Annotated[str, Query(description="fleet, az, aggregate or host.")] = "az",
    vcpus: Annotated[QueryAmountOrNone, Query(description="An ad-hoc shape: vCPUs.")] = None,
    ram_mb: Annotated[QueryAmountOrNone, Query(description="An ad-hoc shape: RAM in MB.")] = None,
    disk_gb: Annotated[QueryCountOrNone, Query(description="An ad-hoc shape: disk in GB.")
                       ] = None,
    project: Annotated[str | None, Query(
        description="Count for this project (tenant-isolated aggregates).")] = None,
) -> dict[str, Any]:
    """How many more instances of each flavor fit, per group and in total."""
    require_cloud_admin(request, ctx, "corral:capacity:show")
    found = svc.headroom(store_of(request), scheduler_of(request), flavors=flavor,
                         group_by=group_by, shapes=_shapes(vcpus, ram_mb, disk_gb),
                         project_id=project)
    return {"group_by": group_by, "capacity": [headroom_body(h) for h in found]}


def _usage(per_class: dict[str, svc.ClassUsage]) -> dict[str, Any]:
    return {rc: {"used": u.used, "usable": u.usable, "ratio": round(u.ratio, 4)}
            for rc, u in per_class.items()}


@router.get("/capacity/utilization")
def show_utilization(request: Request, ctx: Caller) -> dict[str, Any]:
    """Used / usable per class, fleet-wide, per zone and per aggregate; stranded units."""
    require_cloud_admin(request, ctx, "corral:capacity:utilization")
    u = svc.utilization(store_of(request), scheduler_of(request))
    return {"fleet": _usage(u.fleet),
            "availability_zones": {z: _usage(c) for z, c in u.zones.items()},
            "aggregates": {a: _usage(c) for a, c in u.aggregates.items()},
            "stranded": u.stranded, "hosts_usable": u.hosts_usable,
            "hosts_total": u.hosts_total}


@router.get("/capacity/stranded")
def list_stranded(
    request: Request, ctx: Caller,
    top: Annotated[QueryTop, Query(description="How many hosts, worst first.")] = 10,
) -> dict[str, Any]:
    """The hosts whose free capacity no flavor can use, worst first."""
    require_cloud_admin(request, ctx, "corral:capacity:stranded")
    found = svc.stranded(store_of(request), scheduler_of(request), top=top)
    return {"hosts": [asdict(h) for h in found]}
