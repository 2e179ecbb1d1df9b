"""Threads: how many of nncore's own threads a pass or a fit uses, and BLAS's.

Every tuning constant of the thread and BLAS planning lives here, with the
measurement behind it; tests patch them here.  Two kinds of parallelism meet:

* nncore's own threads (OpenMP, in the compiled kernels) split the *rows*:
  each thread forwards and backpropagates its own rows, and the parts'
  gradients are added in a fixed order; or, in training on minibatches too
  small for that, the *neurons*: each thread forwards, backpropagates and steps
  its share of every layer's neurons (see ``_kernels.split_neurons``);
* BLAS's threads split each matrix product.

They must not nest: a multithreaded BLAS called from several of nncore's
threads oversubscribes the cores (measured: a 784-100-10 epoch at batch 128
took 42 times longer on 2 nncore threads with 2-thread OpenBLAS than with 1).
So nncore's threads run only while threadpoolctl holds BLAS to one thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings

import numpy as np

from . import _kernels

__all__ = ["available_cpus", "scan_threads", "blas_limit", "blas_pinnable", "pinned_blas",
           "serial_solver_blas"]

#: arrays from this many bytes up are scanned (finite check) by several threads
SCAN_BYTES = 1 << 22

#: rows per chunk for predict/loss/gradient: large enough for BLAS to run near
#: its peak, small enough that the workspace stays a few MB.
CHUNK_ROWS = 512

#: ... but narrow networks on several threads take chunks of SMALL_CHUNK_ROWS
#: while those hold at most SMALL_CHUNK_WORK multiply-adds, where BLAS does the
#: products (see pass_chunk_rows): they run unpacked in BLAS's small-matrix
#: kernels (OpenBLAS), which each thread then streams from memory at its own
#: pace.  Measured before nncore had its own forward product, 784-30-10 predict
#: over 60,000 rows on 2 threads: float64 55 ms in chunks of 32 against 67 ms in
#: 512, float32 26 against 31; on one thread the chunks of 32 lose (92 against 83
#: ms), and for 784-100-10 (2.4 Mi multiply-adds per 32 rows) too (138 against 107).
SMALL_CHUNK_ROWS = 32
SMALL_CHUNK_WORK = 2**20

#: predict/loss/gradient split the rows across threads (each chunk on one, BLAS
#: on one thread inside) from this many multiply-adds per pass.  Measured
#: (predict + gradient, 2 threads against 1 thread with 2-thread BLAS, float64):
#: 0.6-0.9x below 7 Mi multiply-adds (784-30-10 on 300 rows, 64-32-10 on 3,000),
#: 1.4-2.4x from 22 Mi up (784-30-10 on 60,000 rows: 1.59x; 784-256-256-10:
#: 1.20x).
PASS_WORK = 2**24

#: fit(blas_threads="auto") runs BLAS on one thread when the rows of each
#: product (a minibatch, or a cache block of one) times the largest
#: n_in * n_out of the network is below this.  Measured on a quiet
#: 2-core machine (one 2-epoch fit per setting, medians of 5): a second thread
#: lost or broke even up to about 1.5 Mi multiply-adds per product (784-30-10 at
#: batch 32: 0.98x; 784-256-256-10 at batch 8: 0.94x) and gained from about
#: 3 Mi (1.11-1.13x).
SINGLE_THREAD_WORK = 2**21

#: fit(n_threads="auto") splits a minibatch across threads only when every
#: thread gets at least this many rows.  Each minibatch the threads exchange the
#: parameters and their gradients between cores, a cost that grows with the
#: network while the work saved grows with the rows.  Measured on a quiet 2-core
#: machine (fit over 20,000 samples, 2 threads against 1): 784-30-10 float64
#: 0.93x at 8 rows per thread, 1.19x at 16, 1.50x at 32, 1.63x at 512; float32
#: 0.91x at 16, 1.26x at 32; 784-100-10 float64 0.76x at 16, 1.23x at 32,
#: float32 0.99x at 32, 1.12x at 64.
THREAD_ROWS = 32
#: ... and for wider networks (more parameters to exchange, and BLAS's own
#: threads, which split the weights, as the alternative) at least this many:
#: 784-256-256-10 with 2 data threads against 2 BLAS threads, float64 0.65x at
#: 16 rows per thread, 0.93x at 64, 1.08x at 128, 1.21x at 512; float32 1.09x at
#: 128, 1.26x at 512.
WIDE_THREAD_ROWS = 128
#: ... and at least this many multiply-adds (rows times sum_l n_l n_{l+1}), so
#: that tiny networks, whose minibatches take microseconds, stay on one thread:
#: 64-32-10 float64 gained 1.42x at 64 rows per thread (151,552 multiply-adds),
#: 1.82x at 512; 2-3-1 lost (0.28x-0.46x) at every batch size up to 1024.
THREAD_WORK = 2**17

#: rows per cache block in fit (None: chosen by block_rows)
BLOCK_ROWS = None
#: fit blocks minibatches of networks with fewer multiply-adds per row than this
#: many per input value (see block_rows)
BLOCK_WORK_PER_INPUT = 36


# ---------------------------------------------------------------- the machine

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


def work_per_row(sizes) -> int:
    """Multiply-adds of one row's forward pass: sum_l n_l n_{l+1}."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def narrow(sizes, dtype) -> bool:
    """Whether the network does so little arithmetic per byte of input (fewer than 16
    multiply-adds) that streaming the inputs, not the matrix products, sets its pace."""
    return work_per_row(sizes) < 16 * sizes[0] * np.dtype(dtype).itemsize


