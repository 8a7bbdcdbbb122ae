"""/v1/aggregates: host aggregates with metadata and hosts (admin or service role).

Metadata values may be sent as strings or numbers; they are stored, and shown, as
strings (as Nova's). ``PATCH`` sets keys, and a null value unsets one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import StrictStr

from corral.api.v1.common import (
    Admin,
    Body,
    acting,
    exact_timestamp,
    location,
    settings_of,
    store_of,
)
from corral.domain import errors
from corral.domain.hosts import Aggregate
from corral.services import aggregates as svc

router = APIRouter(tags=["aggregates"])

#: A metadata value as sent: a string or a number (checked in :func:`_metadata`, so that a
#: bad one is named ``metadata.<key>``).
MetadataValue = Any


def aggregate_body(agg: Aggregate) -> dict[str, Any]:
    return {"name": agg.name, "uuid": agg.uuid, "availability_zone": agg.availability_zone,
            "metadata": agg.metadata, "hosts": agg.hosts,
            "created_at": exact_timestamp(agg.created_at), "updated_at": exact_timestamp(agg.updated_at)}


def _metadata(given: dict[str, Any]) -> dict[str, str | None]:
    """Metadata values as the service takes them: strings (numbers written out), or None."""
    out: dict[str, str | None] = {}
    for key, value in given.items():
        if value is None or isinstance(value, str):
            out[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = repr(value)
        else:
            raise errors.InvalidInput(f"the value of {key} must be a string or a number",
                                      field=f"metadata.{key}")
    return out


class AggregateCreateBody(Body):
    name: StrictStr
    metadata: dict[str, MetadataValue] | None = None


class AggregatePatchBody(Body):
    metadata: dict[str, MetadataValue | None]


class AggregateHostBody(Body):
    host: StrictStr


@router.post("/aggregates", status_code=201)
def create_aggregate(body: AggregateCreateBody, request: Request, response: Response,
                     ctx: Admin) -> dict[str, Any]:
    metadata = _metadata(body.metadata or {})
    if any(v is None for v in metadata.values()):
        key = next(k for k, v in metadata.items() if v is None)
        raise errors.InvalidInput(f"the value of {key} must be a string or a number",
                                  field=f"metadata.{key}")
    agg = svc.create_aggregate(store_of(request), body.name,
                               {k: v for k, v in metadata.items() if v is not None},
                               actor=acting(request, ctx))
    response.headers["location"] = location(request, "aggregates", agg.name)
    return aggregate_body(agg)


@router.get("/aggregates")
def list_aggregates(request: Request, _ctx: Admin) -> dict[str, Any]:
    return {"aggregates": [aggregate_body(a) for a in svc.list_aggregates(store_of(request))]}


@router.get("/aggregates/{name}")
def show_aggregate(name: str, request: Request, _ctx: Admin) -> dict[str, Any]:
    return aggregate_body(svc.get_aggregate(store_of(request), name))


@router.patch("/aggregates/{name}")
def update_aggregate_metadata(name: str, body: AggregatePatchBody, request: Request,
                              ctx: Admin) -> dict[str, Any]:
    changes = _metadata(body.metadata)
    return aggregate_body(svc.update_metadata(store_of(request), settings_of(request), name,
                                              changes, actor=acting(request, ctx)))


@router.delete("/aggregates/{name}", status_code=204)
def delete_aggregate(name: str, request: Request, ctx: Admin) -> Response:
    svc.delete_aggregate(store_of(request), name, actor=acting(request, ctx))
    return Response(status_code=204)


@router.post("/aggregates/{name}/hosts")
def add_aggregate_host(name: str, body: AggregateHostBody, request: Request,
                       ctx: Admin) -> dict[str, Any]:
    return aggregate_body(svc.add_host(store_of(request), settings_of(request), name, body.host,
                                       actor=acting(request, ctx)))


@router.delete("/aggregates/{name}/hosts/{host}")
def remove_aggregate_host(name: str, host: str, request: Request,
                          ctx: Admin) -> dict[str, Any]:
    return aggregate_body(svc.remove_host(store_of(request), settings_of(request), name, host,
                                          actor=acting(request, ctx)))
