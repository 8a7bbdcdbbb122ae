"""What glibc's allocator keeps of the memory a server frees, handed back.

A server process frees as much as it allocates: each decision's arrays over the whole
fleet, each request's rows and documents. glibc keeps what is freed in the arena of
the thread that allocated it, one arena per thread up to eight per core, to reuse
later; little of it is ever handed back on its own. Measured at 100,000 hosts (one
``corral serve``, 2,000 boots over 16 connections, 20 threads): the memory in use
stayed at 83 MB while the allocator's free pages grew from 14 to 138 MB, all of the
RSS growth (docs/performance.md). Two remedies, both no-ops off glibc:

- :func:`serve` at the server's start: two arenas, so the free pages of twenty threads
  are not kept twenty times over; and a thread of its own hands the free pages back to
  the system every :data:`TRIM_EVERY_S` (``malloc_trim``: a millisecond or so for what
  two seconds of boots free, outside the interpreter's lock; a thread allocating in the
  arena being trimmed waits meanwhile, the reason it is left to server processes);
- :func:`release_free_memory` after any large load, in every process.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

#: mallopt's parameter for the number of arenas (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas a server process uses (the GIL lets one thread run Python at a time).
SERVER_ARENAS = 2


#: Seconds between two trims in a server process.
TRIM_EVERY_S = 2.0

_started = threading.Lock()
_threads: list[threading.Thread] = []


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def serve(arenas: int = SERVER_ARENAS) -> bool:
    """This process is a server: cap glibc's arenas (before the thread pool starts) and
    start the trimming thread (once); whether glibc is there to take both."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or getattr(libc, "malloc_trim", None) is None:
        return False
    mallopt(M_ARENA_MAX, arenas)
    with _started:
        if not _threads:
            _threads.append(threading.Thread(target=_keep, name="corral-memory", daemon=True))
            _threads[0].start()
    return True


def _keep() -> None:
    while True:
        time.sleep(TRIM_EVERY_S)
        release_free_memory()


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
