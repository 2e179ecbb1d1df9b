"""The forward product nncore computes without BLAS (AVX-512, _dense.h) against the
pure-Python reference, and against the BLAS path it replaces.

Its tiles are 8 rows x 3 vectors of neurons (8 a vector in float64, 16 in float32),
with tails of 4 and 1 rows and of 1-3 vectors (the last one masked): the widths and
row counts here land on every one of them in both dtypes.  Products of fewer than
64 rows go to BLAS (NN_DENSE_MIN_ROWS), and in float32 those of fewer than 256 for
which the weights would be packed afresh (a minibatch's)."""

import platform
import sys

import numpy as np
import pytest
from conftest import assert_close

import nncore
from nncore import _kernels, reference

WIDTHS = [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 47, 48, 49, 100]
ROWS = [64, 65, 67, 71, 72, 200]


@pytest.fixture(params=[True, False], ids=["dense", "blas"])
def path(request):
    before = _kernels._dense_forward(request.param)
    yield request.param
    _kernels._dense_forward(before)


def _twins(sizes, seed, activation="tanh", output="sigmoid", dtype=np.float64):
    rng = np.random.default_rng(seed)
    net = nncore.Network(sizes, activation=activation, output=output, loss="mse", seed=seed,
                         dtype=dtype)
    net.params = net.params + rng.normal(0, 0.3, net.n_params)  # biases matter too
    ref = reference.Network(sizes, activation=activation, output=output, loss="mse",
                            seed=seed)
    ref.params = [float(p) for p in net.params]  # (float32's values, in double)
    return net, ref, rng


def _avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f " in f.read().replace("\n", " ")
    except OSError:
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="the dense product is built for x86-64; the flags come from "
                    "/proc/cpuinfo")
def test_it_runs_where_the_processor_has_avx512():
    # (the reference tests below pass on either path: this one says which ran)
    assert _kernels._dense_forward_available() == _avx512()


@pytest.mark.parametrize("n_out", WIDTHS)
def test_every_tile_against_the_reference(n_out, path, dtype):
    net, ref, rng = _twins([13, n_out, 3], n_out, dtype=dtype)
    for rows in ROWS:
        X = rng.uniform(-2, 2, (rows, 13)).astype(dtype)
        Y = rng.uniform(0, 1, (rows, 3)).astype(dtype)
        Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
        assert_close(net.predict(X), ref.predict(Xl), dtype)
        assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)


@pytest.mark.parametrize("n_in", [1, 2, 9, 300])
def test_every_input_width_against_the_reference(n_in, path, dtype):
    net, ref, rng = _twins([n_in, 30, 10], n_in, activation="relu", output="softmax",
                           dtype=dtype)
    X = rng.uniform(-1, 1, (70, n_in)).astype(dtype)
    assert_close(net.predict(X), ref.predict(X.astype(float).tolist()), dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_training_against_the_reference(threads, path, dtype):
    # 300-row minibatches, whole or split in two: each thread's rows take the dense
    # product (float32 from 256 rows a thread: its halves' 150 go to BLAS)
    net, ref, rng = _twins([20, 30, 5], 5, activation="sigmoid", output="sigmoid",
                           dtype=dtype)
    X = rng.uniform(-2, 2, (600, 20)).astype(dtype)
    Y = rng.uniform(0, 1, (600, 5)).astype(dtype)
    net.fit(X, Y, epochs=3, batch_size=300, learning_rate=0.5, n_threads=threads)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=300,
            learning_rate=0.5)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def test_the_dense_and_blas_paths_train_the_same_network():
    rng = np.random.default_rng(3)
    X = rng.random((600, 784))
    y = rng.integers(0, 10, 600)
    fits = []
    for dense in (True, False):
        before = _kernels._dense_forward(dense)
        try:
            net = nncore.Network([784, 100, 10], activation="relu", output="softmax",
                                 loss="cross_entropy", seed=0)
            net.fit(X, np.eye(10)[y], epochs=2, batch_size=200, optimizer="adam",
                    learning_rate=1e-3, n_threads=1)
            fits.append((net.params.copy(), net.predict(X)))
        finally:
            _kernels._dense_forward(before)
    assert_close(fits[0][0], fits[1][0], np.float64)
    assert_close(fits[0][1], fits[1][1], np.float64)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_input_is_named_by_its_row(bad, path, dtype):
    net, _, rng = _twins([40, 30, 2], 1, dtype=dtype)
    X = rng.uniform(-1, 1, (300, 40)).astype(dtype)
    X[137, 11] = bad
    with pytest.raises(ValueError, match=r"row 137\b.*column 11\b"):
        net.predict(X)


def test_a_pass_too_wide_to_pack_still_agrees(path, dtype):
    # 784 -> 256 packs into 0.8 MB in float32; in float64, 1.6 MB exceeds the size
    # limit and BLAS takes that layer, the pack the next
    net, ref, rng = _twins([784, 256, 24], 2, activation="relu", dtype=dtype)
    X = rng.uniform(0, 1, (64, 784)).astype(dtype)
    assert_close(net.predict(X), ref.predict(X.astype(float).tolist()), dtype)


def test_more_layers_than_the_packs_ready_bits(path):
    # layers from the 65th on are packed again for every product (no ready bit)
    net, ref, rng = _twins([9] * 71 + [2], 71, activation="tanh")
    X = rng.uniform(-1, 1, (96, 9))
    Y = rng.uniform(0, 1, (96, 2))
    assert_close(net.predict(X), ref.predict(X.tolist()), np.float64)
    assert_close(net.gradient(X, Y), ref.gradient(X.tolist(), Y.tolist()), np.float64)


def test_a_pass_spread_over_threads_agrees_with_blas(dtype):
    # 20,000 rows of 784-100-10: enough work for predict's and gradient's threads,
    # each of which packs the weights for its own chunks
    rng = np.random.default_rng(4)
    net = nncore.Network([784, 100, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=4, dtype=dtype)
    X = rng.random((20_000, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 20_000)]
    out = {}
    for dense in (True, False):
        before = _kernels._dense_forward(dense)
        try:
            out[dense] = (net.predict(X), net.gradient(X, Y))
        finally:
            _kernels._dense_forward(before)
    assert_close(out[True][0], out[False][0], dtype)
    assert_close(out[True][1], out[False][1], dtype)
