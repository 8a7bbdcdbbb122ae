"""What glibc's allocator keeps of the memory a server frees, handed back.

A server process frees as much as it allocates: each decision's arrays over the whole
fleet, each request's rows and documents. glibc keeps what is freed in the arena of
the thread that allocated it, one arena per thread up to eight per core, to reuse
later; little of it is ever handed back on its own. Measured at 100,000 hosts (one
``corral serve``, 2,000 boots over 16 connections, 20 threads): the memory in use
stayed at 83 MB while the allocator's free pages grew from 14 to 138 MB, all of the
RSS growth (docs/performance.md). Two remedies, both no-ops off glibc:

- :func:`serve` at the server's start: two arenas, so the free pages of twenty threads
  are not kept twenty times over; and from then on the free pages go back to the
  system after each background check of the engine (every few seconds, outside every
  lock, in the check's thread: :func:`release_free_memory` ``routine``), a few
  milliseconds of ``malloc_trim`` during which a thread allocating in the arena being
  trimmed waits (the reason it is left to server processes);
- :func:`release_free_memory` after any large load, in every process.
"""

from __future__ import annotations

import ctypes
import functools

#: mallopt's parameter for the number of arenas (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas a server process uses (the GIL lets one thread run Python at a time).
SERVER_ARENAS = 2


#: Whether this process is a server (:func:`serve`): routine trims are its own.
_SERVER = {"on": False}


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def serve(arenas: int = SERVER_ARENAS) -> bool:
    """This process is a server: cap glibc's arenas (before the thread pool starts) and
    trim after each background check; whether the cap took effect."""
    _SERVER["on"] = True
    mallopt = getattr(_libc(), "mallopt", None)
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, arenas))


def release_free_memory(routine: bool = False) -> None:
    """Hand the allocator's free pages back to the system (``routine``: the periodic
    one, done in server processes only)."""
    if routine and not _SERVER["on"]:
        return
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
