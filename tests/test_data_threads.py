"""fit(n_threads=...): every minibatch split across threads, each with its own
part of the rows and its own gradient buffer, the parts added before the update."""

import multiprocessing
import os
import sys

import numpy as np
import pytest
from conftest import assert_close
from test_against_reference import random_case

import nncore
from nncore import _kernels, _parallel


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("n_threads,batch_size,block_rows", [
    (2, 7, 0),    # parts of 4 and 3 rows; the last minibatch (23 % 7 = 2) one row each
    (3, 2, 0),    # a minibatch of 2 rows: the third thread's part is empty
    (5, 23, 0),   # full batch, parts of 5, 5, 5, 4, 4
    (2, 9, 2),    # parts cut further into cache blocks of 2 rows
])
def test_threads_take_the_reference_steps(optimizer, n_threads, batch_size, block_rows,
                                          monkeypatch, dtype):
    monkeypatch.setattr(_parallel, "BLOCK_ROWS", block_rows)
    net, ref, X, Y = random_case(11, 23, dtype)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, 23)
    kw = dict(epochs=3, batch_size=batch_size, learning_rate=0.3, optimizer=optimizer,
              weight_decay=0.01, sample_weight=sw)
    net.fit(X, Y, n_threads=n_threads, **kw)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), **kw)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def digits_like(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 64))
    Y = np.eye(10)[rng.integers(0, 10, n)]
    return X, Y


@pytest.mark.parametrize("n_threads", [2, 3])
def test_same_thread_count_same_bits_and_continued_training(n_threads):
    X, Y = digits_like()
    kw = dict(batch_size=64, learning_rate=0.5, n_threads=n_threads)
    a = nncore.Network([64, 32, 10], seed=4).fit(X, Y, epochs=4, **kw)
    b = nncore.Network([64, 32, 10], seed=4).fit(X, Y, epochs=4, **kw)
    c = nncore.Network([64, 32, 10], seed=4).fit(X, Y, epochs=2, **kw).fit(X, Y, epochs=2, **kw)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.params, c.params)
    assert a.history["loss"] == b.history["loss"] == c.history["loss"]


def test_threads_agree_with_one_thread_to_rounding(dtype):
    """Same minibatches, same steps: only the order of the gradient sums differs.
    Accuracy counts are integers and must match exactly."""
    X, Y = digits_like(seed=1)
    X, Y = X.astype(dtype), Y.astype(dtype)
    runs = [nncore.Network([64, 32, 10], seed=2, dtype=dtype).fit(
        X, Y, epochs=2, batch_size=100, learning_rate=0.5, n_threads=nt) for nt in (1, 2, 4)]
    for other in runs[1:]:
        assert_close(other.params, runs[0].params, dtype)
        assert_close(other.history["loss"], runs[0].history["loss"], dtype)
        assert other.history["accuracy"] == runs[0].history["accuracy"]


def test_divergence_with_threads_restores_the_last_finite_epoch():
    X, Y = digits_like(seed=2)
    net = nncore.Network([64, 32, 10], activation="relu", output="identity", seed=0)
    net.fit(X, Y, epochs=1, batch_size=100, learning_rate=1e-3, n_threads=2)
    good = net.params.copy()
    with pytest.raises(nncore.DivergenceError):
        net.fit(X * 1e150, Y, epochs=3, batch_size=100, learning_rate=1e10, n_threads=2)
    np.testing.assert_array_equal(net.params, good)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, _kernels.MAX_THREADS + 1])
