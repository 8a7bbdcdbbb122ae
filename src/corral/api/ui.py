"""The operator dashboard at ``/ui``: server-rendered HTML over the same services as /v1.

Two pages, each a full document around a fragment that a small script of ours re-fetches
every few seconds (``/ui/fragments/...``); without JavaScript a ``<noscript>`` meta
refresh reloads the page instead. Everything a page loads is served from ``/ui/static``;
a Content-Security-Policy of ``'self'`` keeps it that way.

* ``/ui``: fleet overview. Hosts down or disabled (``services.hosts``), utilization per
  class fleet-wide, per zone and per aggregate, headroom of every flavor per zone, and
  the hosts with the most stranded capacity (``services.capacity``).
* ``/ui/quotas``: every project tree with subtree usage against effective limits and
  the room left along the chain (``services.projects.quota_tree``).

Authentication: the cloud admin's token, sent as ``x-auth-token`` or given once to the
sign-in form (``POST /ui/login``), which answers a signed session cookie that never
holds the token's secret (api/ui_session.py): HttpOnly, SameSite=Strict, scoped to
``/ui``, Secure over HTTPS, with an expiry. Every request checks it again (a revoked
token ends its sessions); anonymous callers get the sign-in form (401), other roles a
403. Docs: docs/dashboard.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from corral import __version__
from corral.api.context import RequestContext, allowed
from corral.api.identity import KeystoneAuth
from corral.api.ui_session import Sessions
from corral.api.v1.common import context_of
from corral.config import Settings
from corral.domain.projects import ResourceQuota
from corral.services import capacity
from corral.services import hosts as host_svc
from corral.services import limits as limits_svc
from corral.services.scheduler import Scheduler
from corral.services.stores import Store

log = structlog.get_logger("corral.ui")

PREFIX = "/ui"
COOKIE = "corral_ui_session"
#: Seconds between live refreshes (the page's ``?refresh=`` may ask for 2 to 300).
REFRESH_S = {"overview": 10, "quotas": 30}
NOSCRIPT_REFRESH_S = 30
STRANDED_TOP = 10
#: Rows of the down-or-disabled table at most (the counts above it are always whole).
TROUBLED_SHOWN = 50
#: Quota columns shown first, in this order; any other resource follows by name.
QUOTA_ORDER = ("instances", "cores", "ram", "disk")
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATIC_DIR = Path(__file__).parent / "static"


# -- view models ----------------------------------------------------------------------------

@dataclass(frozen=True)
class QuotaRow:
    project_id: str
    name: str | None
    depth: int
    resources: dict[str, ResourceQuota]


def _quota_columns(rows: list[QuotaRow]) -> list[str]:
    seen = {res for row in rows for res in row.resources}
    first = [r for r in QUOTA_ORDER if r in seen]
    return first + sorted(seen - set(first))


def overview_model(store: Store, settings: Settings, scheduler: Scheduler) -> dict[str, Any]:
    """What the overview shows: hosts, utilization, headroom per zone, stranded hosts."""
    hosts = host_svc.list_hosts(store, settings)
    troubled = [h for h in hosts if h.state != "up" or not h.enabled]
    usage = capacity.utilization(store, scheduler)
    headroom = capacity.headroom(store, scheduler, group_by="az")
    zones = sorted({z for h in headroom for z in h.groups} | set(usage.zones))
    return {
        "hosts_total": len(hosts),
        "hosts_up": sum(h.state == "up" for h in hosts),
        "hosts_down": sum(h.state != "up" for h in hosts),
        "hosts_disabled": sum(not h.enabled for h in hosts),
        "troubled": troubled[:TROUBLED_SHOWN],
        "troubled_more": max(len(troubled) - TROUBLED_SHOWN, 0),
        "utilization": usage,
        "classes": sorted(usage.fleet),
        "headroom": headroom,
        "zones": zones,
        "stranded": capacity.stranded(store, scheduler, top=STRANDED_TOP),
    }


def quotas_model(store: Store) -> dict[str, Any]:
    """Every tree, roots by id, each depth first: usage against limits per resource."""
    rows = [QuotaRow(node.project.id, node.project.name, node.project.depth,
                     {q.resource: q for q in node.resources})
            for node in limits_svc.quota_forest(store)]
    return {"rows": rows, "columns": _quota_columns(rows)}


# -- rendering ------------------------------------------------------------------------------

def _num(value: int | float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _pct(used: int, total: int) -> str:
    return f"{100 * used / total:.0f}%" if total else "-"


def make_environment() -> Environment:
    env = Environment(loader=PackageLoader("corral.api", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = _num
    env.globals.update(pct=_pct, version=__version__, prefix=PREFIX)
    return env


# -- authentication -------------------------------------------------------------------------

def _context(request: Request, token: str | None, roles: str | None) -> RequestContext | None:
    """The caller ``token`` names, as the API would see it (Keystone included; raises
    IdentityUnavailable when Keystone cannot say)."""
    headers = {k: v for k, v in (("x-auth-token", token), ("x-roles", roles)) if v}
    return context_of(request.app.state, headers)


def _sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.ui_sessions
    return found


def _is_admin(request: Request, ctx: RequestContext) -> bool:
    """The policy's ``corral:dashboard:view`` (by default the cloud admin)."""
    return allowed(request.app.state.policy, ctx, "corral:dashboard:view")


