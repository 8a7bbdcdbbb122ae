"""Group commit: requests arriving together run as one batch (see :class:`Batcher`).

The queue knows nothing of what it runs: services/claims.py gives it the function that
decides and claims a batch of boots in one round and one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[J, R]):
    """One request waiting in a Batcher for its result."""

    job: J
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


class Batcher(Generic[J, R]):
    """Group commit for requests arriving together.

    Each caller queues its job; whoever finds no batch running becomes the leader and
    runs every queued job (up to MAX_BATCH at a time) through ``run`` until the queue
    is empty, so requests that arrive while one batch runs go in the next, sharing its
    refresh and its transaction. A lone request is a batch of one: no waiting is ever
    added. ``run`` answers, per job in order, its result or the exception refusing it
    (handed to that job's caller only).

    The leader gives up leading under the same lock it finds the queue empty under, so
    a job is always either taken by the running leader or makes its caller the next
    one: followers just wait for their own job, without polling.
    """

    MAX_BATCH = 32

    def __init__(self, run: Callable[[list[J]], list[R | Exception]]) -> None:
        self.run = run
        self.pending: list[_Waiting[J, R]] = []
        self.mutex = threading.Lock()
        self.leading = False
        self.batches = 0

    def submit(self, job: J) -> R:
        """Run ``job`` in the next batch; raises what refused it."""
        waiting: _Waiting[J, R] = _Waiting(job)
        with self.mutex:
            self.pending.append(waiting)
            lead = not self.leading
            self.leading = True
        if lead:
            self._drain()
        else:
            waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _drain(self) -> None:
        batch: list[_Waiting[J, R]] = []
        try:
            while True:
                with self.mutex:
                    batch = self.pending[:self.MAX_BATCH]
                    del self.pending[:self.MAX_BATCH]
                    if not batch:
                        self.leading = False
                        return
                self.batches += 1
                self._run(batch)
        except BaseException as exc:  # the bookkeeping failed: nobody may wait forever
            with self.mutex:
                stranded, self.pending = batch + self.pending, []
                self.leading = False
            for waiting in stranded:
                if not waiting.done.is_set():
                    waiting.error = exc
                    waiting.done.set()
            raise

    def _run(self, batch: list[_Waiting[J, R]]) -> None:
        try:
            results = self.run([waiting.job for waiting in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for waiting in batch:
                waiting.error = exc
                waiting.done.set()
            return
        for waiting, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):  # NoValidHost, QuotaExceeded
                waiting.error = result
            else:
                waiting.result = result
            waiting.done.set()
