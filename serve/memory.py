"""Keeping the ingress replica's memory flat under load (bench/soak.py; docs/serving.md).

Decoding runs on a pool of threads. glibc gives threads their own malloc arenas (up to 8 per
core), and each keeps the high-water mark of what its decodes allocated, so RSS climbs with the
requests although nothing leaks. A hostile file (a bomb, a 10^6-frame video) is refused after its
demuxer has allocated, and that memory stays with the process. Two glibc calls bound both; on
other C libraries they are no-ops."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
        return lib if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None
    except OSError:
        return None


def limit_arenas(n: int = 2) -> bool:
    """At most `n` malloc arenas for the threads started from now on (MALLOC_ARENA_MAX); done or not."""
    lib = _libc()
    return bool(lib and lib.mallopt(M_ARENA_MAX, n))


def trim() -> bool:
    """Give the heap's free pages back to the system (after a refused request); done or not."""
    lib = _libc()
    return bool(lib and lib.malloc_trim(0))
