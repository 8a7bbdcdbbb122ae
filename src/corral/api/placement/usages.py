"""/resource_providers/{uuid}/usages and /resource_providers/{uuid}/allocations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.placement.util import authorize, check_accept, respond, store
from corral.services import providers as svc


def get_provider_usages(request: Request) -> Response:
    authorize(request)
    check_accept(request)
    p, usages = svc.get_usages(store(request), request.path_params["uuid"])
    return respond(request, {"usages": usages, "resource_provider_generation": p.generation})


def get_provider_allocations(request: Request) -> Response:
    authorize(request)
    check_accept(request)
    p, allocations = svc.get_allocations(store(request), request.path_params["uuid"])
    body = {"allocations": {c: {"resources": r} for c, r in allocations.items()},
            "resource_provider_generation": p.generation}
    return respond(request, body)
