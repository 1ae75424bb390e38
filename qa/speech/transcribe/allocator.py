"""glibc's allocator thresholds for a process that transcribes (:func:`tune_allocator`, called at the first model load).

A Whisper decode allocates and frees buffers of megabytes many times a second. glibc serves a block above its mmap
threshold with a fresh ``mmap`` and unmaps it on free, and it returns the top of its heap to the kernel past its
trim threshold; either way the next use of that memory costs page faults. By default glibc adapts: freeing a big
mapped block raises both thresholds (up to 32 MiB and 64 MiB), so a long-running decode settles on reusing its heap.
Setting ``MALLOC_TRIM_THRESHOLD_`` in the environment switches that adaptation off — and Dask's nanny sets it to
65536 for every worker it starts (``distributed.nanny.pre-spawn-environ``). A worker then maps and unmaps every
block over 128 KiB: on one call, 2.9M page faults instead of 0.58M and 4.7 s of system time instead of 1.4 s, which
made Dask workers transcribe 1.86× slower than the flow process.

:func:`tune_allocator` sets the thresholds the adaptation would reach, whatever the environment said, so every
process that transcribes — the flow's, a local or a remote Dask worker, ``qa score`` — reuses its heap the same
way. It changes how memory is handed out, never what is computed. Elsewhere than glibc it does nothing.

Those thresholds keep freed memory in the heap, which is what a decode wants between its batches, but a long call's
next window then starts on top of everything the last one freed (a 300 s Whisper decode left 250 MiB resident).
:func:`release_memory` (glibc's ``malloc_trim``) hands it back between the windows of a long call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from functools import cache

# mallopt parameters (malloc.h) and the values glibc's own adaptation tops out at on 64-bit
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # the largest glibc accepts (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_done: dict[str, bool] = {}
_lock = threading.Lock()


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds to :data:`MMAP_THRESHOLD` / :data:`TRIM_THRESHOLD` (once per process);
    whether they are set (False where the C library is not glibc or refuses)."""
    with _lock:
        if "tuned" not in _done:
            _done["tuned"] = _mallopt_thresholds()
        return _done["tuned"]


def _mallopt_thresholds() -> bool:
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except AttributeError:
        return False


def release_memory() -> bool:
    """Return the heap's free memory to the kernel (glibc's ``malloc_trim(0)``; a few milliseconds), so the next window
    of a long call does not start on top of what the last one freed; whether it ran (False elsewhere than glibc)."""
    libc = _libc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except AttributeError:
        return False
    return True


@cache
def _libc() -> ctypes.CDLL | None:
    """glibc, loaded once; ``None`` elsewhere (or where it cannot be loaded)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
