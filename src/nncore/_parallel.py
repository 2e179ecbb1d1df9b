"""How many threads nncore's own parallel kernels may use."""

from __future__ import annotations

import contextlib
import os
import threading

from . import _kernels

__all__ = ["available_cpus", "scan_threads", "blas_limit", "blas_pinnable", "pinned_blas"]

_blas_controller = None

#: arrays from this many bytes up are scanned (finite check) by several threads
SCAN_BYTES = 1 << 22


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one),
    capped by the OpenMP runtime's limit: OMP_NUM_THREADS, or threadpoolctl's
    ``threadpool_limits(n)`` / ``threadpool_limits(n, user_api="openmp")``."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        pass
    if _kernels.OPENMP:
        n = min(n, _kernels._omp_max_threads())
    return max(1, n)


def scan_threads(nbytes: int) -> int:
    """Threads for a memory-bound pass over nbytes: one core's share of the memory
    bandwidth is the limit (measured: 18 GB/s on one core, 36 GB/s on two), so
    large arrays are read from every core."""
    if nbytes < SCAN_BYTES or not _kernels._threads_usable():
        return 1
    return min(available_cpus(), _kernels.MAX_THREADS)


def _controller():
    """threadpoolctl's controller of the loaded thread pools, or False without it
    (an optional extra: without it BLAS keeps its own thread count)."""
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    return _blas_controller


def blas_limit(limit):
    """A context that runs BLAS on at most limit threads (nothing without threadpoolctl)."""
    ctl = _controller()
    if ctl is False:
        return contextlib.nullcontext()
    return ctl.limit(limits=limit, user_api="blas")


# Held (re-entrantly) by the one Python thread whose nncore threads are running
# with BLAS pinned to one thread.  threadpoolctl's limits are process-wide and
# obeyed from one controlling thread only: a second Python thread's threads
# would find BLAS given its threads back when the first finished.
_pin_lock = threading.RLock()


@contextlib.contextmanager
def pinned_blas():
    """Hold BLAS to one thread while this Python thread's nncore threads run;
    yields whether it could (not without threadpoolctl, nor while another Python
    thread holds it: the caller then runs on one thread).  Re-entrant."""
    if _controller() is False or not _pin_lock.acquire(blocking=False):
        yield False
        return
    try:
        with blas_limit(1):
            # threadpoolctl obeys one controlling Python thread at a time and
            # ignores the others' limits: see whether this one took
            libs = _controller().select(user_api="blas").lib_controllers
            yield all(lib.get_num_threads() == 1 for lib in libs)
    finally:
        _pin_lock.release()


def blas_pinnable() -> bool:
    """Whether BLAS can be held to one thread while nncore's threads call it.

    It must be: a multithreaded BLAS called from several threads at once
    oversubscribes the cores (measured: a 784-100-10 epoch at batch 128 took
    42 times longer on 2 nncore threads with 2-thread OpenBLAS than with 1)."""
    ctl = _controller()
    return ctl is not False and len(ctl.select(user_api="blas").lib_controllers) > 0
