"""/v1/hosts: compute hosts report themselves, heartbeat, and are run by operators.

Every route needs the admin or service role. Heartbeats come one host at a time
(``POST /v1/hosts/{name}/heartbeat``) or many at a time from an agent aggregator
(``POST /v1/hosts/heartbeats``), group-committed either way (services/liveness.py).
A host's answer shows its liveness (``state``), its availability zone and aggregates,
usage and capacity per class, and its effective ratios and reserved memory each with
where it came from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictStr

from corral.api.v1.common import (
    Admin,
    Body,
    acting,
    caller,
    exact_timestamp,
    require_admin,
    settings_of,
    store_of,
)
from corral.api.v1.lean import LeanRoute, json_of, lean, needs_store, validated
from corral.api.v1.types import Amount, Count, CountOrNone, HostRatioOrNone
from corral.api.workers import hand_off
from corral.domain.hosts import Host, HostReport
from corral.services import hosts as svc
from corral.services import liveness
from corral.services.scheduler import Scheduler

#: The bulk heartbeat is a lean route (api/v1/lean.py); the others are plain FastAPI routes.
router = APIRouter(tags=["hosts"], route_class=LeanRoute)


def host_body(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "provider_uuid": host.provider_uuid,
        "state": host.state,
        "enabled": host.enabled,
        "disabled_reason": host.disabled_reason,
        "forced_down": host.forced_down,
        "last_heartbeat": exact_timestamp(host.last_heartbeat),
        "availability_zone": host.availability_zone,
        "aggregates": host.aggregates,
        "traits": host.traits,
        "reported": host.reported,
        "resources": {
            name: {"total": r.total, "reserved": r.reserved,
                   "allocation_ratio": r.allocation_ratio, "capacity": r.capacity,
                   "used": r.used}
            for name, r in host.resources.items()},
        "instances": host.instances,
        "failed_builds": host.failed_builds,
        "overrides": host.overrides,
        "effective": host.effective.as_dict(),
        "created_at": exact_timestamp(host.created_at),
        "updated_at": exact_timestamp(host.updated_at),
    }


class HostReportBody(Body):
    vcpus: Count
    memory_mb: Count
    disk_gb: Count
    traits: list[StrictStr] | None = None
    resources: dict[str, Amount] | None = None


class HeartbeatsBody(Body):
    # The limit is documented as maxItems, and enforced by services/liveness.py (whose
    # refusal says, in corral's words, to send the rest in another request).
    hosts: list[StrictStr] = Field(
        description=f"Names of the hosts heard from, at most {liveness.MAX_HEARTBEAT_HOSTS}.",
        json_schema_extra={"maxItems": liveness.MAX_HEARTBEAT_HOSTS})


class HostPatchBody(Body):
    enabled: StrictBool | None = None
    disabled_reason: StrictStr | None = None
    forced_down: StrictBool | None = None
    cpu_allocation_ratio: HostRatioOrNone = None
    ram_allocation_ratio: HostRatioOrNone = None
    disk_allocation_ratio: HostRatioOrNone = None
    reserved_host_memory_mb: CountOrNone = None


@router.get("/hosts")
def list_hosts(
    request: Request, _ctx: Admin,
    availability_zone: Annotated[str | None, Query()] = None,
    state: Annotated[Literal["up", "down"] | None, Query()] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """List hosts, optionally only those in a zone, up or down, enabled or not."""
    found = svc.list_hosts(store_of(request), settings_of(request),
                           availability_zone=availability_zone, state=state, enabled=enabled)
    return {"hosts": [host_body(h) for h in found]}


@router.get("/hosts/{name}")
def show_host(name: str, request: Request, _ctx: Admin) -> dict[str, Any]:
    return host_body(svc.get_host(store_of(request), settings_of(request), name))


@router.put("/hosts/{name}")
def report_host(name: str, body: HostReportBody, request: Request, response: Response,
                _ctx: Admin) -> dict[str, Any]:
    """A host reports its inventory and traits (creating it the first time); also a
    heartbeat. 201 when created, 200 when updated."""
    report = HostReport(vcpus=body.vcpus, memory_mb=body.memory_mb, disk_gb=body.disk_gb,
                        traits=body.traits, resources=body.resources)
    host, created = svc.report_host(store_of(request), settings_of(request), name, report)
    response.status_code = 201 if created else 200
    return host_body(host)


def scheduler_of(request: Request) -> Scheduler:
    found: Scheduler = request.app.state.scheduler
    return found


def _heartbeats(request: Request, body: HeartbeatsBody) -> Response:
    found = liveness.record(scheduler_of(request), body.hosts)
    return JSONResponse({"last_heartbeat": exact_timestamp(found.when),
                         "recorded": found.recorded, "unknown": found.unknown})


def _heartbeats_as_sent(request: Request, data: Any) -> Response:
    """Authenticate, validate and record, all in the worker thread (a stored token)."""
    require_admin(request, caller(request))
    return _heartbeats(request, validated(HeartbeatsBody, data))


async def serve_heartbeats(request: Request) -> Response:
    """POST /v1/hosts/heartbeats as served (api/v1/lean.py): an aggregator sends it
    every few seconds with hundreds of names, so the body is parsed and validated once
    on the event loop, then one hand-off to a worker thread for the flush."""
    data = await json_of(request)
    if needs_store(request):
        return await hand_off(request, _heartbeats_as_sent, request, data)
    require_admin(request, caller(request))
    return await hand_off(request, _heartbeats, request, validated(HeartbeatsBody, data))


@router.post("/hosts/heartbeats", response_model=None)
@lean(serve_heartbeats)
async def heartbeat_hosts(body: HeartbeatsBody, request: Request, _ctx: Admin) -> Response:
    """Heartbeats of many hosts at once (an agent aggregator): each named host is alive
    now. Names that are no host are listed in ``unknown``; the others are recorded."""
    return await hand_off(request, _heartbeats, request, body)


@router.post("/hosts/{name}/heartbeat", status_code=204)
def heartbeat_host(name: str, request: Request, _ctx: Admin) -> Response:
    liveness.record_one(scheduler_of(request), name)
    return Response(status_code=204)


@router.patch("/hosts/{name}")
def update_host(name: str, body: HostPatchBody, request: Request, ctx: Admin) -> dict[str, Any]:
    """Enable or disable (with a reason), force down, or set the host's own overcommit
    values; a null value clears one back to its aggregates' or the default."""
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    return host_body(svc.update_host(store_of(request), settings_of(request), name, changes,
                                     actor=acting(request, ctx)))


@router.delete("/hosts/{name}", status_code=204)
def delete_host(name: str, request: Request, ctx: Admin) -> Response:
    svc.delete_host(store_of(request), name, actor=acting(request, ctx))
    return Response(status_code=204)