def test_bad_n_threads_is_refused_before_training(bad):
    net = nncore.Network([2, 3, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="n_threads"):
        net.fit([[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0], epochs=1, n_threads=bad)
    np.testing.assert_array_equal(net.params, before)


def test_kernel_refuses_a_workspace_too_small_for_its_threads():
    sizes = np.array([5, 4, 2], np.intp)
    acts = np.array([0, 0], np.intc)
    params = np.zeros(_kernels.n_params(sizes))
    X, Y = np.ones((8, 5)), np.ones((8, 2))
    order = np.empty(8, np.intp)
    rng, step = np.zeros(1, np.uint64), np.zeros(1, np.uint64)
    opt = dict(kind=0, learning_rate=0.1, weight_decay=0.0, alpha=0.0, momentum=0.0, beta1=0.0,
               beta2=0.0, epsilon=0.0)

    def epoch(nt):
        return dict(batch_size=8, shuffle=1, metric=0, block_rows=0, n_threads=nt,
                    stop_nonfinite=1)
    one = _kernels.train_workspace_size(sizes, 8, 8, 0, 0, 1)
    two = _kernels.train_workspace_size(sizes, 8, 8, 0, 0, 2)
    for nt, ws_len in [(2, one), (2, two - 1), (3, two)]:
        with pytest.raises(ValueError, match="workspace"):
            _kernels.train_epoch(params, sizes, acts, 0, X, Y, None, order, rng, opt, None,
                                 step, np.empty(ws_len), epoch(nt))
    for nt in (0, -2, _kernels.MAX_THREADS + 1):
        with pytest.raises(ValueError, match="n_threads"):
            _kernels.train_epoch(params, sizes, acts, 0, X, Y, None, order, rng, opt, None,
                                 step, np.empty(10 * two), epoch(nt))
        with pytest.raises(ValueError, match="n_threads"):
            _kernels.train_workspace_size(sizes, 8, 8, 0, 0, nt)
    np.testing.assert_array_equal(params, 0.0)  # nothing ran


def test_auto_splits_only_large_minibatches(monkeypatch):
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 2)
    monkeypatch.setattr(_kernels, "_threads_usable", lambda: True)
    monkeypatch.setattr(_parallel, "blas_pinnable", lambda: True)
    f64, f32 = np.dtype(np.float64), np.dtype(np.float32)
    pick = _parallel.train_threads
    # (10 or 32 rows: too few to split by rows, split by neurons, test_neuron_split)
    assert pick("auto", [784, 30, 10], f64, 10) == 2
    assert pick("auto", [784, 30, 10], f64, 32) == 2
    monkeypatch.setattr(_kernels, "split_neurons", lambda *args: False)
    assert pick("auto", [784, 30, 10], f64, 10) == 1
    assert pick("auto", [784, 30, 10], f64, 32) == 1  # 16 rows a thread: below THREAD_ROWS
    assert pick("auto", [784, 30, 10], f64, 64) == 2
    assert pick("auto", [784, 30, 10], f32, 1024) == 2
    # wide: BLAS's own threads split the weights instead, unless the minibatch is large
    assert pick("auto", [784, 256, 256, 10], f64, 128) == 1
    assert pick("auto", [784, 256, 256, 10], f64, 255) == 1
    assert pick("auto", [784, 256, 256, 10], f64, 256) == 2
    # tiny: too little work per thread even in large minibatches
    assert pick("auto", [2, 3, 1], f64, 4096) == 1
    assert pick("auto", [64, 32, 10], f64, 64) == 1
    assert pick("auto", [64, 32, 10], f64, 128) == 2
    # an explicit count is taken as given
    assert pick(3, [2, 3, 1], f64, 4) == 3
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 1)
    assert pick("auto", [784, 30, 10], f64, 1024) == 1
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 8)
    assert pick("auto", [784, 30, 10], f64, 128) == 4  # at most THREAD_ROWS rows apart
    monkeypatch.setattr(_kernels, "_threads_usable", lambda: False)
    assert pick("auto", [784, 30, 10], f64, 1024) == 1
    monkeypatch.setattr(_kernels, "_threads_usable", lambda: True)
    # BLAS left free (or not pinnable): its threads and nncore's would oversubscribe
    assert pick("auto", [784, 30, 10], f64, 1024, blas_setting=None) == 1
    assert pick("auto", [784, 30, 10], f64, 1024, blas_setting=2) == 1
    assert pick("auto", [784, 30, 10], f64, 1024, blas_setting=1) == 8
    monkeypatch.setattr(_parallel, "blas_pinnable", lambda: False)  # no threadpoolctl
    assert pick("auto", [784, 30, 10], f64, 1024) == 1
    assert pick("auto", [784, 30, 10], f64, 1024, blas_setting=1) == 1


def test_available_cpus_honours_omp_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    n = _parallel.available_cpus()
    assert n >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _parallel.available_cpus() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert _parallel.available_cpus() == n


def test_threadpoolctl_limits_on_openmp_hold_nncore_too():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _kernels.OPENMP:
        pytest.skip("built without OpenMP")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert _parallel.available_cpus() == 1
        assert _parallel.train_threads("auto", [784, 30, 10], np.dtype(np.float64), 1024) == 1
    with threadpoolctl.threadpool_limits(1):
        assert _parallel.available_cpus() == 1


