"""Keep freed memory for reuse in this process (glibc malloc), so large temporaries are not page-faulted anew.

glibc returns a freed block to the kernel when it was mmap-ed (by default, blocks from 128 KiB to a threshold
that adapts up to 32 MiB) or when the free space at the top of the heap exceeds the trim threshold. The next
allocation of that size then touches fresh pages, which the kernel zero-fills one by one. torch's CPU tensors
come from malloc, so a computation that allocates and frees tens of megabytes per call (the ghost Gram's
per-layer output gradients and per-example weight gradients) pays that again on every call. Measured on the
2-core machine, CNN-16-2 at 32 x 32, n = 128, three processes each: ghost Gram 700-770 ms with glibc's
defaults, 580-590 ms with :func:`keep_freed_memory`; one forward+backward 400-450 ms and 400-415 ms.
jemalloc or tcmalloc (``LD_PRELOAD``) have the same effect (PyTorch's CPU tuning guide recommends them); this
needs no extra library.

Results do not depend on it (no computation reads memory it has not written); only time and the process's
resident memory do: freed memory stays with the process for reuse, blocks over 32 MiB still go back.
``gradconf run`` calls it in the driver and in every worker; library functions never change the allocator,
so call it yourself (or preload jemalloc) to get the same speed in your own process.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap and are reused; glibc's upper limit for the threshold (64-bit).
MMAP_THRESHOLD = 32 << 20
#: Free space at the top of the heap is returned to the kernel only beyond this (mallopt takes an int).
TRIM_THRESHOLD = (1 << 31) - 1


def keep_freed_memory() -> bool:
    """Set glibc's mmap threshold to 32 MiB and its trim threshold to 2 GiB for this process.

    Returns True when applied, False where the C library is not glibc (nothing is changed there).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; a fixed mmap threshold also stops glibc from adapting it
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
