"""fit(n_threads=...) on small minibatches: each layer's neurons split across the
threads (forward, deltas, weight gradient and step), the output layer and the loss
by rows, instead of each thread taking some of the rows (test_data_threads)."""

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import assert_close

import nncore
from nncore import _kernels, _parallel, optimizers, reference

pytestmark = pytest.mark.skipif(not _kernels.OPENMP, reason="built without OpenMP")

SIZES = [13, 9, 6, 4]


def case(dtype, sizes=SIZES, n=23, activation="sigmoid", output="sigmoid", loss="mse", seed=5):
    rng = np.random.default_rng(seed)
    net = nncore.Network(sizes, activation=activation, output=output, loss=loss, dtype=dtype,
                         seed=seed)
    net.params = net.params + rng.normal(0, 0.3, net.n_params)
    X = rng.uniform(-2, 2, (n, sizes[0])).astype(dtype)
    if output == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)].astype(dtype)
    else:
        Y = rng.uniform(0, 1, (n, sizes[-1])).astype(dtype)
    ref = reference.Network(sizes, activation=activation, output=output, loss=loss, seed=seed)
    ref.params = [float(p) for p in net.params]
    return net, ref, X, Y


def optimizer_pair(name):
    """nncore's optimiser and its reference twin, with weight decay."""
    if name == "adam":
        return (optimizers.Adam(0.01, weight_decay=0.01),
                reference.Adam(0.01, weight_decay=0.01))
    kw = dict(momentum=0.0 if name == "sgd" else 0.9, nesterov=name == "nesterov",
              weight_decay=0.01)
    return optimizers.SGD(0.3, **kw), reference.SGD(0.3, **kw)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("n_threads,batch_size", [
    (2, 7),   # the last minibatch (23 % 7 = 2) one row a thread
    (3, 5),   # 6 neurons: 2 a thread; the output layer's 4 cut 1, 1, 2
    (4, 3),   # 3 rows on 4 threads: one thread has no row of the loss
])
def test_split_threads_take_the_reference_steps(optimizer, n_threads, batch_size, dtype,
                                                neuron_split):
    net, ref, X, Y = case(dtype)
    assert _kernels.split_neurons(np.array(SIZES, np.intp), batch_size, n_threads)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, 23)
    ours, theirs = optimizer_pair(optimizer)
    kw = dict(epochs=3, batch_size=batch_size, sample_weight=sw)
    net.fit(X, Y, n_threads=n_threads, optimizer=ours, **kw)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), optimizer=theirs, **kw)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


@pytest.mark.parametrize("activation,output,loss", [
    ("relu", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"),
    ("leaky_relu", "identity", "mse"),
])
def test_split_threads_every_layer_kind(activation, output, loss, dtype, neuron_split):
    net, ref, X, Y = case(dtype, activation=activation, output=output, loss=loss)
    one = copy.deepcopy(net)
    kw = dict(epochs=2, batch_size=6, learning_rate=0.1, optimizer="momentum")
    net.fit(X, Y, n_threads=2, **kw)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), **kw)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)
    if output == "softmax":  # (counted by the threads over their rows)
        one.fit(X, Y, n_threads=1, **kw)
        assert net.history["accuracy"] == one.history["accuracy"]


