"""/traits, /traits/{name} and /resource_providers/{uuid}/traits (from 1.6)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.errors import ApiError
from corral.api.placement import schemas
from corral.api.placement.util import (
    authorize,
    check_accept,
    check_query,
    no_content,
    provider_body,
    require_version,
    respond,
    store,
)
from corral.domain.names import TRAIT_NAME
from corral.services import catalog
from corral.services import providers as svc


def list_traits(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:traits:list")
    check_accept(request)
    check_query(request, {"name", "associated"})
    names: list[str] | None = None
    prefix: str | None = None
    raw = request.query_params.get("name")
    if raw is not None:
        if raw.startswith("in:"):
            names = [n.strip() for n in raw[3:].split(",") if n.strip()]
        elif raw.startswith("startswith:"):
            prefix = raw[len("startswith:"):]
        else:
            raise ApiError(400, f"Badly formatted name parameter. Expected name query string "
                           f"parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. "
                           f"Got: \"{raw}\"", code="placement.query.bad_value")
    associated: bool | None = None
    raw = request.query_params.get("associated")
    if raw is not None:
        if raw.lower() not in ("true", "false"):
            raise ApiError(400, f"The query parameter \"associated\" only accepts \"true\" or "
                           f"\"false\". Got: {raw}", code="placement.query.bad_value")
        associated = raw.lower() == "true"
    found = catalog.list_traits(store(request), names=names, prefix=prefix, associated=associated)
    return respond(request, {"traits": found})


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    if not TRAIT_NAME.match(name) or len(name) > 255:
        raise ApiError(400, f"The trait name {name!r} is not valid: traits use A-Z, 0-9 and _")
    return name


def get_trait(request: Request) -> Response:
    """204 or 404, no body: so, as in Placement, any ``accept`` will do."""
    require_version(request, (1, 6))
    authorize(request, "placement:traits:show")
    updated = catalog.show_trait(store(request), request.path_params["name"])
    return respond(request, None, status=204, last_modified=updated)


def put_trait(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:traits:update")
    name = _name(request)
    created, updated = catalog.ensure_trait(store(request), name)
    location = request.url.path
    return respond(request, None, status=201 if created else 204, last_modified=updated,
                   location=location)


def delete_trait(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:traits:delete")
    catalog.delete_trait(store(request), request.path_params["name"])
    return no_content()


def get_provider_traits(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:resource_providers:traits:list")
    check_accept(request)
    p, names = svc.get_provider_traits(store(request), request.path_params["uuid"])
    return respond(request, {"traits": names, "resource_provider_generation": p.generation},
                   last_modified=p.updated_at)


def set_provider_traits(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:resource_providers:traits:update")
    uuid = request.path_params["uuid"]
    data = provider_body(request, uuid, schemas.TraitsPut)
    p, names = svc.set_provider_traits(store(request), uuid, data.resource_provider_generation,
                                       data.traits)
    return respond(request, {"traits": names, "resource_provider_generation": p.generation},
                   last_modified=p.updated_at)


def delete_provider_traits(request: Request) -> Response:
    require_version(request, (1, 6))
    authorize(request, "placement:resource_providers:traits:delete")
    svc.set_provider_traits(store(request), request.path_params["uuid"], None, [])
    return no_content()
