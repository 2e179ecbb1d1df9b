"""The lecture's worked examples, in the compiled kernels and in the reference."""

import math

import numpy as np
import pytest

import nncore
from nncore import _kernels, reference

# One sigmoid neuron: x = [4, -2, 1], b = -2, W = [-1, 0.5, 10], y = 1.
X1 = [[4.0, -2.0, 1.0]]
Y1 = [[1.0]]
B1, W1 = -2.0, [-1.0, 0.5, 10.0]
Z = 3.0
YHAT = 0.9525741268
COST = 0.0022492134
DB = -0.0042850851
DW = [-0.0171403403, 0.0085701701, -0.0042850851]


def test_neuron_in_the_reference():
    z, a = reference.neuron([B1, *W1], X1[0])
    assert z == Z
    assert a == pytest.approx(YHAT, abs=1e-10)
    assert reference.mse([a], Y1[0]) == pytest.approx(COST, abs=1e-10)
    net = reference.Network([3, 1], seed=0)
    net.set_layer(0, weights=[W1], biases=[B1])
    assert net.params == [B1, *W1]
    g = net.gradient(X1, Y1)
    assert g[0] == pytest.approx(DB, abs=1e-10)
    assert g[1:] == pytest.approx(DW, abs=1e-10)


def test_neuron_in_the_kernels(dtype):
    net = nncore.Network([3, 1], dtype=dtype)
    net.params = [B1, *W1]
    assert net.biases[0][0] == B1
    np.testing.assert_array_equal(net.weights[0][0], W1)
    tol = 1e-10 if dtype == np.float64 else 1e-6
    assert net.predict(X1)[0, 0] == pytest.approx(YHAT, abs=tol)
    assert net.loss(X1, Y1) == pytest.approx(COST, abs=tol)
    g = net.gradient(X1, Y1)
    assert g.dtype == dtype
    assert g[0] == pytest.approx(DB, abs=tol)
    np.testing.assert_allclose(g[1:], DW, atol=tol)


def test_neuron_step_by_step_kernels():
    """z, sigma(z), C, dC/dy~, sigma'(z) one kernel at a time."""
    z = np.array([[Z]])
    a = np.empty_like(z)
    _kernels.sigmoid(z, a)
    assert a[0, 0] == pytest.approx(YHAT, abs=1e-10)
    assert _kernels.mse(a, np.array([[1.0]])) == pytest.approx(COST, abs=1e-10)
    g = np.empty_like(a)
    _kernels.mse_grad(a, np.array([[1.0]]), g)
    assert g[0, 0] == pytest.approx(2 * (YHAT - 1), abs=1e-9)
    s = np.empty_like(a)
    _kernels.sigmoid_prime(a, s)
    assert s[0, 0] == pytest.approx(YHAT * (1 - YHAT), abs=1e-10)
    d = np.empty_like(a)
    cost = _kernels.output_delta(z, np.array([[1.0]]), d, _kernels.LOSS_IDS["mse"],
                                 _kernels.ACTIVATION_IDS["sigmoid"])
    assert cost == pytest.approx(COST, abs=1e-10)
    assert d[0, 0] == pytest.approx(DB, abs=1e-10)


def test_231_has_13_params_in_lecture_order():
    net = nncore.Network([2, 3, 1], seed=0)
    assert net.params.shape == (13,)
    assert net.n_params == 13
    net.params = np.arange(13.0)
    # neuron by neuron: bias first, then incoming weights; layer by layer
    np.testing.assert_array_equal(net.biases[0], [0, 3, 6])
    np.testing.assert_array_equal(net.weights[0], [[1, 2], [4, 5], [7, 8]])
    np.testing.assert_array_equal(net.biases[1], [9])
    np.testing.assert_array_equal(net.weights[1], [[10, 11, 12]])
    # and the other way round: writing a view changes the vector
    net.weights[1][0, 2] = -1.0
    net.biases[0][1] = 42.0
    assert net.params[12] == -1.0
    assert net.params[3] == 42.0
    ref = reference.Network([2, 3, 1], seed=0)
    ref.params = list(net.params)
    assert ref.weights[0] == net.weights[0].tolist()
    assert ref.biases[1] == net.biases[1].tolist()


def test_231_forward_matches_the_formula():
    """a_n = sigma(b_n + W_n a_{n-1}) written out by hand for the 2-3-1 net."""
    net = nncore.Network([2, 3, 1], seed=3)
    x = np.array([0.3, -0.7])
    h = 1 / (1 + np.exp(-(net.biases[0] + net.weights[0] @ x)))
    y = 1 / (1 + np.exp(-(net.biases[1] + net.weights[1] @ h)))
    np.testing.assert_allclose(net.predict(x[None])[0], y, rtol=1e-14)


def test_reference_starts_from_the_same_parameters():
    for sizes, act in [([2, 3, 1], "sigmoid"), ([5, 7, 4, 3], "relu")]:
        a = nncore.Network(sizes, activation=act, seed=99)
        b = reference.Network(sizes, activation=act, seed=99)
        assert a.params.tolist() == b.params


def test_sigmoid_never_overflows():
    z = np.array([[-1e308, -800.0, -40.0, 0.0, 40.0, 800.0, 1e308]])
    a = np.empty_like(z)
    with np.errstate(all="raise"):
        _kernels.sigmoid(z, a)
    assert np.isfinite(a).all()
    assert a[0, 0] == 0.0 and a[0, -1] == 1.0 and a[0, 3] == 0.5
    z32 = np.array([[-3e38, -800.0, -40.0, 0.0, 40.0, 800.0, 3e38]], dtype=np.float32)
    a32 = np.empty_like(z32)
    _kernels.sigmoid(z32, a32)
    assert np.isfinite(a32).all()
    assert reference.sigmoid(-1e308) == 0.0 and reference.sigmoid(1e308) == 1.0
    assert math.isclose(reference.sigmoid(0.0), 0.5)
