"""Group commit for boots arriving together (see :class:`Batcher`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from corral.persistence import Repository

if TYPE_CHECKING:
    from corral.scheduler.runner import Ask, Placement
    from corral.services.scheduler import Outcome, Scheduler


@dataclass
class Job:
    """One request waiting in a Batcher; ``payload`` is what its writer needs."""

    ask: Ask
    consumers: Sequence[str]
    payload: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Outcome | None = None
    error: BaseException | None = None


#: Records every placed job of a batch, in the claim's transaction.
BatchWrite: TypeAlias = "Callable[[Repository, list[tuple[Job, list[Placement], str]]], None]"


class Batcher:
    """Group commit for boots arriving together.

    Each caller queues its job; whoever finds no batch running becomes the leader and
    runs every queued job (up to MAX_BATCH at a time) through
    :meth:`Scheduler.schedule_many` until the queue is empty, so requests that arrive
    while one batch is deciding and claiming go in the next, sharing its refresh and its
    transaction. A lone request is a batch of one: no waiting is ever added.

    The leader gives up leading under the same lock it finds the queue empty under, so
    a job is always either taken by the running leader or makes its caller the next
    one: followers just wait for their own job, without polling.
    """

    MAX_BATCH = 32

    def __init__(self, scheduler: Scheduler, write: BatchWrite) -> None:
        self.scheduler = scheduler
        self.write = write
        self.pending: list[Job] = []
        self.mutex = threading.Lock()
        self.leading = False
        self.batches = 0

    def submit(self, ask: Ask, consumers: Sequence[str], payload: Any) -> Outcome:
        """Schedule and claim ``consumers``; raises NoValidHost as schedule() would."""
        job = Job(ask, consumers, payload)
        with self.mutex:
            self.pending.append(job)
            lead = not self.leading
            self.leading = True
        if lead:
            self._drain()
        else:
            job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _drain(self) -> None:
        batch: list[Job] = []
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
            for job in stranded:
                if not job.done.is_set():
                    job.error = exc
                    job.done.set()
            raise

    def _run(self, batch: list[Job]) -> None:
        def write_all(repo: Repository, items: list[tuple[int, list[Placement], str]]) -> None:
            self.write(repo, [(batch[i], picked, decision) for i, picked, decision in items])

        try:
            results = self.scheduler.schedule_many(
                [(job.ask, job.consumers) for job in batch], write_all)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for job in batch:
                job.error = exc
                job.done.set()
            return
        for job, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):  # NoValidHost, QuotaExceeded
                job.error = result
            else:
                job.result = result
            job.done.set()
