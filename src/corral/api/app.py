"""The corral ASGI application: ``create_app(settings)``.

Routes: the Placement API at ``/`` and ``/placement``; corral's own API at ``/v1``; the
dashboard at ``/ui``; ``/healthz``; ``/metrics``; OpenAPI docs of corral's own API at
``/docs``. The app's lifespan owns the store. One envelope (api/envelope.py) wraps every
route: request id, access log line, HTTP metrics, and the last-resort error answer.
Placement answers every path that is not corral's own (``envelope.CORRAL_PREFIXES``), so
an unknown ``/v1`` path, or a wrong method on one, is answered by corral's app in its
own format (404, or 405 with ``Allow``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio.to_thread
import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from corral import __version__
from corral.api import capacity_metrics
from corral.api.docs import install_docs
from corral.api.envelope import Envelope, answer_unexpected, is_corral_path
from corral.api.hot import HotRoutes
from corral.api.metrics import HttpMetrics
from corral.api.placement import create_placement_app
from corral.api.ui import install_ui
from corral.api.v1 import install_v1
from corral.api.v1.common import PREFIX
from corral.api.v1.routers import routers
from corral.api.workers import WORKER_THREADS
from corral.config import Settings
from corral.services import relay, system
from corral.services.candidates import CandidateFinder
from corral.services.quota_audit import Auditor
from corral.services.scheduler import Scheduler
from corral.services.stores import Store
from corral.services.tokens import Authenticator

log = structlog.get_logger("corral.api")


class _PlacementPrefix:
    """Let ``/placement`` (no trailing slash) reach the version document too."""

    def __init__(self, app: ASGIApp, not_found: ASGIApp) -> None:
        self.app = app
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/placement":
                # In place: the envelope reads the route the routers record in this scope.
                scope["path"], scope["raw_path"] = "/placement/", b"/placement/"
            elif any(ord(ch) < 32 for ch in path) and not is_corral_path(path):
                # Control characters match no route, not even the catch-all mounts;
                # answer as Placement would rather than with the framework's own 404.
                await self.not_found(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _PlacementMount(Mount):
    """Placement's catch-all mount, which leaves corral's own paths to corral's app (so
    that they get its 404 and 405 rather than Placement's)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and is_corral_path(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


async def _audit_every(auditor: Auditor, seconds: int) -> None:
    """The background quota audit: report only (repairs are an operator's decision)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(auditor.run)
        except Exception:  # noqa: BLE001 - a failed audit must not stop the next one
            log.exception("quota_audit_failed")


def _operations(app: FastAPI, store: Store, metrics: HttpMetrics) -> None:
    """/healthz and /metrics."""

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        ok = system.healthy(store)
        return JSONResponse({"status": "ok" if ok else "unavailable", "version": __version__},
                            status_code=200 if ok else 503,
                            headers=None if ok else {"retry-after": "2"})

    @app.get("/metrics", tags=["operations"])
    def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")


def create_app(settings: Settings, store: Store | None = None) -> ASGIApp:
    """Build the app. With no ``store`` one is opened from settings at start-up."""
    owned = store is None
    store = store or system.open_store(settings)
    metrics = HttpMetrics()

    auditor = Auditor(store, metrics.registry)

    # The hot routes' worker threads (api/workers.py).
    workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="corral-worker")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        system.prepare(store, settings)
        audits = (asyncio.create_task(_audit_every(auditor, settings.audit_interval_s))
                  if settings.audit_interval_s else None)
        events = relay.start_in_server(store, settings, metrics.registry)
        yield
        events.stop()
        if audits is not None:
            audits.cancel()
        workers.shutdown(wait=False)
        if owned:
            store.dispose()

    app = FastAPI(title="corral", version=__version__, lifespan=lifespan,
                  description="Compute capacity control plane. The Placement-compatible API "
                  "is served at / and /placement.",
                  # A trailing slash is a 404 that names the path without it, not a
                  # bodiless 307 (api/v1/common.py).
                  redirect_slashes=False,
                  exception_handlers={Exception: answer_unexpected})

    _operations(app, store, metrics)

    # The Placement API and the scheduler answer from one engine (one lock, one refresh).
    finder = CandidateFinder(store)
    app.state.settings = settings
    app.state.store = store
    app.state.workers = workers
    # One token cache for both APIs, so a revoke through /v1 is seen by Placement at once.
    tokens = Authenticator(store)
    app.state.tokens = tokens
    app.state.scheduler = Scheduler(store, settings, finder, metrics.registry)
    capacity_metrics.install(metrics.registry, store, app.state.scheduler)
    app.state.auditor = auditor
    own = routers()
    install_v1(app, own)
    install_ui(app)  # /ui: the dashboard (docs/dashboard.md)
    install_docs(app)  # /docs with local assets, no CDN (api/docs.py)

    placement = create_placement_app(settings, store, finder, tokens, workers)
    mounts = [_PlacementMount("/placement", app=placement), _PlacementMount("", app=placement)]
    app.router.routes.extend(mounts)
    # The hot routes go the short way to their handlers (api/hot.py); the rest through app.
    hot = HotRoutes(app, [(PREFIX, router) for router in own], mounts)
    return Envelope(_PlacementPrefix(hot, placement), metrics, app.router.routes)