def test_blas_runs_on_one_thread_while_nncore_splits_the_minibatch():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []

    def cb(epoch, logs):
        seen.append(max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                        if i["user_api"] == "blas"))

    X, Y = digits_like()
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        nncore.Network([64, 32, 10], seed=0).fit(X, Y, epochs=1, batch_size=600,
                                                  n_threads=2, callbacks=[cb])
        with pytest.warns(RuntimeWarning, match="oversubscribes"):
            nncore.Network([64, 32, 10], seed=0).fit(X, Y, epochs=1, batch_size=600, n_threads=2,
                                                      blas_threads=None, callbacks=[cb])
    assert seen == [1, 2]


def _fit_in_child(queue):
    X, Y = digits_like()
    net = nncore.Network([64, 32, 10], seed=9).fit(X, Y, epochs=2, batch_size=128,
                                                   learning_rate=0.5, n_threads=2)
    queue.put((net.params.tobytes(), _kernels._threads_usable()))


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                    reason="needs the fork start method")
def test_a_forked_child_trains_after_the_parent_ran_threads():
    """GNU OpenMP hangs in a child forked after the parent ran a parallel region;
    there nncore runs the same parts one after another: no hang, same bits."""
    X, Y = digits_like()
    parent = nncore.Network([64, 32, 10], seed=9).fit(X, Y, epochs=2, batch_size=128,
                                                      learning_rate=0.5, n_threads=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_fit_in_child, args=(queue,))
    child.start()
    try:
        params, usable = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert usable is False or not _kernels.OPENMP
    np.testing.assert_array_equal(np.frombuffer(params), parent.params)


@pytest.mark.parametrize("dtype_", [np.float64, np.float32])
@pytest.mark.parametrize("bad_rows", [[2500, 2900], [10, 2900], [2999]])
def test_large_inputs_are_scanned_by_threads_and_the_first_bad_row_named(bad_rows, dtype_):
    from nncore import _parallel

    X = np.random.default_rng(0).random((3000, 784)).astype(dtype_)
    assert X.nbytes >= _parallel.SCAN_BYTES  # the threaded scan
    for r in bad_rows:
        X[r, 7] = np.nan if r % 2 else np.inf
    net = nncore.Network([784, 30, 10], seed=0, dtype=dtype_)
    with pytest.raises(ValueError, match=f"row {bad_rows[0]}, column 7"):
        net.fit(X, np.zeros((3000, 10)), epochs=1)
    for nt in (1, 2, 3, 7):
        assert _kernels.first_nonfinite_row(X, nt) == bad_rows[0]
        assert _kernels.first_nonfinite_row(np.ones_like(X), nt) == -1


@pytest.mark.parametrize("n_threads", [2, 3, 4])
def test_threaded_passes_match_the_reference(monkeypatch, n_threads, dtype):
    """predict, loss and gradient with the rows in small chunks spread over threads."""
    monkeypatch.setattr(_parallel, "PASS_WORK", 0)
    monkeypatch.setattr(_parallel, "CHUNK_ROWS", 7)
    monkeypatch.setattr(_parallel, "available_cpus", lambda: n_threads)
    monkeypatch.setattr(_parallel, "blas_pinnable", lambda: True)
    net, ref, X, Y = random_case(21, 257, dtype)
    assert _parallel.pass_threads(257, _parallel.work_per_row(net.sizes)) == n_threads
    sw = np.random.default_rng(1).uniform(0.5, 2.0, 257)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    assert_close(net.predict(X), ref.predict(Xl), dtype)
    assert_close(net.loss(X, Y), ref.loss(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y, sample_weight=sw),
                 ref.gradient(Xl, Yl, sample_weight=sw.tolist()), dtype)


