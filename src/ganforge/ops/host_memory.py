"""Keep the memory a CPU step frees for the next step instead of handing it back to the kernel.

glibc returns large freed blocks to the kernel (munmap, heap trimming); the next step's tensors of
the same sizes are then faulted in again page by page, costing system time every step. With the
thresholds below only memory a step has used is kept (docs/performance.md: page faults, system
time and peak RSS, with and without).
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters and the values set: blocks up to 32 MiB (the most every 64-bit glibc
# accepts) come from the heap, whose free top is kept up to 512 MiB.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES = 32 << 20, 512 << 20


def keep_freed_memory() -> bool:
    """Set glibc's thresholds for this process; False (and nothing changed) where the C library
    is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
