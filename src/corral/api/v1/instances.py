"""/v1/instances and /v1/decisions: boot, build reports, resize, migrate, delete, and
the record of every scheduling decision.

Members boot, resize, confirm, revert and delete in their own project; readers list
and show. Admins act on any project, see host names and figures, migrate, and report
builds (as the hosts do, with a service token). A boot no host can take is a 409 whose
``explanation`` says why: categories and counts for members, hosts and figures for
admins.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictStr

from corral.api.context import RequestContext
from corral.api.errors import ApiError
from corral.api.v1.answers import error_entry
from corral.api.v1.common import (
    READ_ROLES,
    WRITE_ROLES,
    Body,
    Caller,
    allow,
    caller,
    is_admin,
    location,
    owner_scope,
    project_scope,
    store_of,
    timestamp,
)
from corral.api.v1.lean import LeanRoute, json_of, lean, needs_store, validated
from corral.api.v1.types import BootCount, QueryListLimitOrNone, QueryPageLimit
from corral.api.workers import hand_off
from corral.domain import errors
from corral.domain import scheduling as s
from corral.domain.scheduling import Instance
from corral.services import builds, decision_log, instance_reads, moves
from corral.services import instances as svc
from corral.services.scheduler import Scheduler

#: The boot is a lean route (api/v1/lean.py); the others are plain FastAPI routes.
MayInstancesBuildReport = Annotated[RequestContext, Depends(allow("corral:instances:build_report"))]
MayInstancesMigrate = Annotated[RequestContext, Depends(allow("corral:instances:migrate"))]

router = APIRouter(tags=["instances"], route_class=LeanRoute)


class Hints(Body):
    same_host: list[StrictStr] = Field(default_factory=list)
    different_host: list[StrictStr] = Field(default_factory=list)


class Boot(Body):
    name: StrictStr
    flavor: StrictStr = Field(description="Flavor id or name.")
    availability_zone: StrictStr | None = None
    server_group: StrictStr | None = Field(default=None, description="Server group id.")
    hints: Hints | None = None
    count: BootCount = 1
    dry_run: StrictBool = False
    project_id: StrictStr | None = Field(default=None, description="Admins only.")
    user_id: StrictStr | None = Field(default=None, description="Admins only.")


class BuildReport(Body):
    status: Literal["active", "failed"]
    message: StrictStr | None = None


class Resize(Body):
    flavor: StrictStr


class Migrate(Body):
    host: StrictStr | None = None


def scheduler_of(request: Request) -> Scheduler:
    found: Scheduler = request.app.state.scheduler
    return found


def instance_body(i: Instance, admin: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": i.id, "name": i.name, "project_id": i.project_id, "user_id": i.user_id,
        "flavor_id": i.flavor_id, "state": i.state, "availability_zone": i.availability_zone,
        "requested_availability_zone": i.requested_availability_zone,
        "server_group": i.server_group, "new_flavor_id": i.new_flavor_id,
        "attempts": i.attempts, "decision_id": i.decision_id, "fault": i.fault,
        "created_at": timestamp(i.created_at), "updated_at": timestamp(i.updated_at)}
    if admin:
        body.update(host=i.host, source_host=i.source_host, alternates=list(i.alternates))
    return body


def no_valid_host(request: Request, exc: s.NoValidHost, admin: bool) -> JSONResponse:
    """409 with the explanation, as much of it as the caller may see."""
    explanation = exc.explanation if admin else s.for_member(exc.explanation)
    entry = error_entry(request, 409, "no_valid_host", exc.detail)
    return JSONResponse(status_code=409, content={"error": {**entry,
                                                            "explanation": explanation}})


def _dry_run_body(result: svc.BootResult, admin: bool) -> dict[str, Any]:
    assert result.record is not None  # a dry run stores no key: never a replay
    record = result.record.as_dict()
    placements = [{"host": p["host"], "alternates": p["alternates"]} if admin else {}
                  for p in record.get("placements", [])]
    body: dict[str, Any] = {"dry_run": True, "decision_id": result.decision_id,
                            "fits": len(placements), "funnel": record["funnel"]}
    if admin:
        body.update(placements=placements, weighed=record["weighed"])
    return body


#: Sent back on an answer replayed for an Idempotency-Key (nothing was booted again).
REPLAYED_HEADER = "idempotent-replayed"


def _boot(request: Request, body: Boot, ctx: RequestContext,
          idempotency_key: str | None) -> Response:
    """The boot itself, in the worker thread: the caller's scope, the service, the
    answer serialised once."""
    admin = is_admin(request, ctx)
    project = project_scope(request, ctx, WRITE_ROLES, body.project_id,
                            "corral:instances:create")
    if project is None:
        # An admin acts for any project: which one must be said, never guessed from
        # the token (the noauth admin token's "project" is not a tenant).
        raise errors.InvalidInput("project_id is required when an admin boots: name the "
                                  "project the instances belong to", field="project_id")
    if body.user_id is not None and not admin and body.user_id != ctx.user_id:
        raise ApiError(403, "Policy does not allow this action to be performed: only an "
                       "admin may boot for another user.", code="forbidden")
    hints = body.hints or Hints()
    req = svc.BootRequest(
        name=body.name, flavor=body.flavor, project_id=project,
        user_id=body.user_id or ctx.user_id or project, availability_zone=body.availability_zone,
        server_group=body.server_group, same_host=tuple(hints.same_host),
        different_host=tuple(hints.different_host), count=body.count, dry_run=body.dry_run,
        any_flavor=admin, idempotency_key=idempotency_key, caller_project=ctx.project_id)
    try:
        result = svc.boot(store_of(request), scheduler_of(request), req)
    except s.NoValidHost as exc:
        return no_valid_host(request, exc, admin)
    if body.dry_run:
        return JSONResponse(jsonable_encoder(_dry_run_body(result, admin)), status_code=200)
    headers = ({"location": location(request, "instances", result.instances[0].id)}
               if len(result.instances) == 1 else {})
    if result.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse({"instances": [instance_body(i, admin) for i in result.instances],
                         "decision_id": result.decision_id}, status_code=201, headers=headers)


def _boot_as_sent(request: Request, data: Any, idempotency_key: str | None) -> Response:
    """Authenticate, validate and boot, all in the worker thread (a stored token)."""
    ctx = caller(request)
    return _boot(request, validated(Boot, data), ctx, idempotency_key)


async def serve_boot(request: Request) -> Response:
    """POST /v1/instances as served (api/v1/lean.py): the body parsed and validated
    once on the event loop, then one hand-off to a worker thread for the boot."""
    data = await json_of(request)
    key = request.headers.get("idempotency-key")
    if needs_store(request):
        return await hand_off(request, _boot_as_sent, request, data, key)
    ctx = caller(request)
    return await hand_off(request, _boot, request, validated(Boot, data), ctx, key)


@router.post("/instances", status_code=201, response_model=None)
@lean(serve_boot)
async def boot(request: Request, body: Boot, ctx: Caller,
               idempotency_key: Annotated[str | None, Header(
                   alias="Idempotency-Key",
                   description="A key of the client's choosing (1 to 255 printable ASCII "
                   "characters): a retry with the same key and body answers what the first "
                   "call answered, without booting again.")] = None,
               ) -> Response:
    """Boot ``count`` instances of a flavor (or, ``dry_run``, say where they would go)."""
    return await hand_off(request, _boot, request, body, ctx, idempotency_key)


@router.get("/instances")
def list_instances(
    request: Request, ctx: Caller,
    project_id: Annotated[str | None, Query(description="Admins: one project's.")] = None,
    host: Annotated[str | None, Query(description="Admins: on this host.")] = None,
    state: Annotated[str | None, Query(description="Only in this state.")] = None,
    limit: QueryListLimitOrNone = None,
) -> dict[str, Any]:
    """The caller's project's live instances; an admin's: every project's."""
    project = project_scope(request, ctx, READ_ROLES, project_id, "corral:instances:list")
    admin = is_admin(request, ctx)
    if host is not None and not admin:
        raise ApiError(403, "Policy does not allow this action to be performed: only an "
                       "admin may list by host.", code="forbidden")
    found = instance_reads.list_instances(store_of(request), project_id=project, host=host, state=state,
                               limit=limit)
    return {"instances": [instance_body(i, admin) for i in found]}


def _scope(request: Request, ctx: RequestContext, roles: frozenset[str], rule: str,
           instance_id: str | None = None) -> str | None:
    """The project to look for ``instance_id`` in (a project admin: the owner's, when
    in its subtree); None for an admin."""
    if instance_id is None:
        return project_scope(request, ctx, roles, None, rule)
    return owner_scope(request, ctx, roles, lambda: instance_reads.get_instance(
        store_of(request), instance_id).project_id, rule)


@router.get("/instances/{instance_id}")
def show_instance(request: Request, instance_id: str, ctx: Caller) -> dict[str, Any]:
    project = _scope(request, ctx, READ_ROLES, "corral:instances:show", instance_id)
    return instance_body(instance_reads.get_instance(store_of(request), instance_id, project_id=project),
                         is_admin(request, ctx))


@router.delete("/instances/{instance_id}", status_code=204)
def delete_instance(request: Request, instance_id: str, ctx: Caller) -> None:
    svc.delete_instance(store_of(request), instance_id,
                        project_id=_scope(request, ctx, WRITE_ROLES, "corral:instances:delete",
                                           instance_id))


@router.post("/instances/{instance_id}/build-report")
def build_report(request: Request, instance_id: str, body: BuildReport,
                 _ctx: MayInstancesBuildReport) -> dict[str, Any]:
    """The host reports the build: ``active``, or ``failed`` (retried on an alternate)."""
    found = builds.report_build(store_of(request), scheduler_of(request), instance_id,
                             succeeded=body.status == "active", message=body.message)
    return instance_body(found, True)


@router.post("/instances/{instance_id}/resize", response_model=None)
def resize(request: Request, instance_id: str, body: Resize,
           ctx: Caller) -> dict[str, Any] | JSONResponse:
    """Claim a new flavor on a host the scheduler picks; then confirm or revert."""
    admin = is_admin(request, ctx)
    try:
        found = moves.resize(store_of(request), scheduler_of(request), instance_id, body.flavor,
                           project_id=_scope(request, ctx, WRITE_ROLES, "corral:instances:resize",
                                             instance_id), any_flavor=admin)
    except s.NoValidHost as exc:
        return no_valid_host(request, exc, admin)
    return instance_body(found, admin)


@router.post("/instances/{instance_id}/migrate", response_model=None)
def migrate(request: Request, instance_id: str, body: Migrate,
            _ctx: MayInstancesMigrate) -> dict[str, Any] | JSONResponse:
    """Move to ``host`` (every filter still applies) or to the scheduler's pick."""
    try:
        found = moves.migrate(store_of(request), scheduler_of(request), instance_id,
                            host=body.host)
    except s.NoValidHost as exc:
        return no_valid_host(request, exc, True)
    return instance_body(found, True)


