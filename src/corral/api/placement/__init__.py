"""The OpenStack Placement-compatible API, microversions 1.0-1.39.

``create_placement_app`` builds one ASGI app; corral mounts it both at the root and
under ``/placement``. Links in responses are relative to where it was reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from corral.api import microversion
from corral.api.envelope import answer_unexpected
from corral.api.errors import ApiError, error_response, headers_for, note_error, status_for
from corral.api.placement import (
    aggregates,
    allocation_candidates,
    allocations,
    inventories,
    resource_classes,
    resource_providers,
    traits,
    usages,
)
from corral.api.placement.middleware import PlacementMiddleware, wants_html
from corral.api.placement.openapi import document
from corral.api.placement.util import respond
from corral.api.workers import hand_off
from corral.config import Settings
from corral.domain import codes, errors
from corral.services import policy as policy_svc
from corral.services.candidates import CandidateFinder
from corral.services.policy import Policy
from corral.services.stores import Store
from corral.services.tokens import Authenticator

log = structlog.get_logger("corral.api")

Handler = Callable[[Request], Response]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def get_root(request: Request) -> Response:
    """The version document; answered without authentication (load balancers use it)."""
    body = {"versions": [{
        "id": "v1.0",
        "min_version": str(microversion.MIN_VERSION),
        "max_version": str(microversion.MAX_VERSION),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]}
    return respond(request, body)


def get_openapi(request: Request) -> Response:
    """This API as an OpenAPI document, generated from the routes and models below."""
    return respond(request, document(ROUTES), cache=False)


ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/", {"GET": get_root}),
    ("/resource_providers", {
        "GET": resource_providers.list_resource_providers,
        "POST": resource_providers.create_resource_provider}),
    ("/resource_providers/{uuid}", {
        "GET": resource_providers.get_resource_provider,
        "PUT": resource_providers.update_resource_provider,
        "DELETE": resource_providers.delete_resource_provider}),
    ("/resource_providers/{uuid}/inventories", {
        "GET": inventories.get_inventories, "PUT": inventories.set_inventories,
        "POST": inventories.create_inventory, "DELETE": inventories.delete_inventories}),
    ("/resource_providers/{uuid}/inventories/{resource_class}", {
        "GET": inventories.get_inventory, "PUT": inventories.update_inventory,
        "DELETE": inventories.delete_inventory}),
    ("/resource_providers/{uuid}/usages", {"GET": usages.get_provider_usages}),
    ("/resource_providers/{uuid}/allocations", {"GET": usages.get_provider_allocations}),
    ("/resource_providers/{uuid}/aggregates", {
        "GET": aggregates.get_provider_aggregates, "PUT": aggregates.set_provider_aggregates}),
    ("/resource_providers/{uuid}/traits", {
        "GET": traits.get_provider_traits, "PUT": traits.set_provider_traits,
        "DELETE": traits.delete_provider_traits}),
    ("/resource_classes", {
        "GET": resource_classes.list_resource_classes,
        "POST": resource_classes.create_resource_class}),
    ("/resource_classes/{name}", {
        "GET": resource_classes.get_resource_class,
        "PUT": resource_classes.update_resource_class,
        "DELETE": resource_classes.delete_resource_class}),
    ("/traits", {"GET": traits.list_traits}),
    ("/allocations", {"POST": allocations.set_allocations}),
    ("/allocations/{consumer_uuid}", {
        "GET": allocations.list_for_consumer,
        "PUT": allocations.set_allocations_for_consumer,
        "DELETE": allocations.delete_allocations}),
    ("/usages", {"GET": allocations.get_total_usages}),
    ("/allocation_candidates", {"GET": allocation_candidates.list_allocation_candidates}),
    ("/reshaper", {"POST": allocations.reshape}),
    ("/traits/{name}", {
        "GET": traits.get_trait, "PUT": traits.put_trait, "DELETE": traits.delete_trait}),
    ("/openapi.json", {"GET": get_openapi}),
]


def _dispatcher(methods: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    """One endpoint per path, so a wrong method is a 405 listing the right ones. The
    handler runs in a worker thread: the request's one hand-off (api/workers.py)."""
    allow = ", ".join(sorted(methods))

    async def endpoint(request: Request) -> Response:
        handler = methods.get(request.method)
        if handler is None:
            raise ApiError(405, f"The method {request.method} is not allowed for this "
                           f"resource. Allowed: {allow}", headers={"allow": allow})
        return await hand_off(request, handler, request)

    endpoint.__name__ = "_".join(h.__name__ for h in methods.values())
    return endpoint


def _code(request: Request, code: str) -> str | None:
    version = getattr(request.state, "version", microversion.MIN_VERSION)
    return code if version.matches((1, 23)) else None


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.CorralError)
    status = status_for(exc)
    note_error(request.scope, exc.code)
    log.debug("request_refused", error=type(exc).__name__, status=status, detail=exc.detail)
    return error_response(status, exc.detail, request_id=_request_id(request),
                          code=_code(request, exc.code), headers=headers_for(exc) or None,
                          want_html=wants_html(request.headers))


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    note_error(request.scope, exc.code)
    return error_response(exc.status, exc.detail, request_id=_request_id(request),
                          code=_code(request, exc.code), headers=exc.headers,
                          want_html=wants_html(request.headers))


def _slash_hint(request: Request) -> str:
    """What to send instead of a path with a trailing slash, when the path without it
    is a route (Placement's routes never end with a slash; it answers 404 too)."""
    path = request.scope["path"]
    if not path.endswith("/") or path == request.scope.get("root_path", "") + "/":
        return ""
    root = request.scope.get("root_path", "")
    stripped = {**request.scope, "path": path.rstrip("/"), "root_path": root}
    if any(route.matches(stripped)[0] is not Match.NONE for route in request.app.routes):
        return f" Drop the trailing slash: {path.rstrip('/')}"
    return ""


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = ("The resource could not be found." + _slash_hint(request)
              if exc.status_code == 404 else str(exc.detail))
    note_error(request.scope, codes.UNDEFINED)
    return error_response(exc.status_code, detail, request_id=_request_id(request),
                          code=_code(request, codes.UNDEFINED), headers=dict(exc.headers or {}),
                          want_html=wants_html(request.headers))


def create_placement_app(settings: Settings, store: Store,
                         finder: CandidateFinder | None = None,
                         tokens: Authenticator | None = None,
                         workers: Executor | None = None,
                         policy: Policy | None = None) -> PlacementMiddleware:
    """The Placement app; ``workers`` run its handlers (None: anyio's thread pool);
    ``policy`` decides (None: the one ``settings`` name)."""
    app = Starlette(
        routes=[Route(path, _dispatcher(methods), methods=ALL_METHODS) for path, methods in ROUTES],
        exception_handlers={
            errors.CorralError: _on_domain_error,
            ApiError: _on_api_error,
            HTTPException: _on_http_error,
            # The body only: api/envelope.py logs the traceback and keeps the connection.
            Exception: answer_unexpected,
        },
    )
    # Placement's routes never end with a slash, and a redirect would lose the body and
    # the headers of a write: /resource_providers/ is a 404 saying what to send, as
    # Placement's own router answers (no match).
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.store = store
    app.state.finder = finder or CandidateFinder(store)
    app.state.workers = workers
    app.state.policy = policy or policy_svc.from_settings(settings)
    return PlacementMiddleware(app, settings, tokens or Authenticator(store))
