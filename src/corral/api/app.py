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
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from corral import __version__
from corral.api import capacity_metrics
from corral.api.docs import install_docs
from corral.api.envelope import Envelope, answer_unexpected, is_corral_path
from corral.api.guard import Guard
from corral.api.hot import HotRoutes
from corral.api.identity import KeystoneAuth, keystone_auth, syncing
from corral.api.metrics import HttpMetrics
from corral.api.placement import create_placement_app
from corral.api.ui import install_ui
from corral.api.v1 import install_v1
from corral.api.v1.common import PREFIX, caller, permits, require_admin
from corral.api.v1.routers import routers
from corral.api.workers import WORKER_THREADS, every
from corral.config import Settings
from corral.config_view import embedded_origins
from corral.services import host_liveness, policy, relay, system
from corral.services.candidates import CandidateFinder
from corral.services.quota_audit import Auditor
from corral.services.scheduler import Scheduler
from corral.services.stores import Store
from corral.services.tokens import Authenticator, within_subtree

log = structlog.get_logger("corral.api")

METRICS_RULE = "corral:metrics:read"


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


def _operations(app: FastAPI, store: Store, metrics: HttpMetrics) -> None:
    """/healthz and /metrics."""

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        ok = system.healthy(store)
        return JSONResponse({"status": "ok" if ok else "unavailable", "version": __version__},
                            status_code=200 if ok else 503,
                            headers=None if ok else {"retry-after": "2"})

    @app.get("/metrics", tags=["operations"])
    def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics: the policy rule ``corral:metrics:read`` decides (by
        default a token with admin, service or metrics_reader; docs/access.md)."""
        if not permits(request, None, METRICS_RULE):  # an operator may open it: "@"
            require_admin(request, caller(request), METRICS_RULE)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")


def _lifespan(store: Store, settings: Settings, metrics: HttpMetrics, auditor: Auditor,
              keystone: KeystoneAuth | None, workers: ThreadPoolExecutor, *, owned: bool
              ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs beside the requests: the quota audits, the event relay (or the event
    log's trimming), Keystone's project sync; and what is closed at the end."""
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        system.prepare(store, settings)
        audits = (asyncio.create_task(every(settings.audit_interval_s, auditor.run,
                                                  "quota_audit_failed"))
                  if settings.audit_interval_s else None)
        events = relay.start_in_server(store, settings, metrics.registry)
        liveness = (asyncio.create_task(every(
            settings.host_liveness_check_s, lambda: host_liveness.sweep(store, settings),
            "host_liveness_sweep_failed")) if settings.host_liveness_check_s else None)
        async with syncing(keystone, settings.keystone_project_sync_interval_s):
            yield
        events.stop()
        for task in (audits, liveness):
            if task is not None:
                task.cancel()
        workers.shutdown(wait=False)
        if owned:
            store.dispose()

    return lifespan


def create_app(settings: Settings, store: Store | None = None, *,
               origins: Mapping[str, str] | None = None) -> ASGIApp:
    """Build the app. With no ``store`` one is opened from settings at start-up.
    ``origins`` says where each configured option came from (``GET /v1/config``); without
    it, a value other than the default is said to come from the embedding application."""
    owned = store is None
    store = store or system.open_store(settings)
    metrics = HttpMetrics()

    auditor = Auditor(store, metrics.registry)
    keystone = keystone_auth(settings, store)  # auth_strategy = keystone (api/identity.py)

    # The hot routes' worker threads (api/workers.py).
    workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="corral-worker")

    lifespan = _lifespan(store, settings, metrics, auditor, keystone, workers, owned=owned)
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
    app.state.origins = dict(origins) if origins is not None else embedded_origins(settings)
    app.state.store = store
    app.state.workers = workers
    # One token cache for both APIs, so a revoke through /v1 is seen by Placement at once.
    tokens = Authenticator(store)
    app.state.tokens = tokens
    app.state.scheduler = Scheduler(store, settings, finder, metrics.registry)
    capacity_metrics.install(metrics.registry, store, app.state.scheduler)
    app.state.auditor = auditor
    # The policy, read and checked once (a bad policy file stops the start here).
    app.state.policy = policy.from_settings(
        settings, lambda scope, project: within_subtree(store, scope, project))
    own = routers()
    install_v1(app, own)
    install_ui(app)  # /ui: the dashboard (docs/dashboard.md)
    install_docs(app)  # /docs with local assets, no CDN (api/docs.py)

    placement = create_placement_app(settings, store, finder, tokens, workers, app.state.policy)
    app.state.keystone = placement.keystone = keystone
    mounts = [_PlacementMount("/placement", app=placement), _PlacementMount("", app=placement)]
    app.router.routes.extend(mounts)
    # The hot routes go the short way to their handlers (api/hot.py); the rest through app.
    hot = HotRoutes(app, [(PREFIX, router) for router in own], mounts)
    # The gate (api/guard.py): rate, declared size, /v1's caller before its body.
    guarded = Guard(_PlacementPrefix(hot, placement), app.state, settings)
    return Envelope(guarded, metrics, app.router.routes)
