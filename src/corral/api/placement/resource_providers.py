"""/resource_providers and /resource_providers/{uuid}."""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from corral.api.errors import ApiError
from corral.api.microversion import Version
from corral.api.placement import query, schemas
from corral.api.placement.util import (
    authorize,
    check_accept,
    check_query,
    http_date,
    json_body,
    latest,
    no_content,
    provider_body,
    respond,
    store,
    url,
    version,
)
from corral.domain.model import Provider, ProviderFilter
from corral.domain.names import normalize_uuid
from corral.services import providers as svc


def serialize_provider(request: Request, p: Provider, v: Version) -> dict[str, Any]:
    base = url(request, "resource_providers", p.uuid)
    links = [{"rel": "self", "href": base},
             {"rel": "inventories", "href": base + "/inventories"},
             {"rel": "usages", "href": base + "/usages"}]
    if v.matches((1, 1)):
        links.append({"rel": "aggregates", "href": base + "/aggregates"})
    if v.matches((1, 6)):
        links.append({"rel": "traits", "href": base + "/traits"})
    if v.matches((1, 11)):
        links.append({"rel": "allocations", "href": base + "/allocations"})
    body: dict[str, Any] = {"uuid": p.uuid, "name": p.name, "generation": p.generation, "links": links}
    if v.matches((1, 14)):
        body["parent_provider_uuid"] = p.parent_uuid
        body["root_provider_uuid"] = p.root_uuid
    return body


def _allowed_params(v: Version) -> set[str]:
    names = {"name", "uuid"}
    for minimum, extra in (((1, 3), "member_of"), ((1, 4), "resources"),
                           ((1, 14), "in_tree"), ((1, 18), "required")):
        if v.matches(minimum):
            names.add(extra)
    return names


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[-1] if values else None


def list_resource_providers(request: Request) -> Response:
    authorize(request, "placement:resource_providers:list")
    check_accept(request)
    v = version(request)
    check_query(request, _allowed_params(v))
    uuid = _single(request, "uuid")
    in_tree = _single(request, "in_tree")
    for param, value in (("uuid", uuid), ("in_tree", in_tree)):
        if value is not None and normalize_uuid(value) is None:
            raise ApiError(400, f"Invalid query string parameters: '{value}' is not a 'uuid' "
                           f"(parameter {param})", code="placement.query.bad_value")
    member_of, forbidden_aggs = query.member_of(request, v)
    required, forbidden = query.required_traits(request, v)
    resources = _single(request, "resources")
    flt = ProviderFilter(
        name=_single(request, "name"),
        uuid=normalize_uuid(uuid) if uuid else None,
        in_tree=normalize_uuid(in_tree) if in_tree else None,
        member_of=member_of, forbidden_aggregates=forbidden_aggs,
        required=required, forbidden_traits=forbidden,
        resources=query.resources(resources) if resources is not None else (),
    )
    found = svc.list_providers(store(request), flt)
    headers = {}
    if v.matches((1, 15)):
        headers["last-modified"] = http_date(latest(p.updated_at for p in found))
        headers["cache-control"] = "no-cache"
    return Response(render_providers(request, found, v), headers=headers,
                    media_type="application/json")


def _plain(uuid: str) -> bool:
    """True when quoting ``uuid`` in a URL leaves it as it is (a canonical uuid does)."""
    return uuid.isascii() and uuid.replace("-", "").isalnum()


def render_providers(request: Request, found: Sequence[Provider], v: Version) -> bytes:
    """``{"resource_providers": [...]}`` as JSON: the same bytes as ``json.dumps`` of
    :func:`serialize_provider`'s bodies, written row by row from one template instead
    of a dict, a list of links and a URL quoting per provider (a listing of 10,000
    providers spent most of its time there)."""
    prefix = json.dumps(url(request, "resource_providers") + "/")[:-1]  # open quote kept
    rels = ["inventories", "usages"]
    if v.matches((1, 1)):
        rels.append("aggregates")
    if v.matches((1, 6)):
        rels.append("traits")
    if v.matches((1, 11)):
        rels.append("allocations")
    # %(h)s: the JSON-escaped opening of the provider's link, up to its quoted uuid.
    links = '[{"rel": "self", "href": %(h)s"}' + "".join(
        f', {{"rel": "{rel}", "href": %(h)s/{rel}"}}' for rel in rels) + "]"
    row = ('{"uuid": %(u)s, "name": %(n)s, "generation": %(g)d, "links": ' + links
           + (', "parent_provider_uuid": %(p)s, "root_provider_uuid": %(r)s}'
              if v.matches((1, 14)) else "}"))
    text = encode_basestring_ascii  # json.dumps of one str, without its dispatch
    parts = []
    for p in found:
        uuid = p.uuid
        parent = p.parent_uuid
        parts.append(row % {
            "u": text(uuid), "n": text(p.name), "g": p.generation,
            "h": prefix + (uuid if _plain(uuid) else quote(uuid, safe="")),
            "p": "null" if parent is None else text(parent), "r": text(p.root_uuid)})
    return ('{"resource_providers": [' + ", ".join(parts) + "]}").encode()


def create_resource_provider(request: Request) -> Response:
    authorize(request, "placement:resource_providers:create")
    v = version(request)
    data = json_body(request, schemas.ProviderPost114 if v.matches((1, 14)) else schemas.ProviderPost)
    parent = getattr(data, "parent_provider_uuid", None)
    p = svc.create_provider(store(request), data.name, data.uuid, parent)
    location = url(request, "resource_providers", p.uuid)
    if v.matches((1, 20)):
        return respond(request, serialize_provider(request, p, v), last_modified=p.updated_at,
                       location=location)
    return no_content(201, location)


def get_resource_provider(request: Request) -> Response:
    authorize(request, "placement:resource_providers:show")
    check_accept(request)
    p = svc.get_provider(store(request), request.path_params["uuid"])
    return respond(request, serialize_provider(request, p, version(request)),
                   last_modified=p.updated_at)


def update_resource_provider(request: Request) -> Response:
    authorize(request, "placement:resource_providers:update")
    v = version(request)
    uuid = request.path_params["uuid"]
    data = provider_body(request, uuid,
                         schemas.ProviderPut114 if v.matches((1, 14)) else schemas.ProviderPut)
    parent: object = svc.UNSET
    if "parent_provider_uuid" in data.model_fields_set:
        parent = getattr(data, "parent_provider_uuid", None)
    p = svc.update_provider(store(request), uuid, name=data.name, parent_uuid=parent,
                            allow_reparent=v.matches((1, 37)))
    return respond(request, serialize_provider(request, p, v), last_modified=p.updated_at)


def delete_resource_provider(request: Request) -> Response:
    authorize(request, "placement:resource_providers:delete")
    svc.delete_provider(store(request), request.path_params["uuid"])
    return no_content()
