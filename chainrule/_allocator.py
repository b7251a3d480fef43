"""Freed array memory stays in the process for the next array (glibc's malloc, set once at import).

A training step makes and drops the same activation-sized arrays (megabytes each) every step. glibc's malloc
serves such blocks with mmap and gives them back with munmap as soon as they are freed (and trims the top of
its heap soon after), so the next step's arrays are fresh pages again: the kernel zeroes and maps every 4 KiB
page on first touch. That page-fault work cost more than the arithmetic in ReLU, max pooling and
elementwise gradients: it was about a sixth of a GPT or CNN training step (the W7/W9 benchmarks, CPU time
with one BLAS thread: 114 -> 95 and 156 -> 132 ms a step).

So blocks below 32 MiB (glibc's own ceiling for its adaptive mmap threshold) come from the heap, and up to
256 MiB of freed memory at the top of the heap is kept rather than returned to the kernel: memory is reused,
not faulted in again. What a process holds at its peak does not change; its resident size after a peak may
stay higher, by at most that much. (PyTorch's guide to CPU performance suggests a caching malloc such as
jemalloc through LD_PRELOAD for the same reason; this is the same effect without a preload.)

Only on Linux with glibc; elsewhere, and with ``CHAINRULE_MALLOC=system`` in the environment, malloc keeps
its defaults.
"""
import ctypes
import os
import platform
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # mallopt's parameter numbers (glibc's malloc.h)
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory():
    """Set glibc's mmap and trim thresholds as above; True if they were set."""
    if os.environ.get("CHAINRULE_MALLOC", "") == "system" or not sys.platform.startswith("linux"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
