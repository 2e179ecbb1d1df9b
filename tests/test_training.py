"""Training end to end: XOR, the bundled digits, determinism."""

import numpy as np
import pytest

import nncore
from nncore import datasets

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


def test_xor():
    net = nncore.Network([2, 4, 1], seed=0)
    net.fit(XOR_X, XOR_Y, epochs=3000, batch_size=4, learning_rate=3.0)
    assert net.loss(XOR_X, XOR_Y) < 0.01
    assert net.history["loss"][-1] < 0.01
    assert ((net.predict(XOR_X)[:, 0] > 0.5) == XOR_Y.astype(bool)).all()


def test_fit_returns_the_network_and_records_history():
    net = nncore.Network([2, 3, 1], seed=0)
    assert net.fit(XOR_X, XOR_Y, epochs=4, batch_size=2) is net
    assert len(net.history["loss"]) == 4
    net.fit(XOR_X, XOR_Y, epochs=2, batch_size=2)
    assert len(net.history["loss"]) == 6


def test_digits_lecture_settings_reach_93_percent():
    X_train, X_test, y_train, y_test = datasets.digits_split()
    net = nncore.Network([64, 30, 10], seed=0)
    net.fit(X_train, datasets.one_hot(y_train, 10), epochs=30, batch_size=10,
            learning_rate=3.0)
    acc = net.accuracy(X_test, datasets.one_hot(y_test, 10))
    assert acc >= 0.93
    assert np.mean(net.predict(X_test).argmax(axis=1) == y_test) == acc


def test_digits_dataset():
    d = datasets.load_digits()
    assert d.data.shape == (1797, 64) and d.images.shape == (1797, 8, 8)
    assert d.target.shape == (1797,)
    assert set(np.unique(d.target)) == set(range(10))
    assert d.data.min() == 0 and d.data.max() == 16
    X, y = datasets.load_digits(return_X_y=True, scale=True)
    assert X.max() == 1.0
    a = datasets.digits_split()
    b = datasets.digits_split()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert len(a[0]) + len(a[1]) == 1797


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_bits(dtype):
    X, y = datasets.load_digits(return_X_y=True, scale=True)
    Y = datasets.one_hot(y, 10)
    nets = [nncore.Network([64, 20, 10], dtype=dtype, seed=5) for _ in range(2)]
    assert nets[0].params.tobytes() == nets[1].params.tobytes()
    for net in nets:
        net.fit(X[:500], Y[:500], epochs=3, batch_size=10, learning_rate=1.0)
    assert nets[0].params.tobytes() == nets[1].params.tobytes()
    other = nncore.Network([64, 20, 10], dtype=dtype, seed=6)
    assert other.params.tobytes() != nets[0].params.tobytes()


def test_initialisation_is_scaled_to_fan_in():
    net = nncore.Network([784, 30, 10], seed=0)
    limit = np.sqrt(6 / (784 + 30))
    w = net.weights[0]
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit
    assert abs(w.std() - limit / np.sqrt(3)) < 0.01 * limit
    np.testing.assert_array_equal(net.biases[0], 0)


def test_seed_none_draws_a_seed_and_keeps_it():
    a = nncore.Network([3, 2])
    b = nncore.Network([3, 2], seed=a.seed)
    assert a.params.tobytes() == b.params.tobytes()


def test_shuffle_false_is_sequential_and_deterministic():
    a = nncore.Network([2, 3, 1], seed=0).fit(XOR_X, XOR_Y, epochs=5, batch_size=3,
                                              shuffle=False)
    b = nncore.Network([2, 3, 1], seed=1)
    b.params = nncore.Network([2, 3, 1], seed=0).params
    b.fit(XOR_X, XOR_Y, epochs=5, batch_size=3, shuffle=False)
    assert a.params.tobytes() == b.params.tobytes()
