"""What the benchmark modules share: the synthetic data set, constants, the peak-RSS probe, the
per-benchmark thread limit."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

import numpy as np

N_FEATURES = 784
N_CLASSES = 10
NOMINAL_SAMPLES = 60_000  # report.py scales every epoch to this many samples
DATA_SEED = 12345
SLOW_CONTENDERS = ("torch", "sklearn")  # subset training at batch sizes <= SLOW_BATCH
SLOW_BATCH = 10


def hashed_csr(n_rows, n_cols, per_row, seed):
    """Hashed features' shape (scikit-learn's HashingVectorizer): n_rows CSR rows of
    per_row values in [0, 1) at random columns among n_cols, duplicates summed as
    hashing's collisions are."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((rng.random(n_rows * per_row), rng.integers(0, n_cols, n_rows * per_row),
                       np.arange(0, n_rows * per_row + 1, per_row)), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


def padded_digits(n_rows, seed=DATA_SEED, blank_below=0.0):
    """Images shaped as MNIST's: nncore's bundled 8 x 8 digits, each pixel blown up to
    3 x 3 and the 24 x 24 result centred in 28 x 28 (blank margins, 62% zeros; MNIST
    itself has 81%), in [0, 1]; n_rows drawn with replacement.  ``(X, y)``.
    blank_below: pixels below it set to zero as well (0.6: 80% zeros, as MNIST's)."""
    from nncore.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = np.kron(np.asarray(X, dtype=np.float64).reshape(-1, 8, 8) / 16, np.ones((3, 3)))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))).reshape(-1, 784)
    images[images < blank_below] = 0.0
    rows = np.random.default_rng(seed).integers(0, len(images), n_rows)
    return images[rows], np.asarray(y)[rows]


def seconds(f):
    """The seconds one call f() takes."""
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def median_seconds(f, repeat):
    """The median of ``repeat`` timings of f()."""
    return statistics.median(seconds(f) for _ in range(repeat))


def peak_rss_mb():
    """Peak resident set size of this process so far, MiB (None where resource is unavailable)."""
    try:
        import resource
    except ImportError:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def usable_cpus():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def limit_threads(n):
    """Hold every BLAS and OpenMP pool (threadpoolctl) and PyTorch's intra-op pool to ``n`` threads.

    nncore's own threads follow the OpenMP limit. ONNX Runtime keeps its own pool, whose size is
    fixed when its session is made (``SessionOptions.intra_op_num_threads``). PyTorch's previous
    count is restored on exit, threadpoolctl restores the pools.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


class Dataset:
    """Synthetic MNIST-like data: inputs uniform on [0, 1], one-hot targets from a fixed rule.

    The label of ``x`` is ``argmax((x - 1/2) @ R)`` for a fixed seeded Gaussian ``R`` (centred so
    the ten classes are about equally frequent). Generated once per session in float64; the float32
    copy and the subsets (leading rows, still C-contiguous) are made on demand and cached.
    """

    def __init__(self, n_samples, seed=DATA_SEED):
        rng = np.random.default_rng(seed)
        X = rng.random((n_samples, N_FEATURES))
        R = rng.standard_normal((N_FEATURES, N_CLASSES))
        labels = np.empty(n_samples, dtype=np.intp)
        for start in range(0, n_samples, 8192):  # chunks: keep the temporaries small
            labels[start : start + 8192] = ((X[start : start + 8192] - 0.5) @ R).argmax(axis=1)
        self.labels = labels
        self._arrays = {"float64": (X, np.eye(N_CLASSES)[labels])}

    def get(self, dtype, n_samples=None):
        """``(X, Y)`` in ``dtype``, the first ``n_samples`` rows (all by default)."""
        dtype = np.dtype(dtype).name
        if dtype not in self._arrays:
            X, Y = self._arrays["float64"]
            self._arrays[dtype] = (X.astype(dtype), Y.astype(dtype))
        X, Y = self._arrays[dtype]
        if n_samples is None:
            return X, Y
        if n_samples > X.shape[0]:
            raise ValueError(f"asked for {n_samples} samples, the data set has {X.shape[0]}")
        return X[:n_samples], Y[:n_samples]
