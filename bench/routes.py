"""What the HTTP stack costs: a no-op route shaped like the boot route, against a bare one.

Each app is served alone by uvicorn (one process, the server's own HTTP protocol) and
driven by the lean load generator (bench/common.py: one asyncio process, raw sockets,
keep-alive connections) with the boot's request: ``POST /v1/noop``, the boot body,
the admin token. The routes do no work; what is measured is the stack around it.

- ``starlette``: a bare Starlette route (async, answers a small JSON body).
- ``fastapi``: the boot route as FastAPI serves a plain route: corral's envelope and
  error handlers, the router's NUL check, a synchronous authentication dependency and
  a synchronous endpoint (two thread-pool hops), the body model validated by FastAPI.
  This is how POST /v1/instances was served before it became a lean route.
- ``lean``: the boot route as it is served now (api/v1/lean.py, api/hot.py): the same
  envelope, checks and model, reached the short way, parsed and validated once on the
  event loop, one hand-off to a worker thread (for nothing here).
- ``lean-inline``: the same without the hand-off (what the thread hop costs).

    .venv/bin/python bench/routes.py                       # ~1 minute
    .venv/bin/python bench/routes.py --requests 20000 --connections 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import common
from common import say, table
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from corral.api.envelope import Envelope
from corral.api.hot import HotRoutes
from corral.api.metrics import HttpMetrics
from corral.api.v1.answers import install_v1
from corral.api.v1.common import Caller, caller
from corral.api.v1.instances import Boot
from corral.api.v1.lean import LeanRoute, json_of, lean, validated
from corral.api.workers import WORKER_THREADS, hand_off
from corral.config import Settings

KINDS = ("starlette", "fastapi", "lean", "lean-inline")
BODY = {"name": "vm-1", "flavor": "bench-flavor", "project_id": "bench-project"}
ANSWER = {"instances": [], "decision_id": "00000000-0000-0000-0000-000000000000"}


def build(kind: str) -> Any:
    """The app of ``kind`` (see the module docstring)."""
    if kind == "starlette":
        async def bare(_request: Request) -> Response:
            return JSONResponse(ANSWER, status_code=201)

        return Starlette(routes=[Route("/v1/noop", bare, methods=["POST"])])

    def nothing() -> Response:
        return JSONResponse(ANSWER, status_code=201)

    async def serve(request: Request) -> Response:
        data = await json_of(request)
        caller(request)
        validated(Boot, data)
        if kind == "lean-inline":
            return nothing()
        return await hand_off(request, nothing)

    router = APIRouter(route_class=LeanRoute)
    if kind == "fastapi":
        @router.post("/noop", status_code=201, response_model=None)
        def noop_sync(body: Boot, ctx: Caller) -> Response:
            return nothing()
    else:
        @router.post("/noop", status_code=201, response_model=None)
        @lean(serve)
        async def noop(body: Boot, ctx: Caller) -> Response:
            return nothing()

    app = FastAPI(redirect_slashes=False)
    workdir = tempfile.mkdtemp(prefix="corral-bench-routes-")
    app.state.settings = Settings(data_dir=workdir, database_url=f"sqlite:///{workdir}/x.db")
    if kind != "fastapi":
        app.state.workers = ThreadPoolExecutor(WORKER_THREADS)
    install_v1(app, [router])
    inner = app if kind == "fastapi" else HotRoutes(app, [("/v1", router)], [])
    return Envelope(inner, HttpMetrics(), app.router.routes)


def serve(kind: str, port: int) -> None:
    import uvicorn

    from corral.logging import configure_logging

    # As corral serve runs: JSON access lines at info, Nagle off.
    configure_logging("json", "info")
    uvicorn.run(build(kind), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, http="corral.api.asgi:NoDelayHTTPProtocol")


def run(kind: str, requests: int, connections: int, workdir: Path) -> tuple[common.Load, str]:
    machine_load = common.load_average()
    port = common.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    # _spawn waits for GET / to answer 200: every app here answers it with 404 or 405,
    # so wait on a probe route instead (the server is up once it answers anything).
    svc = common._spawn(f"routes-{kind}", [sys.executable, str(Path(__file__)), "--serve",
                                           kind, "--port", str(port)], env, workdir,
                        f"http://127.0.0.1:{port}", ready=lambda status: status > 0)
    try:
        reqs: list[common.Request] = [("POST", "/v1/noop", BODY, "1.0")] * requests
        common.run_lean(svc.url, reqs[:500], connections, expect=(201,))  # warm-up
        load, _cpu = common.run_lean(svc.url, reqs, connections, expect=(201,))
    finally:
        svc.stop()
    return load, machine_load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2,
                   help="Rounds over every kind, alternated (default %(default)s).")
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-routes-"))
    say(f"bench/routes.py on {common.machine_facts()}")
    rows = []
    kinds = [k for k in args.kinds.split(",") if k]
    for rnd in range(args.rounds):
        for kind in kinds if rnd % 2 == 0 else kinds[::-1]:
            load, machine_load = run(kind, args.requests, args.connections, workdir)
            say(f"  {kind}: {load.rps:.0f} req/s, p50 {load.pct(50):.2f} ms "
                f"(load avg {machine_load})")
            rows.append((kind, rnd, machine_load, load.count, load.rps, load.pct(50),
                         load.pct(99)))
    say(f"\n### No-op route shaped like POST /v1/instances, {args.connections} connections\n")
    table(["route", "round", "load avg at start", "requests", "req/s", "p50 ms", "p99 ms"],
          rows)


if __name__ == "__main__":
    main()