# ---------------------------------------------------------------- BLAS's threads

_blas_controller = None


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


_blas_libs = None


def blas_limit(limit):
    """A context that runs BLAS on limit threads (nothing without threadpoolctl)."""
    global _blas_libs
    ctl = _controller()
    if ctl is False:
        return contextlib.nullcontext()
    if _blas_libs is None:
        _blas_libs = ctl.select(user_api="blas").lib_controllers
    # (already so, as under a caller's threadpool_limits(1): threadpoolctl's context
    # would read and set every pool twice, a tenth of a small partial_fit)
    if _blas_libs and all(lib.get_num_threads() == limit for lib in _blas_libs):
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


@contextlib.contextmanager
def serial_solver_blas(fun):
    """Run a solver's own vector arithmetic with BLAS on one thread, and ``fun`` (its
    evaluations of the loss and gradient) with the thread counts the caller had.

    Yields the wrapped ``fun``.  SciPy's L-BFGS-B calls BLAS level-1 routines on the
    whole parameter vector a few hundred times an iteration; with two BLAS threads
    each call pays for waking the second (measured, 79,510 parameters: 17 ms an
    iteration on 2 threads against 5 ms on 1), while the evaluations want every
    core."""
    ctl = _controller()
    if ctl is False:
        yield fun
        return
    outer = {lib.filepath: lib.num_threads
             for lib in ctl.select(user_api="blas").lib_controllers}
    if all(n == 1 for n in outer.values()):
        yield fun
        return

    def evaluate(*args, **kwargs):
        with ctl.limit(limits=outer):
            return fun(*args, **kwargs)

    with blas_limit(1):
        yield evaluate


def blas_pinnable() -> bool:
    """Whether BLAS can be held to one thread while nncore's threads call it."""
    ctl = _controller()
    return ctl is not False and len(ctl.select(user_api="blas").lib_controllers) > 0


# ---------------------------------------------------------------- passes

