"""The one hand-off of a hot request to a worker thread (``app.state.workers``).

The hot routes (docs/architecture.md, "The hot routes") parse and check a request on
the event loop and hand the rest, which reads and writes the store, to a worker thread
once. A plain executor hand-off: anyio's (``run_in_threadpool``) costs several times
more per call (docs/performance.md, issue 13). The app owns the executor (created with
it, shut down with its lifespan).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import anyio.to_thread
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

R = TypeVar("R")

#: Worker threads of an app (anyio's default pool has as many): each boot of a group
#: commit waits in its own thread for its batch.
WORKER_THREADS = 40


async def hand_off(request: Request, fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` in one of the app's worker threads, with the request's context
    variables (its request id on every log line written there). An app built without
    workers uses anyio's thread pool."""
    workers: Executor | None = getattr(request.app.state, "workers", None)
    if workers is None:
        return await run_in_threadpool(fn, *args)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(workers, context.run, fn, *args)


async def every(seconds: float, job: Callable[[], object], failed: str) -> None:
    """Run ``job`` in a worker thread every ``seconds`` until cancelled; a failure is
    logged as ``failed`` (with its traceback) and the next round runs all the same."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await anyio.to_thread.run_sync(job)
        except Exception:  # noqa: BLE001 - logged; one failed round must not stop the next
            structlog.get_logger("corral.api").exception(failed)