def _viewer(request: Request) -> tuple[RequestContext | None, str | None]:
    """(caller, None) for an admin; (None, why) otherwise. The header wins over the cookie."""
    header = request.headers.get("x-auth-token")
    if header:
        ctx = _context(request, header, request.headers.get("x-roles"))
    else:
        cookie = request.cookies.get(COOKIE)
        state = request.app.state
        ks: KeystoneAuth | None = getattr(state, "keystone", None)
        ctx = (_sessions(request).caller(cookie, getattr(state, "tokens", None),
                                         ks.context if ks is not None else None)
               if cookie else None)
    if ctx is None:
        return None, "unauthenticated"
    if not _is_admin(request, ctx):
        return None, "forbidden"
    return ctx, None


class Ui:
    """The dashboard's routes over one app's store, scheduler and templates."""

    def __init__(self) -> None:
        self.env = make_environment()

    def html(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(**values)
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def sign_in(self, request: Request, why: str, *, fragment: bool = False) -> HTMLResponse:
        status = 401 if why == "unauthenticated" else 403
        if fragment:
            return HTMLResponse("", status_code=status, headers=HEADERS)
        message = (None if why == "unauthenticated" and COOKIE not in request.cookies
                   else "That token is not accepted here." if why == "unauthenticated"
                   else "The dashboard needs the admin role.")
        return self.html("login.html", status, message=message, next=request.url.path)

    def page(self, request: Request, name: str, model: Callable[[], Mapping[str, Any]],
             *, fragment: bool) -> HTMLResponse:
        ctx, why = _viewer(request)
        if ctx is None:
            assert why is not None
            return self.sign_in(request, why, fragment=fragment)
        started = time.perf_counter()
        values = {**model(), "generated_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "page": name, "user": ctx.user_id}
        refresh = REFRESH_S[name]
        asked = request.query_params.get("refresh", "")
        if asked.isdigit():
            refresh = min(max(int(asked), 2), 300)
        template = f"_{name}.html" if fragment else f"{name}.html"
        response = self.html(template, refresh_s=refresh, noscript_refresh_s=NOSCRIPT_REFRESH_S,
                             fragment_url=f"{PREFIX}/fragments/{name}", **values)
        log.debug("ui_rendered", page=name, fragment=fragment, user=ctx.user_id,
                  ms=round(1000 * (time.perf_counter() - started), 1))
        return response


def _state(request: Request) -> tuple[Store, Settings, Scheduler]:
    st = request.app.state
    return st.store, st.settings, st.scheduler


def _safe_next(value: str | None) -> str:
    """Only a dashboard path: the form cannot send a signed-in browser elsewhere."""
    if value and value.startswith(PREFIX) and "//" not in value and "\\" not in value:
        return value if not value.startswith(f"{PREFIX}/log") else PREFIX
    return PREFIX


def router(ui: Ui) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def overview(request: Request) -> Mapping[str, Any]:
        return overview_model(*_state(request))

    def quotas(request: Request) -> Mapping[str, Any]:
        return quotas_model(_state(request)[0])

    @r.get(PREFIX)
    def show_overview(request: Request) -> HTMLResponse:
        return ui.page(request, "overview", lambda: overview(request), fragment=False)

    @r.get(f"{PREFIX}/")
    def redirect_overview() -> RedirectResponse:
        return RedirectResponse(PREFIX, status_code=308)

    @r.get(f"{PREFIX}/quotas")
    def show_quotas(request: Request) -> HTMLResponse:
        return ui.page(request, "quotas", lambda: quotas(request), fragment=False)

    @r.get(f"{PREFIX}/fragments/overview")
    def show_overview_fragment(request: Request) -> HTMLResponse:
        return ui.page(request, "overview", lambda: overview(request), fragment=True)

    @r.get(f"{PREFIX}/fragments/quotas")
    def show_quotas_fragment(request: Request) -> HTMLResponse:
        return ui.page(request, "quotas", lambda: quotas(request), fragment=True)

    _add_sign_in(r, ui)
    return r


def _add_sign_in(r: APIRouter, ui: Ui) -> None:
    """The login form, its post (a token, kept in a cookie) and logout."""
    @r.get(f"{PREFIX}/login")
    def show_login(request: Request) -> HTMLResponse:
        return ui.html("login.html", message=None,
                       next=_safe_next(request.query_params.get("next")))

    @r.post(f"{PREFIX}/login")
    async def login(request: Request) -> Response:
        # A urlencoded form, parsed here: no multipart dependency for one field.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = _safe_next((form.get("next") or [""])[0])
        # The token goes back in a cookie header: only printable ASCII can (tokens are).
        usable = token.isascii() and token.isprintable()
        # Checking a token may ask the database or Keystone: off the event loop.
        ctx = (await run_in_threadpool(_context, request, token, None) if token and usable
               else None)
        if ctx is None or not _is_admin(request, ctx):
            log.info("ui_login_refused", known=ctx is not None)
            message = ("That token is not accepted here." if ctx is None
                       else "The dashboard needs the admin role.")
            return ui.html("login.html", 401 if ctx is None else 403, message=message,
                           next=target)
        log.info("ui_login", user=ctx.user_id)
        response = RedirectResponse(target, status_code=303, headers=HEADERS)
        sessions = _sessions(request)
        response.set_cookie(COOKIE, sessions.issue(token, ctx), max_age=sessions.ttl_s,
                            expires=sessions.ttl_s,
                            path=PREFIX, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @r.post(f"{PREFIX}/logout")
    def logout() -> Response:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response


def install_ui(app: FastAPI) -> None:
    """Add the dashboard's routes and static files to ``app`` (before any catch-all)."""
    app.state.ui_sessions = Sessions(app.state.settings)
    app.include_router(router(Ui()))
    app.router.routes.append(Mount(f"{PREFIX}/static", app=StaticFiles(directory=STATIC_DIR),
                                   name="ui-static"))
