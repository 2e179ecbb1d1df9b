"""How many threads nncore's own parallel kernels may use."""

from __future__ import annotations

import os

from . import _kernels

__all__ = ["available_cpus", "scan_threads"]

#: arrays from this many bytes up are scanned (finite check) by several threads
SCAN_BYTES = 1 << 22


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one),
    capped by OMP_NUM_THREADS when that is set to a positive integer."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        pass
    return max(1, n)


def scan_threads(nbytes: int) -> int:
    """Threads for a memory-bound pass over nbytes: one core's share of the memory
    bandwidth is the limit (measured: 18 GB/s on one core, 36 GB/s on two), so
    large arrays are read from every core."""
    if nbytes < SCAN_BYTES or not _kernels._threads_usable():
        return 1
    return min(available_cpus(), _kernels.MAX_THREADS)
