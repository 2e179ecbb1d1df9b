"""pytest-benchmark configuration of nncore's speed suite (issues 3, 13 and 16).

Run it explicitly -- ``pyproject.toml`` sets ``testpaths = ["tests"]`` so a plain ``pytest`` never
collects it::

    pytest benchmarks/ --benchmark-json=bench.json      # full size: minutes, on a quiet machine
    python benchmarks/report.py bench.json              # the tables of the closing note
    pytest benchmarks/ --nn-samples 2000 --nn-rounds 1  # a smoke run: seconds

Options (all ``--nn-*``):

``--nn-samples N``       samples per epoch, rows of ``predict``/``gradient`` (default 60000)
``--nn-rounds R``        timed rounds per benchmark, after one warm-up round (default 3)
``--nn-slow-samples N``  PyTorch and scikit-learn at batch sizes <= 10 train on only the first
                         N samples (default 6000); ``report.py`` scales every time to a
                         60,000-sample epoch
``--nn-threads N``       limit every BLAS/OpenMP pool (threadpoolctl) and PyTorch to N threads;
                         benchmarks that set their own count (``-t1``/``-t2`` ids) keep it, and
                         are skipped when it is larger than N
``--nn-dask-rows N``     rows of the ``dask`` group's L-BFGS fits (default 80000)
``--nn-dask-iterations`` L-BFGS iterations of those fits (default 10)

Never run two timing jobs at once on a small machine: multi-threaded BLAS slows down many times when
another process is busy. All contenders of one setting run next to each other in one process.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Import every contender before any thread limit is applied: threadpoolctl only limits the pools of
# libraries already loaded, and nncore calls the BLAS bundled with SciPy, not NumPy's.
import scipy.linalg.cython_blas  # noqa: E402, F401
from harness import NOMINAL_SAMPLES, Dataset, peak_rss_mb  # noqa: E402

# (nncore.sklearn and nncore.onnx too: their imports would otherwise land in a first timed call)
for _name in (
    "nncore",
    "sklearn.neural_network",
    "torch",
    "onnxruntime",
    "nncore.sklearn",
    "nncore.onnx",
):
    try:
        __import__(_name)
    except ImportError:
        pass


def pytest_addoption(parser):
    group = parser.getgroup("nncore benchmarks")
    group.addoption(
        "--nn-samples",
        type=int,
        default=NOMINAL_SAMPLES,
        help="samples per epoch and rows of predict/gradient (default 60000)",
    )
    group.addoption(
        "--nn-rounds",
        type=int,
        default=3,
        help="timed rounds per benchmark after one warm-up round (default 3)",
    )
    group.addoption(
        "--nn-slow-samples",
        type=int,
        default=6000,
        help="samples per epoch for PyTorch/scikit-learn at batch sizes <= 10 "
        "(default 6000; report.py scales to 60000)",
    )
    group.addoption(
        "--nn-dask-rows",
        type=int,
        default=80_000,
        help="rows of the dask group's L-BFGS fits (default 80000)",
    )
    group.addoption(
        "--nn-dask-iterations",
        type=int,
        default=10,
        help="L-BFGS iterations of the dask group's fits (default 10)",
    )
    group.addoption(
        "--nn-threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP pools (threadpoolctl) and PyTorch to N threads",
    )


@dataclass(frozen=True)
class BenchConfig:
    samples: int
    rounds: int
    slow_samples: int
    threads_option: int | None  # --nn-threads as given
    threads: int  # what PyTorch is set to: the option, else the BLAS pool size in use


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return max(counts) if counts else None


def _threadpool_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keys = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "num_threads",
        "threading_layer",
        "architecture",
        "filepath",
    )
    return [{k: p.get(k) for k in keys} for p in threadpool_info()]


_LIMITER = None


def pytest_configure(config):
    global _LIMITER
    samples = config.getoption("--nn-samples", default=None)
    if samples is None:  # not our run (e.g. pytest --help from elsewhere)
        return
    rounds, slow = config.getoption("--nn-rounds"), config.getoption("--nn-slow-samples")
    if samples < 4 or rounds < 1 or slow < 1:
        raise pytest.UsageError("--nn-samples must be >= 4, --nn-rounds and --nn-slow-samples >= 1")
    threads = config.getoption("--nn-threads")
    if threads is not None:
        if threads < 1:
            raise pytest.UsageError("--nn-threads must be >= 1")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            raise pytest.UsageError(
                "--nn-threads needs threadpoolctl (pip install threadpoolctl); or set "
                "OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting Python"
            ) from None
        _LIMITER = threadpool_limits(limits=threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads or _blas_threads() or os.cpu_count() or 1)


def pytest_unconfigure(config):
    global _LIMITER
    if _LIMITER is not None:
        _LIMITER.restore_original_limits()
        _LIMITER = None


def pytest_report_header(config):
    threads = config.getoption("--nn-threads", default=None)
    return (
        f"nncore benchmarks: --nn-samples {config.getoption('--nn-samples')} "
        f"--nn-rounds {config.getoption('--nn-rounds')} "
        f"--nn-slow-samples {config.getoption('--nn-slow-samples')} "
        f"--nn-threads {threads if threads is not None else 'unset'} "
        f"(BLAS threads in use: {_blas_threads() or 'unknown, threadpoolctl missing'})"
    )


@pytest.fixture(scope="session")
def bench_config(pytestconfig):
    threads_option = pytestconfig.getoption("--nn-threads")
    return BenchConfig(
        samples=pytestconfig.getoption("--nn-samples"),
        rounds=pytestconfig.getoption("--nn-rounds"),
        slow_samples=pytestconfig.getoption("--nn-slow-samples"),
        threads_option=threads_option,
        threads=threads_option or _blas_threads() or os.cpu_count() or 1,
    )


@pytest.fixture(scope="session")
def dataset(bench_config):
    return Dataset(bench_config.samples)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Record the run's settings, thread pools, versions and peak RSS beside the timings."""
    for bench in output_json["benchmarks"]:
        # The Case dataclass is not JSON; its id says the same.
        bench["params"] = {"case": bench.get("param")}
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in (
        "scipy",
        "nncore",
        "sklearn",
        "torch",
        "onnx",
        "onnxruntime",
        "threadpoolctl",
        "pytest_benchmark",
        "dask",
        "distributed",
    ):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    threads = config.getoption("--nn-threads", default=None)
    torch = sys.modules.get("torch")
    output_json["nncore_bench"] = {
        "nn_samples": config.getoption("--nn-samples", default=None),
        "nn_rounds": config.getoption("--nn-rounds", default=None),
        "nn_slow_samples": config.getoption("--nn-slow-samples", default=None),
        "nn_threads": threads,
        "nn_dask_rows": config.getoption("--nn-dask-rows", default=None),
        "nn_dask_iterations": config.getoption("--nn-dask-iterations", default=None),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "threadpools": _threadpool_info(),
        "cpu_count": os.cpu_count(),
        "peak_rss_mb": peak_rss_mb(),
        "nominal_samples": NOMINAL_SAMPLES,
        "versions": versions,
    }
