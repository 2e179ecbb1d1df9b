"""Backpropagation's products that leave out the neurons whose deltas are all zero
(a relu neuron negative on every row of a minibatch) and, above the first layer,
the inputs zero on every row: the weight gradients (_idle_product in
_kernels.pyx) and the product carrying the deltas down (_idle_delta_product).

Their products would add zeros only, so leaving them out is the same mathematics:
against the pure-Python reference on every path that forms a weight gradient, and
against the whole products on networks where such neurons arise as they do in
scikit-learn's default fit (most of the first layer's neurons dead on inputs in
[0, 1]); and where a term left out would be 0 * inf, the whole products' NaNs.
Small networks go through it with the thresholds lowered to one row and one
input."""

import warnings

import numpy as np
import pytest
from conftest import assert_close

import nncore
from nncore import _kernels, optimizers, reference

OPTIMIZERS = {
    "sgd": (lambda: optimizers.SGD(0.2), lambda: reference.SGD(0.2)),
    # (plain SGD's step fused into the product: the left-out neurons' weights decay)
    "sgd-decay": (lambda: optimizers.SGD(0.1, weight_decay=0.05),
                  lambda: reference.SGD(0.1, weight_decay=0.05)),
    # (momentum's product adds into its velocity)
    "momentum": (lambda: optimizers.SGD(0.1, momentum=0.8),
                 lambda: reference.SGD(0.1, momentum=0.8)),
    "nesterov-decay": (lambda: optimizers.SGD(0.1, momentum=0.8, nesterov=True,
                                              weight_decay=0.01),
                       lambda: reference.SGD(0.1, momentum=0.8, nesterov=True,
                                             weight_decay=0.01)),
    "adam": (lambda: optimizers.Adam(0.01, weight_decay=0.01),
             lambda: reference.Adam(0.01, weight_decay=0.01)),
}


@pytest.fixture
def small_networks_skip():
    """Every weight gradient looks for idle neurons, however few its rows and inputs."""
    before = _kernels._idle_thresholds(1, 1)
    on = _kernels._skip_idle_neurons(True)
    yield
    _kernels._idle_thresholds(*before)
    _kernels._skip_idle_neurons(on)


def _on_and_off(f):
    """f() with idle neurons left out, then with every product whole."""
    out = []
    for on in (True, False):
        before = _kernels._skip_idle_neurons(on)
        try:
            out.append(f())
        finally:
            _kernels._skip_idle_neurons(before)
    return out


def _idle_case(dtype, sizes=(24, 20, 18, 3), n=40, seed=4):
    """Relu twins in which neurons 0-6 of the first hidden layer and 3 and 8 of the
    second are dead for every input (biases of -50 against inputs in [-1, 1]), and
    the others are negative on some rows only."""
    rng = np.random.default_rng(seed)
    net = nncore.Network(list(sizes), activation="relu", output="softmax",
                         loss="cross_entropy", seed=seed, dtype=dtype)
    p = net.params + rng.normal(0, 0.3, net.n_params)
    ld0, ld1 = sizes[0] + 1, sizes[1] + 1
    p[np.arange(7) * ld0] = -50.0
    p[sizes[1] * ld0 + np.array([3, 8]) * ld1] = -50.0
    net.params = p
    X = rng.uniform(-1, 1, (n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)].astype(dtype)
    ref = reference.Network(list(sizes), activation="relu", output="softmax",
                            loss="cross_entropy", seed=seed)
    ref.params = [float(v) for v in net.params]
    return net, ref, X, Y


def _gradient(net, X, Y, on):
    """net's gradient with idle neurons left out (on) or not, overflows quiet."""
    before = _kernels._skip_idle_neurons(on)
    try:
        with np.errstate(all="ignore"):
            return net.gradient(X, Y)
    finally:
        _kernels._skip_idle_neurons(before)


def _dead(net, X, layer):
    """The neurons of hidden layer `layer` (1: the first) that are zero on every row."""
    A = X.astype(np.float64)
    for W, b in zip(net.weights[:layer], net.biases[:layer]):
        A = np.maximum(A @ W.T + b, 0.0)
    return np.flatnonzero((A == 0).all(axis=0))


def test_the_case_has_idle_neurons_in_both_hidden_layers(dtype):
    net, _, X, _ = _idle_case(dtype)
    assert set(range(7)) <= set(_dead(net, X, 1))
    assert {3, 8} <= set(_dead(net, X, 2))


