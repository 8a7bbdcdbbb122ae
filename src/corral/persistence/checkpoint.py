"""SQLite's WAL checkpoints, moved off the request path.

In WAL mode a commit appends to the write-ahead log; a *checkpoint* copies the log back
into the database file and syncs it to disk. Left to SQLite, the commit that takes the
log past ``wal_autocheckpoint`` pages runs the checkpoint itself, so about one write in
a hundred waits for a copy and an fsync: that was the whole of a boot's p99 (a claim's
p50 1.3 ms, its p99 18 ms, at any fleet size; 3.3 ms without it).

A :class:`Checkpointer` thread per store runs a PASSIVE checkpoint every
:data:`EVERY_S` instead (it never blocks a reader or a writer; SQLite releases the GIL
while it copies). Connections raise ``wal_autocheckpoint`` to :data:`BACKSTOP_PAGES`, so
a commit still checkpoints if the thread falls far behind, and SQLite checkpoints as
usual when the last connection closes. The thread holds the store only weakly and
stops with :meth:`Store.dispose <corral.persistence.store.Store.dispose>` or once the
store is gone.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine

log = structlog.get_logger("corral.persistence")

#: Seconds between the thread's checkpoints.
EVERY_S = 0.5
#: The log's size, in 4 KiB pages, past which a commit checkpoints on its own (SQLite's
#: default is 1,000): 40 MB, about 10 s of the busiest single-process boot load.
BACKSTOP_PAGES = 10_000


class _HasEngine(Protocol):
    engine: Engine


def checkpoint(engine: Engine) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the log, frames checkpointed)."""
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return int(row[0]), int(row[1]), int(row[2])


class Checkpointer:
    """The background thread checkpointing one SQLite store (module docstring)."""

    def __init__(self, store: _HasEngine, every_s: float = EVERY_S) -> None:
        self._store = weakref.ref(store)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corral-sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._every_s):
            store = self._store()
            if store is None:
                return
            try:
                checkpoint(store.engine)
                failing = False
            except Exception as exc:  # the next commit past the backstop checkpoints
                if not failing:  # once per run of failures, not every half second
                    log.warning("sqlite_checkpoint_failed",
                                error=f"{type(exc).__name__}: {exc}")
                failing = True
            del store

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
