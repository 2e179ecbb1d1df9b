"""nncore.dask on a LocalCluster of worker processes (issue 14): group ``dask``.

``nncore-dask-1w``, ``nncore-dask-2w``
    ``nncore.dask.MLPClassifier(solver="lbfgs")`` fitted for ``--nn-dask-iterations``
    L-BFGS iterations (default 10) on ``--nn-dask-rows`` rows (default 80,000) of 784
    float32 features in 8 blocks, 784-100-10, on 1 and on 2 workers of one thread
    each.  The data are made on the workers (seeded: the same on both clusters) and
    kept there; a fit's time is its distributed evaluations plus L-BFGS on the client.
    The issue's target: 2 workers at least 1.4x faster than 1.
``nncore-dask-roundtrip-2b``, ``nncore-dask-roundtrip-64b``
    One distributed evaluation (parameters out, block sums, the tree of additions,
    the gradient back) of the same network over 2 and over 64 one-row blocks, on 2
    workers: the per-step overhead, and (from the difference) what each further block
    adds.

``python benchmarks/dask_scaling.py RUN.json`` turns a run's numbers into the scaling
table of ``docs/dask.md``.  Never time on a busy machine (see README.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from harness import DATA_SEED, N_CLASSES, N_FEATURES, peak_rss_mb
from numpy_mlp import train_flops_per_sample

import nncore

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
nncore_dask = pytest.importorskip("nncore.dask")

HIDDEN = 100
SIZES = (N_FEATURES, HIDDEN, N_CLASSES)
BLOCKS = 8  # row chunks, the same for every cluster: the same sums, the same fit


@pytest.fixture(scope="module")
def clusters():
    """``start(n_workers)``: a client of a LocalCluster of that many single-threaded
    worker processes; starting one closes the previous, so only one runs at a time."""
    running = {}

    def close():
        for cluster, client in running.values():
            client.close()
            cluster.close()
        running.clear()

    def start(n_workers):
        if n_workers not in running:
            close()
            cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            running[n_workers] = (cluster, distributed.Client(cluster))
        return running[n_workers][1]

    yield start
    close()


def _data(client, rows):
    """Float32 rows uniform on [0, 1] with the harness's labelling rule, made and
    kept on the workers."""
    R = np.random.default_rng(DATA_SEED).standard_normal((N_FEATURES, N_CLASSES))

    def labels(block):
        return ((block - 0.5) @ R).argmax(axis=1)

    rng = da.random.default_rng(DATA_SEED)
    X = rng.random((rows, N_FEATURES), chunks=(-(-rows // BLOCKS), N_FEATURES),
                   dtype=np.float32)
    y = X.map_blocks(labels, drop_axis=1, dtype=np.intp)
    X, y = client.persist([X, y])
    distributed.wait([X, y])
    return X, y


class _Counted(nncore_dask.MLPClassifier):
    """Counts the distributed evaluations of its fits (``evaluations``)."""

    def _full_batch_data(self, net, X, Y, sample_weight):
        data = super()._full_batch_data(net, X, Y, sample_weight)
        evaluate = data.loss_and_gradient_sums

        def counted():
            self.evaluations += 1
            return evaluate()

        data.loss_and_gradient_sums = counted
        return data


@pytest.mark.parametrize("workers", [1, 2], ids=["nncore-dask-1w", "nncore-dask-2w"])
@pytest.mark.benchmark(group="dask")
def test_dask_lbfgs(benchmark, bench_config, pytestconfig, clusters, workers):
    rows = pytestconfig.getoption("--nn-dask-rows")
    iterations = pytestconfig.getoption("--nn-dask-iterations")
    client = clusters(workers)
    X, y = _data(client, rows)
    est = _Counted(hidden_layer_sizes=(HIDDEN,), max_iter=iterations, tol=0, random_state=0)

    def fit():
        est.evaluations = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the point
            est.fit(X, y)

    benchmark.pedantic(fit, rounds=bench_config.rounds, warmup_rounds=1)
    benchmark.extra_info.update(
        group="dask", contender="nncore-dask", dtype="float32", workers=workers,
        setting=f"lbfgs {rows}x{N_FEATURES} f32 {workers}w", network="-".join(map(str, SIZES)),
        n_samples=rows, nominal_samples=rows, blocks=BLOCKS, iterations=int(est.n_iter_),
        evaluations=est.evaluations, n_params=int(est.network_.n_params),
        flops_per_sample=train_flops_per_sample(SIZES) * est.evaluations,
        peak_rss_mb=peak_rss_mb())


@pytest.mark.parametrize("blocks", [2, 64], ids=["nncore-dask-roundtrip-2b",
                                                 "nncore-dask-roundtrip-64b"])
@pytest.mark.benchmark(group="dask")
def test_dask_round_trip(benchmark, bench_config, clusters, blocks):
    client = clusters(2)
    rng = np.random.default_rng(DATA_SEED)
    X = da.from_array(rng.random((blocks, N_FEATURES), dtype=np.float32),
                      chunks=(1, N_FEATURES))
    Y = da.from_array(np.eye(N_CLASSES, dtype=np.float32)[rng.integers(0, N_CLASSES, blocks)],
                      chunks=(1, N_CLASSES))
    X, Y = client.persist([X, Y])
    distributed.wait([X, Y])
    net = nncore.Network(list(SIZES), activation="relu", output="softmax",
                         loss="cross_entropy", dtype="float32", seed=0)
    data = nncore_dask.DaskData(net, X, Y)
    with data:
        benchmark.pedantic(data.loss_and_gradient_sums, rounds=bench_config.rounds,
                           iterations=20, warmup_rounds=1)
    benchmark.extra_info.update(
        group="dask", contender="nncore-dask", dtype="float32", workers=2, blocks=blocks,
        setting=f"round trip, {blocks} one-row blocks, 2w", network="-".join(map(str, SIZES)),
        n_samples=blocks, nominal_samples=blocks, n_params=int(net.n_params),
        flops_per_sample=None, peak_rss_mb=peak_rss_mb())
