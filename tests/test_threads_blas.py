"""fit's control of the BLAS thread pools (issue 3: threads that never hurt)."""

import numpy as np
import pytest

import nncore
from nncore import _parallel

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads_seen_during_fit(**kw):
    seen = []

    def cb(epoch, logs):
        seen.append(max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                        if i["user_api"] == "blas"))

    rng = np.random.default_rng(0)
    X, Y = rng.random((128, 784)), rng.random((128, 10))
    # wide enough that fit runs whole minibatches (no cache blocks)
    net = nncore.Network([784, 256, 10], seed=0)
    assert _parallel.block_rows(net.sizes, net.dtype, 128) == 0
    net.fit(X, Y, epochs=1, callbacks=[cb], **kw)
    return seen[0]


def test_small_batches_run_blas_on_one_thread():
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert 10 * 784 * 256 < _parallel.SINGLE_THREAD_WORK
        assert blas_threads_seen_during_fit(batch_size=10) == 1
        # 128 x 784 x 256 is above SINGLE_THREAD_WORK: BLAS keeps its setting
        assert 128 * 784 * 256 >= _parallel.SINGLE_THREAD_WORK
        assert blas_threads_seen_during_fit(batch_size=128) == 2
        assert blas_threads_seen_during_fit(batch_size=10, blas_threads=None) == 2
        assert blas_threads_seen_during_fit(batch_size=128, blas_threads=1) == 1
        # and the setting is restored after fit
        assert max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas") == 2


def test_results_do_not_depend_on_the_thread_setting():
    rng = np.random.default_rng(1)
    X, Y = rng.random((200, 20)), rng.random((200, 3))
    a = nncore.Network([20, 8, 3], seed=0).fit(X, Y, epochs=2, batch_size=10, blas_threads=1)
    b = nncore.Network([20, 8, 3], seed=0).fit(X, Y, epochs=2, batch_size=10, blas_threads=None)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


def test_bad_setting_is_refused():
    net = nncore.Network([2, 1], seed=0)
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ValueError, match="blas_threads"):
            net.fit([[0.0, 1.0]], [1.0], epochs=1, blas_threads=bad)


def test_without_threadpoolctl_fit_still_works(monkeypatch):
    from nncore import _parallel

    monkeypatch.setattr(_parallel, "_blas_controller", False)
    net = nncore.Network([2, 1], seed=0).fit([[0.0, 1.0]], [1.0], epochs=2, batch_size=1)
    assert len(net.history["loss"]) == 2
    # BLAS cannot be held to one thread: "auto" never starts nncore's own threads ...
    assert _parallel.train_threads("auto", [784, 30, 10], np.dtype(np.float64), 1024) == 1
    # ... unless BLAS is left alone knowingly, and an explicit count warns
    with pytest.warns(RuntimeWarning, match="oversubscribes"):
        assert _parallel.train_threads(2, [784, 30, 10], np.dtype(np.float64), 1024) == 2


def _blas_threads():
    return max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


@pytest.mark.skipif(_parallel.available_cpus() < 2, reason="needs 2 CPUs for 2 BLAS threads")
def test_lbfgs_runs_scipy_on_one_blas_thread_and_evaluations_on_the_callers():
    # SciPy's L-BFGS-B does level-1 BLAS on the whole vector hundreds of times an
    # iteration: on 2 threads each call wakes the second (3x slower per iteration)
    from nncore.optimizers import LBFGS

    d = np.linspace(1.0, 2.0, 5000)
    in_fun, in_solver = [], []

    def fun(x):
        in_fun.append(_blas_threads())
        return 0.5 * float(d @ (x * x)), d * x

    with threadpoolctl.threadpool_limits(2):
        LBFGS().minimize(fun, np.ones(5000), max_iter=3,
                         callback=lambda r: in_solver.append(_blas_threads()))
        after = _blas_threads()
    assert in_fun and set(in_fun) == {2}
    assert in_solver and set(in_solver) == {1}
    assert after == 2


def test_blas_limit_sets_the_count_and_restores_it():
    """blas_limit(n) runs BLAS on n threads inside and gives the count back after,
    whether it raises or lowers it; at the count already set it changes nothing."""
    libs = _parallel._controller().select(user_api="blas").lib_controllers
    if not libs:
        pytest.skip("threadpoolctl finds no BLAS here")

    def counts():
        return [lib.get_num_threads() for lib in libs]

    with threadpoolctl.threadpool_limits(2):
        two = counts()  # (what the pools take of 2: fewer on a one-core machine)
    with threadpoolctl.threadpool_limits(1):
        with _parallel.blas_limit(1):
            assert counts() == [1] * len(libs)
        with _parallel.blas_limit(2):
            assert counts() == two
        assert counts() == [1] * len(libs)
    with threadpoolctl.threadpool_limits(2):
        with _parallel.blas_limit(1):
            assert counts() == [1] * len(libs)
        assert counts() == two
