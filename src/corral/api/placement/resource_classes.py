"""/resource_classes and /resource_classes/{name} (from 1.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.placement import schemas
from corral.api.placement.util import (
    authorize,
    check_accept,
    json_body,
    no_content,
    require_version,
    respond,
    store,
    url,
)
from corral.services import catalog


def _serialize(request: Request, name: str) -> dict[str, Any]:
    return {"name": name, "links": [{"rel": "self", "href": url(request, "resource_classes", name)}]}


def list_resource_classes(request: Request) -> Response:
    require_version(request, (1, 2))
    authorize(request, "placement:resource_classes:list")
    check_accept(request)
    names = catalog.list_resource_classes(store(request))
    return respond(request, {"resource_classes": [_serialize(request, n) for n in names]})


def create_resource_class(request: Request) -> Response:
    require_version(request, (1, 2))
    authorize(request, "placement:resource_classes:create")
    data = json_body(request, schemas.ResourceClassBody)
    catalog.create_resource_class(store(request), data.name)
    return no_content(201, url(request, "resource_classes", data.name))


def get_resource_class(request: Request) -> Response:
    require_version(request, (1, 2))
    authorize(request, "placement:resource_classes:show")
    check_accept(request)
    name = request.path_params["name"]
    updated = catalog.show_resource_class(store(request), name)
    return respond(request, _serialize(request, name), last_modified=updated)


def update_resource_class(request: Request) -> Response:
    """1.2-1.6: rename a custom class. 1.7+: bodiless create-or-verify."""
    require_version(request, (1, 2))
    authorize(request, "placement:resource_classes:update")
    name = request.path_params["name"]
    if request.state.version.matches((1, 7)):
        created = catalog.ensure_resource_class(store(request), name)
        location = url(request, "resource_classes", name)
        # Bodiless, and unlike PUT /traits/{name}, without caching headers (as Placement).
        return respond(request, None, status=201 if created else 204, location=location,
                       cache=False)
    data = json_body(request, schemas.ResourceClassBody)
    updated = catalog.rename_resource_class(store(request), name, data.name)
    return respond(request, _serialize(request, data.name), last_modified=updated)


def delete_resource_class(request: Request) -> Response:
    require_version(request, (1, 2))
    authorize(request, "placement:resource_classes:delete")
    catalog.delete_resource_class(store(request), request.path_params["name"])
    return no_content()
