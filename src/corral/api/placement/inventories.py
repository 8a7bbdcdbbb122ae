"""/resource_providers/{uuid}/inventories[/{resource_class}]."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.placement import schemas
from corral.api.placement.util import (
    authorize,
    check_accept,
    no_content,
    provider_body,
    require_version,
    respond,
    store,
    url,
    version,
)
from corral.domain.capacity import Inventory
from corral.domain.errors import InventoryNotFound
from corral.services import providers as svc


def _record(data: schemas.InventoryFields) -> Inventory:
    return Inventory(total=data.total, reserved=data.reserved, min_unit=data.min_unit,
                     max_unit=data.max_unit, step_size=data.step_size,
                     allocation_ratio=data.allocation_ratio)


def serialize_inventory(inv: Inventory, generation: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
                            "max_unit": inv.max_unit, "step_size": inv.step_size,
                            "allocation_ratio": inv.allocation_ratio}
    if generation is not None:
        body["resource_provider_generation"] = generation
    return body


def _send_all(request: Request, view: svc.InventoryView) -> Response:
    body = {"inventories": {k: serialize_inventory(v) for k, v in view.inventories.items()},
            "resource_provider_generation": view.generation}
    return respond(request, body, last_modified=view.updated_at)


def _reserved_may_equal_total(request: Request) -> bool:
    return version(request).matches((1, 26))


def get_inventories(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:list")
    check_accept(request)
    return _send_all(request, svc.get_inventories(store(request), request.path_params["uuid"]))


def set_inventories(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:update")
    uuid = request.path_params["uuid"]
    data = provider_body(request, uuid, schemas.InventoriesPut)
    wanted = {name: _record(rec) for name, rec in data.inventories.items()}
    view = svc.set_inventories(store(request), uuid, data.resource_provider_generation, wanted,
                               reserved_may_equal_total=_reserved_may_equal_total(request))
    return _send_all(request, view)


def create_inventory(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:create")
    uuid = request.path_params["uuid"]
    data = provider_body(request, uuid, schemas.InventoryPost)
    view = svc.add_inventory(store(request), uuid, data.resource_class, _record(data),
                             reserved_may_equal_total=_reserved_may_equal_total(request))
    body = serialize_inventory(view.inventories[data.resource_class], view.generation)
    return respond(request, body, status=201, last_modified=view.updated_at,
                   location=url(request, "resource_providers", uuid, "inventories",
                                data.resource_class))


def delete_inventories(request: Request) -> Response:
    require_version(request, (1, 5), status=405)
    authorize(request, "placement:resource_providers:inventories:delete")
    svc.delete_inventory(store(request), request.path_params["uuid"])
    return no_content()


def get_inventory(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:list")
    check_accept(request)
    rc = request.path_params["resource_class"]
    view = svc.get_inventories(store(request), request.path_params["uuid"])
    if rc not in view.inventories:
        raise InventoryNotFound(view.provider.uuid, rc)
    return respond(request, serialize_inventory(view.inventories[rc], view.generation),
                   last_modified=view.updated_at)


def update_inventory(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:update")
    uuid, rc = request.path_params["uuid"], request.path_params["resource_class"]
    data = provider_body(request, uuid, schemas.InventoryPut)
    view = svc.update_inventory(store(request), uuid, rc, data.resource_provider_generation,
                                _record(data),
                                reserved_may_equal_total=_reserved_may_equal_total(request))
    return respond(request, serialize_inventory(view.inventories[rc], view.generation),
                   last_modified=view.updated_at)


def delete_inventory(request: Request) -> Response:
    authorize(request, "placement:resource_providers:inventories:delete")
    svc.delete_inventory(store(request), request.path_params["uuid"],
                         request.path_params["resource_class"])
    return no_content()