def test_gradients_against_the_reference(dtype, small_networks_skip):
    net, ref, X, Y = _idle_case(dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    grad = ref.gradient(Xl, Yl)
    assert_close(net.gradient(X, Y), grad, dtype)
    on, off = _on_and_off(lambda: net.gradient(X, Y))
    assert_close(on, off, dtype)
    # the dead neurons' weight gradients are zero, not merely small
    g = on[:20 * 25].reshape(20, 25)
    assert (g[:7] == 0).all()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_against_the_reference(optimizer, dtype, first_layer, small_networks_skip):
    make, make_ref = OPTIMIZERS[optimizer]
    net, ref, X, Y = _idle_case(dtype)
    net.fit(X, Y, epochs=3, batch_size=8, optimizer=make())
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=8,
            optimizer=make_ref())
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


@pytest.mark.skipif(not _kernels.OPENMP, reason="built without OpenMP")
@pytest.mark.parametrize("split", ["rows", "neurons"])
@pytest.mark.parametrize("optimizer", ["sgd-decay", "adam"])
def test_threads_against_the_reference(split, optimizer, dtype, small_networks_skip):
    make, make_ref = OPTIMIZERS[optimizer]
    net, ref, X, Y = _idle_case(dtype)
    before = _kernels._neuron_split(*((64, 1, None, 0) if split == "neurons"
                                      else (0, None, None, None)))
    try:
        assert bool(_kernels.split_neurons(np.array(net.sizes, np.intp), 8, 2)) \
            == (split == "neurons")
        net.fit(X, Y, epochs=3, batch_size=8, optimizer=make(), n_threads=2)
    finally:
        _kernels._neuron_split(*before)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=8,
            optimizer=make_ref())
    assert_close(net.params, ref.params, dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_dead_first_layer_neurons_as_in_the_benchmark(threads, dtype):
    """Inputs in [0, 1] and scikit-learn's initialisation: a neuron whose weights sum
    negative is dead on nearly every row, and most of them go so within an epoch.
    At the default thresholds, leaving them out of the products gives the same
    gradients and trained networks as the whole products, on every optimiser."""
    rng = np.random.default_rng(8)
    X = rng.uniform(0, 1, (1_000, 300)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 1_000)]

    def run():
        net = nncore.Network([300, 100, 40, 10], activation="relu", output="softmax",
                             loss="cross_entropy", seed=8, dtype=dtype)
        out = [net.gradient(X, Y)]
        net.fit(X, Y, epochs=2, batch_size=200, n_threads=threads,
                optimizer=optimizers.Adam(0.01))
        out.append(net.params.copy())
        for opt in (optimizers.SGD(0.05, weight_decay=0.01),
                    optimizers.SGD(0.05, momentum=0.9, nesterov=True)):
            net.fit(X, Y, epochs=1, batch_size=200, n_threads=threads, optimizer=opt)
            out.append(net.params.copy())
        return out, _dead(net, X[:200], 1)

    (on, dead), (off, _) = _on_and_off(run)
    assert len(dead) >= 10  # (the products left out are not a handful)
    for a, b in zip(on, off):
        assert_close(a, b, dtype)


