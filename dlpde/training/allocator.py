"""glibc keeps the memory a CPU solve frees, instead of handing it back to the kernel at every step.

Why: PyTorch has no caching allocator for the CPU: every tensor is a ``malloc``. glibc serves each block of 32 MB
or more (its largest mmap threshold) with a mapping of its own and unmaps it on ``free``, so at d ≥ 10⁴ every
training step faults all of its large tensors' pages in afresh, and the kernel's time for that grows faster than
d. Measured (Deep BSDE ``hjb-lq``, d = 10⁵, batch 256, one thread, on the 2-core development machine): 28 s per
step and 5.1 M page faults per step with glibc's defaults, 13.7 s and 0.6 M inside ``keep_freed_memory``.

What it does: ``mallopt(M_MMAP_MAX, 0)`` (no block gets a mapping of its own: everything comes from the heap) and
``mallopt(M_TRIM_THRESHOLD, -1)`` (never give the heap's top back; ``man mallopt``: -1 disables trimming), so a
freed tensor's pages stay in the process and the next step's tensors reuse them. It is the in-process form of
starting Python with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=…``; jemalloc or tcmalloc (``LD_PRELOAD``) do the
same job, but a library cannot preload an allocator. The price: the process holds on to its peak memory until
the solve ends, and that peak was up to 18 % higher (benchmarks/KEEP_MEMORY.md).

On leaving: ``malloc_trim(0)`` gives back what the solve freed, and glibc gets M_MMAP_MAX = 65536 (its default),
an mmap threshold of 32 MB and a trim threshold of 64 MB. glibc cannot report its current values, and any
``mallopt`` ends its own adjustment of the two thresholds; these are the values that adjustment reaches after the
first freed block of 32 MB, which any large tensor makes, so they are the nearest to "as before" there is.

Nothing is changed where the C library is not glibc (macOS, musl), or where the process was started with glibc's
own malloc settings in the environment (``MALLOC_*_`` or ``GLIBC_TUNABLES``): the user's choice stands.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from typing import Iterator

log = logging.getLogger(__name__)

# glibc's <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
NO_TRIM = -1
# what glibc ends with after its dynamic adjustment (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, and twice that)
RESTORED = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 64 * 2**20))
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")

# glibc's settings are the process's, so nesting is counted process-wide: solves inside a solve (or in threads)
# leave the settings to the outermost one
_lock = threading.Lock()
_depth = 0


def glibc() -> ctypes.CDLL | None:
    """The running glibc's ``mallopt``/``malloc_trim``, or None where the C library is another or the user set
    glibc's malloc options in the environment."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):  # not a POSIX system that knows the name
        return None
    if any(k in os.environ for k in USER_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def keep_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, glibc keeps freed memory in the process (see the module's docstring). Yields whether
    it does: False when ``enabled`` is False, or where nothing can be changed."""
    global _depth
    libc = glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1 and not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, NO_TRIM)):
            log.info("glibc refused mallopt; freed memory goes back to the system as usual")
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for option, value in RESTORED:
                    libc.mallopt(option, value)
                libc.malloc_trim(0)
