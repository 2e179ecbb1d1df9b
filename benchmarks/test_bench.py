"""nncore against NumPy, PyTorch and scikit-learn (issue 3).

Groups, in run order:

``gemm``      the machine limit: NumPy's BLAS (and SciPy's, which nncore calls) multiplying
              (1024x784) @ (784x256), the wide network's first layer at batch 1024; measured
              first and again last, so a machine that changed speed during the run shows
``epoch``     one training epoch, 784-30-10, batch sizes 1, 10, 32, 128, 1024, float64 and float32
``wide``      one training epoch, 784-256-256-10, batch sizes 32, 128, 1024, both dtypes
``predict``   1 row and all rows, 784-30-10 and 784-256-256-10, both dtypes
``gradient``  grad C averaged over all rows, 784-256-256-10, both dtypes
``scaling``   nncore (and NumPy) epochs at 1/4, 1/2 and all of the samples, and hidden widths
              30, 100, 300 (batch 10, float64)

Ids read ``<contender>-<dtype>-<setting>`` (``nncore-f64-b10``); the contenders of one setting are
adjacent so they run close together in time. Each benchmark records in ``extra_info`` what
``report.py`` needs to turn its median into seconds per 60,000-sample epoch, samples/s and GFLOP/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from contenders import CONTENDERS, make_epoch, make_gradient, make_predict
from harness import NOMINAL_SAMPLES, SLOW_BATCH, SLOW_CONTENDERS, peak_rss_mb
from numpy_mlp import predict_flops_per_sample, train_flops_per_sample

SMALL = (784, 30, 10)
WIDE = (784, 256, 256, 10)
DTYPES = ("float64", "float32")
SHORT = {"float64": "f64", "float32": "f32"}
GEMM_SHAPE = (1024, 784, 256)  # (m, k, n): (m x k) @ (k x n)
GEMM_REPS = 10  # multiplications per timed round
PREDICT_ONE_ITERATIONS = 200  # a one-row predict takes microseconds: time many per round


def net_name(sizes):
    return "-".join(map(str, sizes))


@dataclass(frozen=True)
class Case:
    contender: str
    dtype: str
    sizes: tuple = SMALL
    batch_size: int | None = None
    rows: str = "all"  # "all" (the --nn-samples rows), "one", or a fraction "1/4", "1/2"
    tag: str = ""  # extra id part

    @property
    def id(self):
        parts = [self.contender, SHORT[self.dtype]]
        if self.batch_size is not None:
            parts.append(f"b{self.batch_size}")
        if self.tag:
            parts.append(self.tag)
        return "-".join(parts)


def _cases(settings, contenders=CONTENDERS):
    """One Case per (setting, contender), contenders innermost so they stay adjacent."""
    cases = [Case(contender=c, **s) for s in settings for c in contenders]
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


def _record(benchmark, case, *, group, n_samples, nominal, flops_per_sample, setting, **extra):
    benchmark.extra_info.update(
        group=group,
        contender=case.contender,
        dtype=case.dtype,
        batch_size=case.batch_size,
        network=None if group == "gemm" else net_name(case.sizes),
        setting=setting,
        n_samples=n_samples,
        nominal_samples=nominal,
        flops_per_sample=flops_per_sample,
        **extra,
    )


def _run(benchmark, fn, bench_config, *, iterations=1, min_rounds=1):
    benchmark.pedantic(
        fn, rounds=max(bench_config.rounds, min_rounds), iterations=iterations, warmup_rounds=1
    )
    benchmark.extra_info["peak_rss_mb"] = peak_rss_mb()


def _epoch_samples(case, bench_config):
    n = bench_config.samples
    if case.rows == "1/4":
        n //= 4
    elif case.rows == "1/2":
        n //= 2
    if case.contender in SLOW_CONTENDERS and case.batch_size <= SLOW_BATCH:
        n = min(n, bench_config.slow_samples)
    return n


def _bench_epoch(benchmark, case, bench_config, dataset, group):
    n = _epoch_samples(case, bench_config)
    X, Y = dataset.get(case.dtype, n)
    epoch = make_epoch(case.contender, case.sizes, case.dtype, X, Y, batch_size=case.batch_size)
    _record(
        benchmark,
        case,
        group=group,
        n_samples=n,
        nominal=NOMINAL_SAMPLES,
        flops_per_sample=train_flops_per_sample(case.sizes),
        setting=f"{net_name(case.sizes)} {SHORT[case.dtype]} b{case.batch_size}",
    )
    _run(benchmark, epoch, bench_config)


# -- gemm: the machine limit, measured at the start and at the end of the run -------------------
def _gemm_cases(when):
    settings = [dict(dtype=d, tag=f"gemm-{when}") for d in DTYPES]
    return _cases(settings, contenders=("numpy", "scipy"))


def _bench_gemm(benchmark, case, bench_config, when):
    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(0)
    A = rng.random((m, k)).astype(case.dtype)
    B = rng.random((k, n)).astype(case.dtype)
    C = np.empty((m, n), dtype=case.dtype)
    if case.contender == "numpy":

        def gemm():
            for _ in range(GEMM_REPS):
                np.matmul(A, B, out=C)

    else:  # SciPy's BLAS, the one nncore's kernels call; C^T = B^T A^T keeps every operand unpacked
        from scipy.linalg import blas

        xgemm = blas.dgemm if case.dtype == "float64" else blas.sgemm

        def gemm():
            for _ in range(GEMM_REPS):
                xgemm(1.0, B.T, A.T, c=C.T, overwrite_c=True)

        gemm()
        assert np.allclose(C, A @ B, rtol=1e-4), "SciPy gemm call does not compute A @ B in place"
    _record(
        benchmark,
        case,
        group="gemm",
        n_samples=GEMM_REPS,
        nominal=GEMM_REPS,
        flops_per_sample=2 * m * k * n,
        setting=f"({m}x{k})@({k}x{n}) {SHORT[case.dtype]} {when}",
        gemm_shape=list(GEMM_SHAPE),
        when=when,
    )
    _run(benchmark, gemm, bench_config, min_rounds=5)


@_gemm_cases("start")
@pytest.mark.benchmark(group="gemm")
def test_gemm(benchmark, case, bench_config):
    _bench_gemm(benchmark, case, bench_config, "start")


# -- epoch: 784-30-10 ------------------------------------------------------------------------------
@_cases([dict(dtype=d, batch_size=b) for d in DTYPES for b in (1, 10, 32, 128, 1024)])
@pytest.mark.benchmark(group="epoch")
def test_epoch(benchmark, case, bench_config, dataset):
    _bench_epoch(benchmark, case, bench_config, dataset, "epoch")


# -- wide: 784-256-256-10 --------------------------------------------------------------------------
@_cases(
    [dict(dtype=d, sizes=WIDE, batch_size=b, tag="wide") for d in DTYPES for b in (32, 128, 1024)]
)
@pytest.mark.benchmark(group="wide")
def test_wide(benchmark, case, bench_config, dataset):
    _bench_epoch(benchmark, case, bench_config, dataset, "wide")


# -- predict ---------------------------------------------------------------------------------------
PREDICT = [
    dict(
        dtype=d,
        sizes=s,
        rows=r,
        tag=("wide-" if s == WIDE else "") + ("n1" if r == "one" else "nall"),
    )
    for s in (SMALL, WIDE)
    for d in DTYPES
    for r in ("one", "all")
]


@_cases(PREDICT)
@pytest.mark.benchmark(group="predict")
def test_predict(benchmark, case, bench_config, dataset):
    X, Y = dataset.get(case.dtype)
    fit_data = (X[:10], Y[:10])  # scikit-learn must be fitted before it predicts
    one = case.rows == "one"
    if one:
        X = X[:1]
    predict = make_predict(case.contender, case.sizes, case.dtype, X, fit_data=fit_data)
    n = X.shape[0]
    _record(
        benchmark,
        case,
        group="predict",
        n_samples=n,
        nominal=1 if one else NOMINAL_SAMPLES,
        flops_per_sample=predict_flops_per_sample(case.sizes),
        setting=f"{net_name(case.sizes)} {SHORT[case.dtype]} {'1 row' if one else 'all rows'}",
    )
    if one:
        _run(benchmark, predict, bench_config, iterations=PREDICT_ONE_ITERATIONS, min_rounds=5)
    else:
        _run(benchmark, predict, bench_config)


# -- gradient over the whole data set --------------------------------------------------------------
@_cases([dict(dtype=d, sizes=WIDE, tag="wide") for d in DTYPES])
@pytest.mark.benchmark(group="gradient")
def test_gradient(benchmark, case, bench_config, dataset):
    X, Y = dataset.get(case.dtype)
    gradient = make_gradient(case.contender, case.sizes, case.dtype, X, Y)
    _record(
        benchmark,
        case,
        group="gradient",
        n_samples=X.shape[0],
        nominal=NOMINAL_SAMPLES,
        flops_per_sample=train_flops_per_sample(case.sizes),
        setting=f"{net_name(case.sizes)} {SHORT[case.dtype]} all rows",
    )
    _run(benchmark, gradient, bench_config)


# -- scaling: samples and width (nncore, with NumPy for reference) ---------------------------------
SCALING = [
    dict(dtype="float64", batch_size=10, rows=r, tag=tag)
    for r, tag in (("1/4", "n-quarter"), ("1/2", "n-half"), ("all", "n-full"))
] + [dict(dtype="float64", batch_size=10, sizes=(784, h, 10), tag=f"h{h}") for h in (30, 100, 300)]


@_cases(SCALING, contenders=("nncore", "numpy"))
@pytest.mark.benchmark(group="scaling")
def test_scaling(benchmark, case, bench_config, dataset):
    n = _epoch_samples(case, bench_config)
    X, Y = dataset.get(case.dtype, n)
    epoch = make_epoch(case.contender, case.sizes, case.dtype, X, Y, batch_size=case.batch_size)
    kind = "samples" if case.tag.startswith("n") else "width"
    setting = f"n={n}" if kind == "samples" else f"{net_name(case.sizes)}"
    _record(
        benchmark,
        case,
        group="scaling",
        n_samples=n,
        nominal=NOMINAL_SAMPLES,
        flops_per_sample=train_flops_per_sample(case.sizes),
        setting=setting,
        scaling=kind,
        hidden=case.sizes[1],
    )
    _run(benchmark, epoch, bench_config)


# -- gemm again at the end: a limit that moved during the run means the machine was busy ---------
@_gemm_cases("end")
@pytest.mark.benchmark(group="gemm")
def test_gemm_end(benchmark, case, bench_config):
    _bench_gemm(benchmark, case, bench_config, "end")