def pass_threads(n_rows: int, row_work: int) -> int:
    """Threads for predict / loss / gradient over n_rows: several only for
    passes of at least PASS_WORK multiply-adds."""
    if n_rows * row_work < PASS_WORK or not _kernels._threads_usable() \
            or not blas_pinnable():
        return 1
    return min(available_cpus(), -(-n_rows // 64))  # at least 64 rows a thread


def pass_chunk_rows(n_rows: int, n_threads: int, sizes, dtype, gradient=False) -> int:
    """Rows per chunk of a pass over n_rows on n_threads: at most CHUNK_ROWS,
    few enough that every thread gets one.  The small chunks of narrow networks
    (SMALL_CHUNK_ROWS) are for BLAS's products: a pass whose forward products
    nncore's own kernel takes (AVX-512, calls of 512 rows or more) keeps whole
    chunks, which that kernel streams at the memory's pace.  Measured, 60,000 rows
    on 2 threads, chunks of 32 against 512: predict 784-30-10 float64 42 against
    22 ms, float32 22 against 10; 784-16-10 27 against 13 and 14 against 7 (on
    one thread 45 and 19 ms).  A gradient's pass as well in float64 (784-30-10
    70-78 against 62-66 ms in three runs, 784-32-10 78 against 68, 784-16-10 48-51
    against 46-48; over 10,000 rows 1.07-1.09x, 784-16-10 level), but in float32,
    whose weight gradient's product (BLAS's) the small chunks suit, they still win
    (784-30-10 37 against 42 ms, 784-16-10 26 against 33)."""
    rows = max(1, min(-(-n_rows // n_threads), CHUNK_ROWS))
    if n_threads > 1 and narrow(sizes, dtype) \
            and SMALL_CHUNK_ROWS * work_per_row(sizes) <= SMALL_CHUNK_WORK \
            and (gradient and np.dtype(dtype) == np.float32
                 or not dense_forward(n_rows, sizes, dtype)):
        rows = min(rows, SMALL_CHUNK_ROWS)
    return rows


#: a pass through the sparse first layer (wide CSR input) takes chunks of this many
#: nonzeros a column of the input on average, where the workspace allows: each
#: chunk's tiles read and write every weight of the layer once (see _sparse.h),
#: so the chunks must be long for the nonzeros to outweigh that.  Measured (C
#: harness, 5,000 rows of 100 nonzeros over 20,000 columns, 100 neurons, float64,
#: forward and gradient): chunks of 512 rows 31-45 and 51-56 ms, one of 5,000 rows
#: 18 and 25 ms (scipy.sparse's products, scikit-learn's: 46 and 46 ms).
SPARSE_CHUNK_PER_COLUMN = 16
#: ... and of at most this many workspace values (32 MB of float64)
SPARSE_CHUNK_VALUES = 1 << 22


def sparse_chunk_rows(n_rows: int, n_threads: int, nnz: int, sizes) -> int:
    """Rows per chunk of a pass over n_rows of CSR input with nnz stored values
    through the sparse first layer on n_threads (see SPARSE_CHUNK_PER_COLUMN)."""
    per_row = max(1.0, nnz / max(1, n_rows))
    want = max(CHUNK_ROWS, int(SPARSE_CHUNK_PER_COLUMN * sizes[0] / per_row))
    per_row_ws = sum(sizes[1:]) + sizes[-1] + 2 * max(sizes[1:])  # (the pass's workspace layout)
    return max(1, min(-(-n_rows // n_threads), want, SPARSE_CHUNK_VALUES // per_row_ws))


def dense_forward(n_rows: int, sizes, dtype) -> bool:
    """Whether a pass over n_rows takes nncore's own product for the first layer
    (the kernel's own test besides: whole chunks of at least 64 rows)."""
    return n_rows >= _kernels.DENSE_CALL_MIN_ROWS and _kernels._dense_forward_available() \
        and _kernels._dense_forward() \
        and _kernels._dense_layer_packs(sizes[0], sizes[1], np.dtype(dtype) == np.float64)


def run_pass(n_rows: int, row_work: int, kernel):
    """kernel(n_threads) on the threads pass_threads picks, BLAS held to one
    thread inside them (one thread when another Python thread holds BLAS)."""
    nt = pass_threads(n_rows, row_work)
    if nt == 1:
        return kernel(1)
    with pinned_blas() as pinned:
        return kernel(nt if pinned else 1)


# ---------------------------------------------------------------- training

def check_blas_threads(setting):
    if setting is None or setting == "auto":
        return setting
    if isinstance(setting, (int, np.integer)) and not isinstance(setting, bool) and setting >= 1:
        return int(setting)
    raise ValueError(f"blas_threads must be 'auto', a positive integer or None, got {setting!r}")


def check_n_threads(setting):
    if setting == "auto":
        return setting
    if isinstance(setting, (int, np.integer)) and not isinstance(setting, bool) \
            and 1 <= setting <= _kernels.MAX_THREADS:
        return int(setting)
    raise ValueError(f"n_threads must be 'auto' or an integer from 1 to {_kernels.MAX_THREADS}, "
                     f"got {setting!r}")


def block_rows(sizes, dtype, batch_size) -> int:
    """Rows of a minibatch that fit processes at a time (0: all of it).

    A network that does little arithmetic per input (784-30-10: 30 multiply-adds
    per input value) spends its large minibatches streaming the gathered inputs
    through memory twice, for the forward pass and for the weight gradient; in
    blocks of 32 rows they stay in cache between the two.  From about 40
    multiply-adds per input the GEMMs do enough work per byte that shrinking them
    costs more than the cache saves.  Measured (2 epochs of 20,000 rows, blocks
    of 32 against whole minibatches, 1 thread): 784-30-10 batch 1024 float32
    0.059 against 0.084 s, float64 0.120 against 0.153; 784-32-10 batch 200
    float64 0.102 against 0.123; 784-40-10 even (0.150 / 0.156 at batch 1024,
    0.152 / 0.144 at 200); 784-100-10 batch 200 float64, the scikit-learn
    drop-in's default, 0.265 against 0.192 (whole minibatches, also on 2 threads:
    0.192 against 0.167).  The threshold holds for both dtypes.
    """
    if BLOCK_ROWS is not None:
        return BLOCK_ROWS
    if batch_size > 32 and work_per_row(sizes) < BLOCK_WORK_PER_INPUT * sizes[0]:
        return 32
    return 0


def train_threads(setting, sizes, dtype, batch_size, blas_setting="auto") -> int:
    """Threads fit splits each minibatch across."""
    pinned = blas_setting in ("auto", 1) and blas_pinnable()
    if setting != "auto":
        if setting > 1 and not pinned:
            warnings.warn(
                f"n_threads={setting} with BLAS free to start its own threads inside each of "
                f"nncore's: that oversubscribes the cores and can be many times slower; keep "
                f"blas_threads='auto' with threadpoolctl installed (pip install nncore[threads])"
                f" or start Python with OPENBLAS_NUM_THREADS=1", RuntimeWarning, stacklevel=5)
        return setting
    if not pinned or not _kernels._threads_usable():
        return 1
    rows = THREAD_ROWS if narrow(sizes, dtype) else WIDE_THREAD_ROWS
    rows = max(rows, -(-THREAD_WORK // work_per_row(sizes)))  # per thread, at least
    cpus = available_cpus()
    nt = int(max(1, min(cpus, batch_size // rows)))
    if nt == 1 and cpus > 1 and _kernels.split_neurons(
            np.asarray(sizes, dtype=np.intp), batch_size, cpus):
        # minibatches too small to split by rows split by neurons (see
        # _kernels._split_step)
        nt = cpus
    return nt


def _unpinned_threads(setting, n_threads):
    """Threads for a fit whose BLAS another Python thread holds (see pinned_blas):
    "auto" falls back to one; an explicit count is kept."""
    if setting == "auto":
        return 1
    if blas_pinnable():  # (without threadpoolctl train_threads has warned)
        warnings.warn(
            f"n_threads={n_threads} while another Python thread's nncore threads hold BLAS's "
            f"thread limit: when that thread finishes, BLAS's threads start inside these and "
            f"oversubscribe the cores", RuntimeWarning, stacklevel=5)
    return n_threads


def _blas_context(setting, rows, sizes, n_threads=1):
    """A context that limits the BLAS thread pools during fit (threadpoolctl);
    rows is the number of rows each matrix product handles; when fit's own
    n_threads > 1 each of them calls BLAS, so "auto" keeps BLAS on one."""
    if setting is None:
        return contextlib.nullcontext()
    if setting == "auto" and n_threads > 1:
        limit = 1
    elif setting == "auto":
        work = rows * max(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        if work >= SINGLE_THREAD_WORK:
            return contextlib.nullcontext()
        limit = 1
    else:
        limit = setting  # checked by check_blas_threads before training starts
    return blas_limit(limit)


def training_threads(stack: contextlib.ExitStack, n_threads, blas_threads, sizes, dtype,
                     batch_size, n_samples) -> tuple[int, int]:
    """Plan a fit's threads and enter, on ``stack``, the BLAS limits they need.

    Returns ``(n_threads, block_rows)``: the threads each minibatch is split
    across and the rows of its cache blocks (0: whole minibatches).
    """
    block = block_rows(sizes, dtype, batch_size)
    nt = train_threads(n_threads, sizes, dtype, min(batch_size, max(n_samples, 1)),
                       blas_threads)
    pinned = False
    if nt > 1 and blas_threads in ("auto", 1):
        pinned = stack.enter_context(pinned_blas())
        if not pinned:
            nt = _unpinned_threads(n_threads, nt)
    if not pinned:
        stack.enter_context(_blas_context(blas_threads, block or batch_size, sizes, nt))
    return nt, block
