"""The API documentation page (``/docs``), served without the internet.

FastAPI's own pages load Swagger UI, ReDoc and a favicon from public CDNs, so on an
air-gapped control plane ``/docs`` is a blank page. ``install_docs(app)`` replaces the
Swagger UI page with the same page pointed at the copies the ``fastapi-offline`` package
ships (Swagger UI 5 and a favicon), served by corral itself under ``/docs/static``.
Nothing is copied into this repository: upgrading that package upgrades the assets.

``/redoc`` is dropped rather than served locally: ReDoc's sidebar always loads its logo
from its vendor's CDN, whatever the page says. The schema stays at ``/openapi.json``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

DOCS = "/docs"
STATIC = "/docs/static"
# FastAPI's pages that load their assets from a CDN.
REPLACED = ("/docs", "/redoc")
# fastapi-offline keeps its assets next to its code; only the files are used, not its
# FastAPI factory (create_app builds the app).
ASSETS = Path(str(files("fastapi_offline") / "static"))
# Swagger UI's validator badge would send the schema to a public validator: off.
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` from local assets; call it before any catch-all mount.

    The pages FastAPI registered at ``/docs`` and ``/redoc`` are removed first, so no
    route left points a browser at a CDN.
    """
    app.router.routes[:] = [route for route in app.router.routes
                            if not (isinstance(route, Route) and route.path in REPLACED)]
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} API documentation",
            swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC}/favicon.png",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})})

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
    app.router.routes.append(Mount(STATIC, app=StaticFiles(directory=ASSETS), name="docs-static"))
