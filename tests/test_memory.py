"""fit allocates its workspace once: nothing per minibatch, no copy of the data."""

import tracemalloc

import numpy as np
import pytest

import nncore
from nncore import _kernels, _parallel


def peak_during_fit(net, X, Y, **kw):
    # a first fit in the process makes one-time objects (threadpoolctl's view of the
    # loaded libraries, imports): not memory that fit holds, so not measured
    nncore.Network(net.sizes, seed=0, dtype=net.dtype).fit(X[:64], Y[:64], **kw)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        net.fit(X, Y, **kw)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("batch_size,n_threads", [(10, 1), (128, 1), (128, 2)])
def test_fit_over_60000_by_784_stays_within_the_workspace(batch_size, n_threads):
    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.random((n, 784))  # 376 MB: a copy of it would dwarf everything below
    Y = np.zeros((n, 10))
    Y[np.arange(n), rng.integers(0, 10, n)] = 1
    net = nncore.Network([784, 30, 10], seed=0)
    peak = peak_during_fit(net, X, Y, epochs=2, batch_size=batch_size, learning_rate=0.1,
                           n_threads=n_threads)
    itemsize = 8
    # each thread's share of the rows (in cache blocks) and, with more than one, its own
    # gradient buffer
    workspace = _kernels.train_workspace_size(
        net.spec.sizes, n, batch_size, 0, _parallel.block_rows(net.sizes, net.dtype, batch_size),
        n_threads) * itemsize
    assert workspace <= (_kernels.workspace_size(net.spec.sizes, batch_size, train=True)
                         + n_threads * net.n_params) * itemsize
    params = net.n_params * itemsize
    permutation = n * np.dtype(np.intp).itemsize  # the shuffled order of the samples
    # the parameter snapshot of each epoch, the workspace, the permutation, and
    # a margin for Python objects (history, logs): 64 kB
    bound = 2 * params + workspace + permutation + 64 * 1024
    assert peak <= bound, (peak, bound)
    assert peak < X.nbytes / 100


def test_fit_allocates_nothing_per_minibatch():
    """Four times the samples (so four times the minibatches) raise the peak by
    the permutation's 8 bytes per extra sample and nothing else."""
    rng = np.random.default_rng(1)
    X = rng.random((40_000, 64))
    Y = rng.random((40_000, 3))
    peaks = []
    for n in (10_000, 40_000):
        net = nncore.Network([64, 16, 3], seed=0)
        peaks.append(peak_during_fit(net, X[:n], Y[:n], epochs=2, batch_size=10,
                                     learning_rate=0.1))
    permutation_growth = 30_000 * np.dtype(np.intp).itemsize
    assert peaks[1] - peaks[0] <= permutation_growth + 4096, peaks