@pytest.mark.parametrize("n", [1, 5, 64, 300])
def test_forward_kernel_rows_do_not_depend_on_the_thread_count(n):
    rng = np.random.default_rng(n)
    sizes = np.array([9, 7, 3], np.intp)
    acts = np.array([0, 0], np.intc)
    params = rng.normal(size=_kernels.n_params(sizes))
    X = rng.normal(size=(n, 9))
    outs = []
    for nt in (1, 2, 3, 5):
        out = np.full((n, 3), np.nan)
        ws = np.empty(_kernels.pass_workspace_size(sizes, 16, nt))
        _kernels.forward(params, sizes, acts, X, out, ws, nt)
        outs.append(out)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])  # the same chunks, computed alike
    grads = []
    for nt in (1, 2, 3, 5):
        g = np.empty(_kernels.n_params(sizes))
        ws = np.empty(_kernels.pass_workspace_size(sizes, 16, nt, True))
        loss = _kernels.loss_gradient(params, sizes, acts, 0, X, X[:, :3] * 0.1, None, g, ws,
                                      True, nt)
        grads.append((loss, g))
    for loss, g in grads[1:]:
        assert_close(loss, grads[0][0], np.float64)
        assert_close(g, grads[0][1], np.float64)


def test_pass_workspace_too_small_for_its_threads_is_refused():
    sizes = np.array([9, 7, 3], np.intp)
    acts = np.array([0, 0], np.intc)
    params = np.zeros(_kernels.n_params(sizes))
    X, out, g = np.ones((10, 9)), np.empty((10, 3)), np.empty(_kernels.n_params(sizes))
    for nt in (2, 3):
        short = np.empty(_kernels.pass_workspace_size(sizes, 1, nt) - 1)
        with pytest.raises(ValueError, match="workspace"):
            _kernels.forward(params, sizes, acts, X, out, short, nt)
        short = np.empty(_kernels.pass_workspace_size(sizes, 1, nt, True) - 1)
        with pytest.raises(ValueError, match="workspace"):
            _kernels.loss_gradient(params, sizes, acts, 0, X, out, None, g, short, True, nt)


def _hold_pin_in_another_thread():
    """Start a thread that holds _parallel.pinned_blas() until the returned event is set."""
    import threading

    got, release = threading.Event(), threading.Event()

    def hold():
        with _parallel.pinned_blas() as pinned:
            assert pinned
            got.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert got.wait(30)
    return t, release


def test_a_second_python_thread_runs_on_one_thread_while_blas_is_pinned(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_parallel, "PASS_WORK", 0)
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 2)

    def blas_threads():
        return max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas")

    net = nncore.Network([20, 8, 3], seed=0)
    X, Y = np.random.default_rng(0).random((500, 20)), np.zeros((500, 3))
    used = []
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        # this thread controls BLAS now: another one's limit would be ignored
        import threading

        seen = []

        def try_pin():
            with _parallel.pinned_blas() as pinned:
                seen.append(pinned)
                _parallel.run_pass(500, _parallel.work_per_row(net.sizes), used.append)

        t = threading.Thread(target=try_pin)
        t.start()
        t.join()
        assert seen == [False] and used == [1]
    used.clear()
    before = blas_threads()
    holder, release = _hold_pin_in_another_thread()
    try:
        assert blas_threads() == 1
        _parallel.run_pass(500, _parallel.work_per_row(net.sizes), used.append)
        assert used == [1]  # the holder's limit would be lifted under our threads
        # fit: "auto" falls back to one thread; an explicit count warns
        assert _parallel._unpinned_threads("auto", 2) == 1
        with pytest.warns(RuntimeWarning, match="another Python thread"):
            net.fit(X, Y, epochs=1, batch_size=500, n_threads=2)
        net.fit(X, Y, epochs=1, batch_size=500)
    finally:
        release.set()
        holder.join()
    assert blas_threads() == before  # given back by the holder
    _parallel.run_pass(500, _parallel.work_per_row(net.sizes), used.append)
    assert used[-1] == (2 if _kernels._threads_usable() else 1)
    with _parallel.pinned_blas() as outer:
        assert outer
        # re-entrant in the holding thread (fit's validation pass)
        with _parallel.pinned_blas() as inner:
            assert inner and blas_threads() == 1
        assert blas_threads() == 1
    assert blas_threads() == before


def test_concurrent_threaded_predicts_agree_with_serial(monkeypatch):
    import concurrent.futures

    monkeypatch.setattr(_parallel, "PASS_WORK", 0)
    net = nncore.Network([30, 16, 4], seed=1)
    Xs = [np.random.default_rng(i).random((3000, 30)) for i in range(6)]
    serial = [net.predict(X) for X in Xs]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(net.predict, Xs), serial):
                assert_close(got, want, np.float64)
