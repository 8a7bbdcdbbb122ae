"""/resource_providers/{uuid}/aggregates (from 1.1; generation-checked from 1.19)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.placement import schemas
from corral.api.placement.util import (
    authorize,
    check_accept,
    provider_body,
    require_version,
    respond,
    store,
    version,
)
from corral.domain.model import Provider
from corral.services import providers as svc


def _body(request: Request, p: Provider, aggregates: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"aggregates": aggregates}
    if version(request).matches((1, 19)):
        body["resource_provider_generation"] = p.generation
    return body


def get_provider_aggregates(request: Request) -> Response:
    require_version(request, (1, 1))
    authorize(request, "placement:resource_providers:aggregates:list")
    check_accept(request)
    p, aggs = svc.get_provider_aggregates(store(request), request.path_params["uuid"])
    return respond(request, _body(request, p, aggs), last_modified=p.updated_at)


def set_provider_aggregates(request: Request) -> Response:
    require_version(request, (1, 1))
    authorize(request, "placement:resource_providers:aggregates:update")
    uuid = request.path_params["uuid"]
    if version(request).matches((1, 19)):
        data = provider_body(request, uuid, schemas.AggregatesPut119)
        aggs, generation, bump = data.aggregates, data.resource_provider_generation, True
    else:
        aggs, generation, bump = provider_body(request, uuid, schemas.AggregatesList).root, None, False
    p, _current = svc.set_provider_aggregates(store(request), uuid, aggs,
                                              generation=generation, bump=bump)
    # Placement answers with the list as the client sent it (its order kept).
    return respond(request, _body(request, p, aggs), last_modified=p.updated_at)
