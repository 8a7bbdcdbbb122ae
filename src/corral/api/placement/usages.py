"""/resource_providers/{uuid}/usages and /resource_providers/{uuid}/allocations."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.placement.util import authorize, check_accept, respond, store, version
from corral.services import providers as svc


def get_provider_usages(request: Request) -> Response:
    authorize(request, "placement:resource_providers:usages")
    check_accept(request)
    p, usages = svc.get_usages(store(request), request.path_params["uuid"])
    return respond(request, {"usages": usages, "resource_provider_generation": p.generation})


def get_provider_allocations(request: Request) -> Response:
    authorize(request, "placement:resource_providers:allocations:list")
    check_accept(request)
    p, allocations, generations = svc.get_allocations(store(request),
                                                      request.path_params["uuid"])
    by_consumer: dict[str, dict[str, Any]] = {}
    for consumer, resources in allocations.items():
        by_consumer[consumer] = {"resources": resources}
        if version(request).matches((1, 28)):
            by_consumer[consumer]["consumer_generation"] = generations.get(consumer)
    body = {"allocations": by_consumer, "resource_provider_generation": p.generation}
    return respond(request, body)
