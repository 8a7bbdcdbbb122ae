"""/allocations/{consumer_uuid}, POST /allocations (1.13) and GET /usages (1.9)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.errors import ApiError
from corral.api.identity import KeystoneAuth
from corral.api.placement import allocation_schemas as s
from corral.api.placement.util import (
    authorize,
    check_accept,
    check_query,
    json_body,
    no_content,
    require_version,
    respond,
    store,
    version,
)
from corral.domain import codes
from corral.domain.capacity import Inventory
from corral.domain.names import normalize_uuid
from corral.services import allocations as svc


def _consumer(request: Request) -> str:
    """The consumer a write names; a write refuses an id that is not a UUID."""
    raw = request.path_params["consumer_uuid"]
    canonical = normalize_uuid(raw)
    if canonical is None:
        raise ApiError(400, f"Malformed consumer_uuid: {raw}")
    return canonical


def _consumer_to_read(request: Request) -> str:
    """As Placement, reads and deletes do not validate the id: a malformed one is simply
    a consumer that holds nothing (GET answers empty, DELETE 404)."""
    raw: str = request.path_params["consumer_uuid"]
    return normalize_uuid(raw) or raw


def _pick(models: list[tuple[tuple[int, int], Any]], request: Request) -> Any:
    v = version(request)
    for minimum, model in models:
        if v.matches(minimum):
            return model
    raise ApiError(405, "The method specified is not allowed for this resource.")


def _to_write(consumer: str, data: Any, request: Request) -> svc.ConsumerWrite:
    v = version(request)
    if isinstance(data.allocations, list):
        allocations = {item.resource_provider.uuid: dict(item.resources)
                       for item in data.allocations}
    else:
        allocations = {rp: dict(item.resources) for rp, item in data.allocations.items()}
    return svc.ConsumerWrite(
        consumer=consumer,
        allocations=allocations,
        project_id=getattr(data, "project_id", None),
        user_id=getattr(data, "user_id", None),
        generation=data.consumer_generation if v.matches((1, 28)) else svc.UNCHECKED,
        consumer_type=getattr(data, "consumer_type", None),
    )


def list_for_consumer(request: Request) -> Response:
    authorize(request, "placement:allocations:list")
    check_accept(request)
    v = version(request)
    found = svc.get_consumer_allocations(store(request), _consumer_to_read(request))
    body: dict[str, Any] = {"allocations": {
        rp: {"generation": found.provider_generations[rp], "resources": res}
        for rp, res in found.allocations.items()}}
    if found.allocations and v.matches((1, 12)):
        body["project_id"] = found.project_id
        body["user_id"] = found.user_id
        if v.matches((1, 28)):
            body["consumer_generation"] = found.generation
        if v.matches((1, 38)):
            body["consumer_type"] = found.consumer_type
    return respond(request, body, last_modified=found.updated_at)


def place_projects(request: Request, projects: list[str | None]) -> None:
    """With ``auth_strategy = keystone``, put the projects an allocation names under
    their Keystone parents before it creates them (Nova's path: api/identity.py)."""
    auth: KeystoneAuth | None = request.scope.get("state", {}).get("keystone")
    if auth is not None:
        for project in {p for p in projects if p}:
            auth.place(project)


def set_allocations_for_consumer(request: Request) -> Response:
    authorize(request, "placement:allocations:update")
    consumer = _consumer(request)
    data = json_body(request, _pick(s.PUT_MODELS, request))
    write = _to_write(consumer, data, request)
    place_projects(request, [write.project_id])
    svc.write_allocations(store(request), [write])
    return no_content()


def delete_allocations(request: Request) -> Response:
    authorize(request, "placement:allocations:delete")
    svc.delete_consumer_allocations(store(request), _consumer_to_read(request))
    return no_content()


def set_allocations(request: Request) -> Response:
    """POST /allocations: several consumers, all or nothing (1.13)."""
    require_version(request, (1, 13))
    authorize(request, "placement:allocations:manage")
    data = json_body(request, _pick(s.POST_MODELS, request))
    writes = [_to_write(consumer, item, request) for consumer, item in data.root.items()]
    place_projects(request, [w.project_id for w in writes])
    svc.write_allocations(store(request), writes)
    return no_content()


_CONSUMER_TYPE_QUERY = re.compile(r"^([A-Z0-9_]+|all|unknown)$")


def _usage_query(request: Request, name: str, pattern: re.Pattern[str] | None = None
                 ) -> str | None:
    """One GET /usages parameter: 1 to 255 characters (and the pattern), or absent."""
    value = request.query_params.get(name)
    if value is not None and not (0 < len(value) <= 255
                                  and (pattern is None or pattern.match(value))):
        raise ApiError(400, f"Invalid query string parameters: {value!r} is not a valid "
                       f"{name}", code=codes.QUERY_BAD_VALUE)
    return value


def get_total_usages(request: Request) -> Response:
    require_version(request, (1, 9))
    v = version(request)
    project = request.query_params.get("project_id")
    # Policy first, as Placement: a caller that may not look learns nothing more.
    authorize(request, "placement:usages", project)
    allowed = {"project_id", "user_id"} | ({"consumer_type"} if v.matches((1, 38)) else set())
    check_query(request, allowed)
    check_accept(request)
    if project is None:
        raise ApiError(400, "Invalid query string parameters: 'project_id' is a required property",
                       code=codes.QUERY_MISSING_VALUE)
    project = _usage_query(request, "project_id")
    assert project is not None
    user = _usage_query(request, "user_id")
    ctype = _usage_query(request, "consumer_type", _CONSUMER_TYPE_QUERY)
    groups = svc.project_usages(store(request), project, user, ctype)
    if v.matches((1, 38)):
        usages: dict[str, Any] = {
            g: {**res, "consumer_count": count} for g, (res, count) in groups.items()}
    else:
        usages = {}
        for res, _count in groups.values():
            for rc, used in res.items():
                usages[rc] = usages.get(rc, 0) + used
    return respond(request, {"usages": usages})


def reshape(request: Request) -> Response:
    """POST /reshaper (1.30): move inventory and allocations in one transaction."""
    require_version(request, (1, 30))
    authorize(request, "placement:reshaper:reshape")
    data = json_body(request, _pick(s.RESHAPE_MODELS, request))
    may_equal = version(request).matches((1, 26))
    inventories = {
        rp: svc.InventoryChange(
            change.resource_provider_generation,
            {rc: Inventory(r.total, r.reserved, r.min_unit, r.max_unit, r.step_size,
                           r.allocation_ratio) for rc, r in change.inventories.items()},
            may_equal)
        for rp, change in data.inventories.items()}
    writes = [_to_write(consumer, item, request) for consumer, item in data.allocations.items()]
    svc.reshape(store(request), inventories, writes)
    return no_content()