def test_shares_cut_on_whole_vectors(dtype, neuron_split):
    """Layers of at least 16 neurons a thread cut their shares on multiples of 16
    (100 neurons on 3 threads: 32, 32, 36), narrower ones evenly."""
    net, ref, X, Y = case(dtype, sizes=[20, 100, 37, 3], n=19)
    kw = dict(epochs=2, batch_size=8, learning_rate=0.2, optimizer="momentum")
    net.fit(X, Y, n_threads=3, **kw)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), **kw)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def test_a_wide_network_splits_by_default_and_agrees_with_one_thread(dtype):
    """784-128-10 at batch 16 on two threads takes the split (no forcing), and the
    steps are one thread's to rounding; the same thread count gives the same bits."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 200)]
    assert _kernels.split_neurons(np.array([784, 128, 10], np.intp), 16, 2)
    kw = dict(epochs=2, batch_size=16, learning_rate=0.5)
    runs = [nncore.Network([784, 128, 10], seed=1, dtype=dtype).fit(X, Y, n_threads=nt, **kw)
            for nt in (1, 2, 2)]
    assert_close(runs[1].params, runs[0].params, dtype)
    assert_close(runs[1].history["loss"], runs[0].history["loss"], dtype)
    np.testing.assert_array_equal(runs[1].params, runs[2].params)


def test_divergence_on_split_threads_restores_the_last_finite_epoch(neuron_split):
    net, _, X, Y = case(np.float64, activation="relu", output="identity")
    net.fit(X, Y, epochs=1, batch_size=8, learning_rate=1e-3, n_threads=2)
    good = net.params.copy()
    with pytest.raises(nncore.DivergenceError):
        net.fit(X * 1e150, Y, epochs=3, batch_size=8, learning_rate=1e10, n_threads=2)
    np.testing.assert_array_equal(net.params, good)


def test_sparse_input_is_split_by_rows(neuron_split):
    """CSR rows go the row-split way (their first layer reads the nonzeros): the
    same steps as the dense array."""
    sp = pytest.importorskip("scipy.sparse")
    net, _, X, Y = case(np.float64)
    X[np.abs(X) < 1.5] = 0.0
    kw = dict(epochs=2, batch_size=7, learning_rate=0.3, n_threads=2)
    a = copy.deepcopy(net).fit(X, Y, **kw)
    b = copy.deepcopy(net).fit(sp.csr_matrix(X), Y, **kw)
    assert_close(b.params, a.params, np.float64)


def test_fewer_threads_than_asked_take_the_same_steps():
    """OpenMP may start fewer threads than asked (OMP_THREAD_LIMIT): the threads it
    does start share out the neurons; the reference steps all the same."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from conftest import assert_close
        from test_neuron_split import case
        from nncore import _kernels
        _kernels._neuron_split(max_rows=64, min_neurons=1, min_work=0)
        net, ref, X, Y = case(np.float64)
        kw = dict(epochs=2, batch_size=7, learning_rate=0.3, optimizer="adam")
        net.fit(X, Y, n_threads=3, **kw)
        ref.fit(X.tolist(), Y.tolist(), **kw)
        assert_close(net.params, ref.params, np.float64)
        print("ok")
    """)
    env = dict(os.environ, OMP_THREAD_LIMIT="2")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_auto_splits_small_minibatches_of_wide_networks_by_neurons(monkeypatch):
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 2)
    monkeypatch.setattr(_kernels, "_threads_usable", lambda: True)
    monkeypatch.setattr(_parallel, "blas_pinnable", lambda: True)
    f64 = np.dtype(np.float64)
    pick = _parallel.train_threads
    for sizes, batch in [([784, 30, 10], 10), ([784, 256, 256, 10], 32),
                         ([784, 100, 10], 48), ([784, 128, 10], 64), ([784, 256, 256, 10], 128)]:
        assert _kernels.split_neurons(np.array(sizes, np.intp), batch, 2)
        assert pick("auto", sizes, f64, batch) == 2
    # too little work a thread, or too many rows (where the rows are split instead,
    # or, for wide networks, BLAS's threads split the products)
    for sizes, batch in [([64, 32, 10], 32), ([784, 30, 10], 4), ([784, 30, 10], 64),
                         ([784, 100, 10], 64), ([784, 256, 256, 10], 129), ([784, 8, 10], 32)]:
        assert not _kernels.split_neurons(np.array(sizes, np.intp), batch, 2)
    assert pick("auto", [784, 256, 256, 10], f64, 129) == 1
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 1)
    assert pick("auto", [784, 256, 256, 10], f64, 32) == 1
