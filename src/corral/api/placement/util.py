"""Helpers every Placement handler uses: version, policy, JSON in and out, headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from corral.api.context import RequestContext, allowed
from corral.api.errors import ApiError, header_value
from corral.api.microversion import Version
from corral.api.placement.middleware import json_loads
from corral.config import Settings
from corral.services import providers
from corral.services.stores import Store

M = TypeVar("M", bound=BaseModel)


def version(request: Request) -> Version:
    v: Version = request.state.version
    return v


def store(request: Request) -> Store:
    s: Store = request.app.state.store
    return s


def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def authorize(request: Request, rule: str,
              target_project: str | None = None) -> RequestContext:
    """Apply the policy's ``rule`` (a ``placement:*`` name); 403 when it refuses."""
    ctx: RequestContext = request.state.context
    if not allowed(request.app.state.policy, ctx, rule, target_project):
        raise ApiError(403, "Policy does not allow this action to be performed.")
    return ctx


def require_version(request: Request, minimum: tuple[int, int], status: int = 404) -> None:
    """Routes added in a later microversion do not exist below it."""
    if not version(request).matches(minimum):
        if status == 405:
            raise ApiError(405, "The method specified is not allowed for this resource.")
        raise ApiError(404, "The resource could not be found.")


def check_accept(request: Request) -> None:
    accept = request.headers.get("accept")
    if not accept:
        return
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if not any(k in ("application/json", "application/*", "*/*") for k in kinds):
        raise ApiError(406, "Only application/json is provided")


def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def require_json(request: Request) -> None:
    """A body that is not declared JSON is a 415, before anything else is looked at."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, f"The media type {ctype or None} is not supported, use application/json")


def json_body(request: Request, model: type[M]) -> M:
    """Parse and validate the JSON body; every refusal is a 400/415 naming the field."""
    require_json(request)
    try:
        data = json_loads(request.state.body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, f"Malformed JSON: {exc}") from exc
    return validate(data, model)


def provider_body(request: Request, uuid: str, model: type[M]) -> M:
    """The body of a write to provider ``uuid``: as Placement, a body that is not JSON is
    a 415 whatever the provider, and an unknown provider is a 404 even when the body is
    bad too. The provider is looked up only when the body fails, so a good request costs
    no extra transaction.
    """
    require_json(request)
    try:
        return json_body(request, model)
    except ApiError:
        providers.get_provider(store(request), uuid)  # raises ProviderNotFound
        raise


def validate(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        problems = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ApiError(400, f"JSON does not validate: {problems}",
                       headers={"x-corral-invalid-field": header_value(_field(first["loc"]))}) from exc


def http_date(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, usegmt=True)


def respond(request: Request, body: Any, *, status: int = 200,
            last_modified: datetime | None = None, cache: bool = True,
            location: str | None = None) -> Response:
    """A JSON response; from 1.15 with last-modified and cache-control."""
    headers: dict[str, str] = {}
    if cache and version(request).matches((1, 15)):
        headers["last-modified"] = http_date(last_modified)
        headers["cache-control"] = "no-cache"
    if location:
        headers["location"] = location
    content = json.dumps(body).encode() if body is not None else b""
    return Response(content, status_code=status, headers=headers,
                    media_type="application/json" if body is not None else None)


def no_content(status: int = 204, location: str | None = None) -> Response:
    headers = {"location": location} if location else None
    return Response(status_code=status, headers=headers)


def url(request: Request, *parts: str) -> str:
    """A link relative to where the API was reached (root or /placement)."""
    root: str = request.scope.get("root_path", "")
    return root + "/" + "/".join(quote(p, safe="") for p in parts)


def check_query(request: Request, allowed_names: Iterable[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - set(allowed_names))
    if unknown:
        raise ApiError(400, "Invalid query string parameters: "
                       f"Additional properties are not allowed ({', '.join(unknown)} unexpected)",
                       code="placement.query.bad_value")


def latest(moments: Iterable[datetime | None]) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None
