"""An OpenAPI 3.1 document of the Placement API, generated from corral's own route table
and request models (never written by hand), served at ``/placement/openapi.json``.

It describes the latest microversion: every path and method of the route table the app
passes in (``corral.api.placement.ROUTES``), the JSON schema of each body from the
pydantic models that validate it (so every bound of domain/bounds.py is in it), and the
query parameters each listing reads. Clients and schema-driven fuzzers
(tests/api/test_schemathesis.py) use it; Placement's api-ref stays the reference for
behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from corral import __version__
from corral.api import microversion
from corral.api.placement import allocation_schemas as alloc
from corral.api.placement import schemas
from corral.domain import bounds

#: The body model of each write, at the latest microversion.
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/resource_providers", "POST"): schemas.ProviderPost114,
    ("/resource_providers/{uuid}", "PUT"): schemas.ProviderPut114,
    ("/resource_providers/{uuid}/inventories", "PUT"): schemas.InventoriesPut,
    ("/resource_providers/{uuid}/inventories", "POST"): schemas.InventoryPost,
    ("/resource_providers/{uuid}/inventories/{resource_class}", "PUT"): schemas.InventoryPut,
    ("/resource_providers/{uuid}/aggregates", "PUT"): schemas.AggregatesPut119,
    ("/resource_providers/{uuid}/traits", "PUT"): schemas.TraitsPut,
    ("/resource_classes", "POST"): schemas.ResourceClassBody,
    ("/allocations", "POST"): alloc.POST_MODELS[0][1],
    ("/allocations/{consumer_uuid}", "PUT"): alloc.PUT_MODELS[0][1],
    ("/reshaper", "POST"): alloc.RESHAPE_MODELS[0][1],
}

_TEXT: dict[str, Any] = {"type": "string"}
_LIMIT: dict[str, Any] = {"type": "integer", "minimum": bounds.LIST_LIMIT.low,
                          "maximum": bounds.LIST_LIMIT.high}
#: The query parameters each listing reads (request groups: the unsuffixed ones).
QUERIES: dict[str, dict[str, dict[str, Any]]] = {
    "/resource_providers": {name: _TEXT for name in (
        "name", "uuid", "member_of", "in_tree", "resources", "required")},
    "/allocation_candidates": {
        **{name: _TEXT for name in ("resources", "required", "member_of", "in_tree",
                                    "root_required", "same_subtree")},
        "group_policy": {"type": "string", "enum": ["none", "isolate"]},
        "limit": _LIMIT},
    "/usages": {name: _TEXT for name in ("project_id", "user_id", "consumer_type")},
    "/traits": {"name": _TEXT, "associated": {"type": "string", "enum": ["true", "false"]}},
}

_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "consumer_uuid": {"type": "string", "format": "uuid"},
    "resource_class": {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255},
    "name": {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255},
}

_ERROR = {"description": "An error: ``{\"errors\": [{status, title, detail, code, "
                         "request_id}]}``."}


def _operation(path: str, method: str, refs: dict[str, str]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"{method.lower()}{re.sub(r'[^a-z]+', '_', path)}",
                          "responses": {"default": _ERROR}}
    params = [{"name": name, "in": "path", "required": True, "schema": _PATH_PARAMS[name]}
              for name in re.findall(r"{(\w+)}", path)]
    if method == "GET":
        params += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in QUERIES.get(path, {}).items()]
    if params:
        op["parameters"] = params
    model = BODIES.get((path, method))
    if model is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": refs[model.__name__]}}}}
    ok = {"DELETE": "204", "POST": "200"}.get(method, "200")
    op["responses"][ok] = {"description": "Done."}
    return op


def document(routes: Iterable[tuple[str, Mapping[str, object]]]) -> dict[str, Any]:
    """The OpenAPI document of the Placement API, at the latest microversion, for the
    route table ``routes`` (path, {method: handler}) that the app passes in."""
    models = sorted(set(BODIES.values()), key=lambda m: m.__name__)
    keyed, top = models_json_schema([(m, "validation") for m in models],
                                    ref_template="#/components/schemas/{model}")
    refs = {m.__name__: keyed[(m, "validation")]["$ref"] for m in models}
    paths: dict[str, Any] = {}
    for path, handlers in routes:
        paths[path] = {method.lower(): _operation(path, method, refs) for method in handlers}
    return {
        "openapi": "3.1.0",
        "info": {"title": "corral: Placement API", "version": __version__,
                 "description": f"Placement microversions {microversion.MIN_VERSION} to "
                                f"{microversion.MAX_VERSION}; this document describes "
                                f"{microversion.MAX_VERSION}. Send "
                                "'OpenStack-API-Version: placement latest' and x-auth-token."},
        "paths": paths,
        "components": {"schemas": top.get("$defs", {})},
    }