def test_the_drop_in_against_scikit_learn_with_dead_neurons():
    """scikit-learn's default fit on inputs in [0, 1], where most of the first layer
    dies: the same steps as scikit-learn's."""
    sklearn_mlp = pytest.importorskip("sklearn.neural_network")
    from nncore.sklearn import MLPClassifier

    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (800, 300))
    y = (X[:, :150].sum(axis=1) > X[:, 150:].sum(axis=1)).astype(int) + 2 * (X[:, 0] > 0.5)
    kw = dict(hidden_layer_sizes=(80,), max_iter=4, random_state=0, batch_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sklearn_mlp.MLPClassifier(**kw).fit(X, y)
        ours = MLPClassifier(**kw).fit(X, y)
    Z = X[:100] @ theirs.coefs_[0] + theirs.intercepts_[0]
    assert ((Z <= 0).all(axis=0)).sum() >= 10
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_close(a, b, np.float64)
    assert_close(ours.loss_curve_, theirs.loss_curve_, np.float64)


@pytest.mark.parametrize("on", [True, False], ids=["left-out", "whole"])
def test_an_infinite_input_of_idle_neurons_makes_nan(on, small_networks_skip):
    """0 * inf is NaN: neurons idle on rows where their layer's input is infinite (a
    hidden activation overflowed) have NaN weight gradients there, as BLAS's whole
    product gives; so the products are left out only where the inputs are finite.
    Here neuron 7 of the first layer overflows to +inf on every row and each neuron
    of the second layer weighs it -1: they are all -inf, zero after relu, and their
    deltas all zero (the output finite), their weights on neuron 7 NaN."""
    net, _, X, Y = _idle_case(np.float64)
    X = np.abs(X)
    p = net.params.copy()
    ld0, ld1 = 25, 21
    p[7 * ld0 + 1:8 * ld0] = 1e308
    p[20 * ld0 + np.arange(18) * ld1 + 1 + 7] = -1.0
    net.params[:] = p  # (in place: assigning params refuses what training may reach)
    g = _gradient(net, X, Y, on)
    g1 = g[20 * ld0:20 * ld0 + 18 * ld1].reshape(18, ld1)
    assert np.isnan(g1[:, 1 + 7]).all()
    assert np.isfinite(np.delete(g1, 1 + 7, axis=1)).all()


def _mse_twin(dtype=np.float64):
    """24-20-18-3 relu, identity outputs and mse, its first layer's neurons 0-6 dead
    (see _idle_case), targets large enough that the deltas are thousands."""
    rng = np.random.default_rng(6)
    net = nncore.Network([24, 20, 18, 3], activation="relu", output="identity", loss="mse",
                         seed=6, dtype=dtype)
    p = net.params + rng.normal(0, 0.3, net.n_params)
    p[np.arange(7) * 25] = -50.0
    net.params = p
    X = rng.uniform(0, 1, (40, 24)).astype(dtype)
    Y = rng.uniform(1e4, 2e4, (40, 3)).astype(dtype)
    return net, X, Y


@pytest.mark.parametrize("on", [True, False], ids=["left-out", "whole"])
def test_a_delta_overflowing_on_an_idle_input_makes_nan(on, small_networks_skip):
    """Neuron 0 of the first layer is zero on every row, so the delta carried down to
    it is multiplied by relu's derivative there, zero: a product left out, unless
    the sums D W it would have held overflow, where inf * 0 is NaN in the whole
    product.  Here every neuron of the second layer weighs neuron 0 by 1e304 and
    the deltas are thousands: the first layer's neuron 0 gets NaN gradients."""
    net, X, Y = _mse_twin()
    net.params[20 * 25 + np.arange(18) * 21 + 1 + 0] = 1e304
    g = _gradient(net, X, Y, on)
    g0 = g[:20 * 25].reshape(20, 25)
    assert np.isnan(g0[0, 1:]).all()
    assert np.isfinite(np.delete(g0, 0, axis=0)).all()


@pytest.mark.parametrize("on", [True, False], ids=["left-out", "whole"])
def test_an_infinite_weight_of_an_idle_neuron_makes_nan_below(on, small_networks_skip):
    """Neuron 3 of the second layer weighs neuron 10 of the first, positive on every
    row, by -inf: it is -inf, zero after relu, and idle, its deltas zero; the delta
    carried down to neuron 10 holds 0 * -inf, NaN in the whole product, so a
    product without neuron 3 is taken only where the weights are finite."""
    net, X, Y = _mse_twin()
    net.params[10 * 25] = 50.0
    net.params[20 * 25 + 3 * 21 + 1 + 10] = -np.inf
    g = _gradient(net, X, Y, on)
    g0 = g[:20 * 25].reshape(20, 25)
    assert np.isnan(g0[10]).all()
    assert np.isfinite(np.delete(g0, 10, axis=0)).all()


def test_infinite_deltas_on_an_input_zero_in_every_row_make_nan(small_networks_skip):
    """The second layer's input from neuron 0 of the first is zero on every row, so
    its weights' gradients are sums of zeros, left out, unless a delta is infinite
    (inf * 0 is NaN in the whole product): a target of -1.5e308 makes the deltas
    overflow, and the NaNs are where the whole product puts them."""
    net, X, Y = _mse_twin()
    Y[:, 1] = -1.5e308

    def gradient():
        with np.errstate(all="ignore"):
            return net.gradient(X, Y)

    on, off = _on_and_off(gradient)
    g1 = on[20 * 25:20 * 25 + 18 * 21].reshape(18, 21)
    assert np.isnan(g1[:, 1 + 0]).any()
    np.testing.assert_array_equal(np.isnan(on), np.isnan(off))
