"""/v1/flavors: flavors, their extra specs and their project access lists.

Reading is open to every authenticated caller, who sees public flavors and the private
ones shared with their project (admins see all); a private flavor a caller may not see
is a 404. Every change is for admins (403 otherwise). Each flavor is shown with
``placement``: what it asks of Placement once its extra specs are applied.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import StrictBool, StrictStr

from corral.api.context import RequestContext
from corral.api.errors import ApiError
from corral.api.v1.common import (
    Admin,
    Body,
    Caller,
    acting,
    is_admin,
    location,
    store_of,
    timestamp,
)
from corral.api.v1.types import Amount, Count, QueryCount
from corral.domain.flavors import Flavor, PlacementRequest, placement_request
from corral.services import flavors as svc

router = APIRouter(tags=["flavors"])


class FlavorCreate(Body):
    name: StrictStr
    id: StrictStr | None = None
    vcpus: Amount
    ram_mb: Amount
    disk_gb: Count = 0
    ephemeral_gb: Count = 0
    swap_mb: Count = 0
    is_public: StrictBool = True
    description: StrictStr | None = None
    extra_specs: dict[str, StrictStr] = {}


class FlavorUpdate(Body):
    """Only the description may change (null clears it); sizes are fixed once created."""

    description: StrictStr | None = None


class ExtraSpecsUpdate(Body):
    """Keys to set; a null value removes the key."""

    extra_specs: dict[str, StrictStr | None]


class AccessAdd(Body):
    project_id: StrictStr


def visible_to(request: Request, ctx: RequestContext) -> str | None:
    """None (every flavor) for admins, else the caller's project ("" sees only public)."""
    return None if is_admin(request, ctx) else (ctx.project_id or "")



def placement_body(req: PlacementRequest) -> dict[str, Any]:
    return {
        "resources": dict(req.resources),
        "required_traits": sorted(req.required_traits),
        "forbidden_traits": sorted(req.forbidden_traits),
        "groups": [{"suffix": g.suffix, "resources": dict(g.resources),
                    "required_traits": sorted(g.required_traits),
                    "forbidden_traits": sorted(g.forbidden_traits)} for g in req.groups],
        "group_policy": req.group_policy,
        "aggregate_extra_specs": dict(req.aggregate_specs),
    }


def flavor_body(f: Flavor) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram_mb": f.ram_mb,
            "disk_gb": f.disk_gb, "ephemeral_gb": f.ephemeral_gb, "swap_mb": f.swap_mb,
            "is_public": f.is_public, "description": f.description,
            "extra_specs": dict(f.extra_specs), "placement": placement_body(placement_request(f)),
            "created_at": timestamp(f.created_at), "updated_at": timestamp(f.updated_at)}



@router.post("/flavors", status_code=201)
def create_flavor(request: Request, response: Response, body: FlavorCreate,
                  ctx: Admin) -> dict[str, Any]:
    """Create a flavor (admin). Duplicate id or name: 409; a bad extra spec: 400."""
    created = svc.create_flavor(
        store_of(request), name=body.name, flavor_id=body.id, vcpus=body.vcpus,
        ram_mb=body.ram_mb, disk_gb=body.disk_gb, ephemeral_gb=body.ephemeral_gb,
        swap_mb=body.swap_mb, is_public=body.is_public, description=body.description,
        extra_specs=body.extra_specs, actor=acting(request, ctx))
    response.headers["location"] = location(request, "flavors", created.id)
    return flavor_body(created)


@router.get("/flavors")
def list_flavors(
    request: Request, ctx: Caller,
    is_public: Annotated[bool | None, Query(
        description="Only public (true) or only private (false) flavors.")] = None,
    min_vcpus: QueryCount = 0,
    min_ram_mb: QueryCount = 0,
    min_disk_gb: QueryCount = 0,
) -> dict[str, Any]:
    """Flavors the caller may see, by name."""
    found = svc.list_flavors(store_of(request), project_id=visible_to(request, ctx),
                             is_public=is_public, min_vcpus=min_vcpus, min_ram_mb=min_ram_mb,
                             min_disk_gb=min_disk_gb)
    return {"flavors": [flavor_body(f) for f in found]}


@router.get("/flavors/{flavor}")
def show_flavor(request: Request, flavor: str, ctx: Caller) -> dict[str, Any]:
    """One flavor, by id or else by name."""
    return flavor_body(svc.get_flavor(store_of(request), flavor,
                                      project_id=visible_to(request, ctx)))


@router.patch("/flavors/{flavor}")
def update_flavor(request: Request, flavor: str, body: FlavorUpdate, ctx: Admin) -> dict[str, Any]:
    """Change the description (the only mutable field; sizes are fixed once created)."""
    if "description" not in body.model_fields_set:
        raise ApiError(400, "nothing to change: give description (null clears it)",
                       code="invalid_input")
    return flavor_body(svc.set_description(store_of(request), flavor, body.description,
                                           actor=acting(request, ctx)))


@router.delete("/flavors/{flavor}", status_code=204)
def delete_flavor(request: Request, flavor: str, ctx: Admin) -> None:
    svc.delete_flavor(store_of(request), flavor, actor=acting(request, ctx))


# -- extra specs ---------------------------------------------------------------------------

@router.get("/flavors/{flavor}/extra-specs")
def get_extra_specs(request: Request, flavor: str, ctx: Caller) -> dict[str, Any]:
    found = svc.get_flavor(store_of(request), flavor, project_id=visible_to(request, ctx))
    return {"extra_specs": dict(found.extra_specs)}


@router.put("/flavors/{flavor}/extra-specs")
def update_extra_specs(request: Request, flavor: str, body: ExtraSpecsUpdate,
                       ctx: Admin) -> dict[str, Any]:
    """Merge keys into the extra specs (null removes one); the result is checked whole."""
    updated = svc.update_extra_specs(store_of(request), flavor, body.extra_specs,
                                     actor=acting(request, ctx))
    return {"extra_specs": dict(updated.extra_specs)}


@router.delete("/flavors/{flavor}/extra-specs/{key:path}", status_code=204)
def delete_extra_spec(request: Request, flavor: str, key: str, ctx: Admin) -> None:
    svc.delete_extra_spec(store_of(request), flavor, key, actor=acting(request, ctx))


# -- access --------------------------------------------------------------------------------

def access_body(f: Flavor, projects: list[str]) -> dict[str, Any]:
    return {"flavor_id": f.id, "projects": projects}


@router.get("/flavors/{flavor}/access")
def list_flavor_access(request: Request, flavor: str, _ctx: Admin) -> dict[str, Any]:
    """Projects a private flavor is shared with (409 for a public flavor)."""
    return access_body(*svc.list_access(store_of(request), flavor))


@router.post("/flavors/{flavor}/access")
def add_flavor_access(request: Request, flavor: str, body: AccessAdd,
                      ctx: Admin) -> dict[str, Any]:
    """Share a private flavor with a project (409 if public or already shared)."""
    return access_body(*svc.add_access(store_of(request), flavor, body.project_id,
                                       actor=acting(request, ctx)))


@router.delete("/flavors/{flavor}/access/{project_id}", status_code=204)
def remove_flavor_access(request: Request, flavor: str, project_id: str, ctx: Admin) -> None:
    svc.remove_access(store_of(request), flavor, project_id, actor=acting(request, ctx))