@router.post("/instances/{instance_id}/confirm")
def confirm(request: Request, instance_id: str, ctx: Caller) -> dict[str, Any]:
    """Keep the new host and flavor; the source is given back."""
    found = moves.confirm(store_of(request), instance_id,
                        project_id=_scope(request, ctx, WRITE_ROLES, "corral:instances:confirm", instance_id))
    return instance_body(found, is_admin(request, ctx))


@router.post("/instances/{instance_id}/revert")
def revert(request: Request, instance_id: str, ctx: Caller) -> dict[str, Any]:
    """Go back to the source host and flavor."""
    found = moves.revert(store_of(request), instance_id,
                       project_id=_scope(request, ctx, WRITE_ROLES, "corral:instances:revert", instance_id))
    return instance_body(found, is_admin(request, ctx))


# -- decisions ---------------------------------------------------------------------------------

def _decision_body(d: dict[str, Any], admin: bool) -> dict[str, Any]:
    d = {**d, "created_at": timestamp(d["created_at"])}
    return d if admin else s.decision_for_member(d)


@router.get("/decisions", tags=["decisions"])
def list_decisions(
    request: Request, ctx: Caller,
    instance: Annotated[str | None, Query(description="Decisions about this instance.")] = None,
    project_id: Annotated[str | None, Query(description="Admins: one project's.")] = None,
    limit: QueryPageLimit = 50,
) -> dict[str, Any]:
    """The newest decisions first (summaries; show one for the whole record)."""
    project = project_scope(request, ctx, READ_ROLES, project_id, "corral:decisions:list")
    admin = is_admin(request, ctx)
    found = decision_log.list_decisions(store_of(request), project_id=project, instance=instance,
                               limit=limit)
    summaries = [{**d, "created_at": timestamp(d["created_at"])} for d in found]
    return {"decisions": summaries if admin else [s.summary_for_member(d) for d in summaries]}


@router.get("/decisions/{decision_id}", tags=["decisions"])
def show_decision(request: Request, decision_id: str, ctx: Caller) -> dict[str, Any]:
    """One decision: request, configuration used, funnel, weighed hosts, attempts, and
    for a refusal the explanation."""
    project = _scope(request, ctx, READ_ROLES, "corral:decisions:show")
    found = decision_log.get_decision(store_of(request), decision_id, project_id=project)
    return _decision_body(found, is_admin(request, ctx))
