"""The compiled kernels against the pure-Python reference on random networks."""

import numpy as np
import pytest
from conftest import assert_close

import nncore
from nncore import _kernels, reference

BATCHES = [1, 2, 7, 64, 257]


def random_case(seed, batch, dtype, *, acts=("sigmoid", "sigmoid"), loss="mse"):
    """A random network of 1-4 weight layers, widths 1-50, and a batch of data."""
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, 5))
    sizes = [int(s) for s in rng.integers(1, 51, size=n_layers + 1)]
    if acts[1] == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    net = nncore.Network(sizes, activation=acts[0], output=acts[1], loss=loss, dtype=dtype,
                         seed=seed)
    # perturb the biases too, so that every parameter matters
    net.params = net.params + rng.normal(0, 0.3, net.n_params)
    X = rng.uniform(-2, 2, (batch, sizes[0])).astype(dtype)
    if acts[1] == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)].astype(dtype)
    else:
        Y = rng.uniform(0, 1, (batch, sizes[-1])).astype(dtype)
    ref = reference.Network(sizes, activation=acts[0], output=acts[1], loss=loss, seed=seed)
    ref.params = [float(p) for p in net.params]  # the float32-rounded values, in double
    return net, ref, X, Y


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_loss_gradient(seed, batch, dtype):
    net, ref, X, Y = random_case(seed * 100 + batch, batch, dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    out = net.predict(X)
    assert out.dtype == dtype and out.shape == (batch, net.sizes[-1])
    assert_close(out, ref.predict(Xl), dtype)
    assert_close(net.loss(X, Y), ref.loss(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_sgd_steps_match_the_reference_step_for_step(batch_size, dtype):
    """Several epochs of shuffled minibatch SGD: same order, same parameters."""
    net, ref, X, Y = random_case(7 + batch_size, 19, dtype)
    # same shuffling stream; the last minibatch (19 % batch_size rows) is not dropped
    net.fit(X, Y, epochs=3, batch_size=batch_size, learning_rate=0.5)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3,
            batch_size=batch_size, learning_rate=0.5)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def test_sgd_update_kernel(dtype, rng):
    p = rng.normal(size=40).astype(dtype)
    g = rng.normal(size=40).astype(dtype)
    expected = reference.sgd_step(p.astype(float).tolist(), g.astype(float).tolist(), 0.25)
    _kernels.sgd_update(p, g, 0.25)
    assert_close(p, expected, dtype)


@pytest.mark.parametrize("min_inputs", [0, 10**9], ids=["transposed", "direct"])
def test_forward_products_in_either_orientation(min_inputs, dtype):
    """A layer of many inputs forms its forward product's transpose and transposes it
    back with the biases (see _forward); forced either way on small networks, both
    orientations agree with the reference."""
    before = _kernels._forward_transposed(rows=1, min_inputs=min_inputs)
    try:
        rng = np.random.default_rng(8)
        for sizes in ([5, 40, 17, 3], [30, 128, 2], [2, 16, 16, 16, 1]):
            net = nncore.Network(sizes, dtype=dtype, seed=1)
            net.params = net.params + rng.normal(0, 0.3, net.n_params)
            ref = reference.Network(sizes, seed=1)
            ref.params = [float(p) for p in net.params]
            X = rng.uniform(-2, 2, (130, sizes[0])).astype(dtype)
            Y = rng.uniform(0, 1, (130, sizes[-1])).astype(dtype)
            Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
            assert_close(net.predict(X), ref.predict(Xl), dtype)
            assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)
    finally:
        _kernels._forward_transposed(*before)


@pytest.mark.parametrize("grad_dtype, in_place", [(np.float64, False), (np.float32, False),
                                                  (np.float64, True)],
                         ids=["f64", "f32", "f64-in-place"])
def test_l2_gradient_kernel(grad_dtype, in_place, rng):
    """The full-batch solvers' gradient: the sum over the divisor, the penalty's
    coef x on the weights (not the biases), and the weights' sum of squares."""
    from nncore import _layout

    sizes = np.array([3, 5, 2, 4], dtype=np.intp)
    n = _layout.n_params(sizes)
    mask = _layout.weights_mask(sizes)
    grad = rng.normal(size=n).astype(grad_dtype)
    x = rng.normal(size=n)
    expected = grad.astype(np.float64) / 7.0 + np.where(mask, 0.3 * x, 0.0)
    out = grad if in_place else np.full(n, np.nan)
    sumsq = _kernels.l2_gradient(grad, x, sizes, 7.0, 0.3, out)
    assert_close(out, expected, np.float64)
    assert_close(sumsq, float(x[mask] @ x[mask]), np.float64)
    with pytest.raises(ValueError, match="the 44 parameters"):
        _kernels.l2_gradient(grad[:-1], x[:-1], sizes, 7.0, 0.3, out[:-1])
    with pytest.raises(ValueError, match="the 44 parameters"):
        _kernels.l2_gradient(grad, x, sizes, 7.0, 0.3, np.empty(n + 1))


def test_shuffle_matches_the_reference():
    order = np.empty(1000, dtype=np.intp)
    state = np.array([2024], dtype=np.uint64)
    _kernels.shuffle_order(order, state)
    ref_state = [2024]
    assert order.tolist() == reference.shuffled(1000, ref_state)
    assert int(state[0]) == ref_state[0]
    assert sorted(order.tolist()) == list(range(1000))


def test_per_sample_gradients_average_to_the_gradient(dtype):
    net, ref, X, Y = random_case(5, 33, dtype)
    table = net.per_sample_gradients(X, Y)
    assert table.shape == (33, net.n_params)
    assert_close(table, ref.per_sample_gradients(X.astype(float).tolist(),
                                                 Y.astype(float).tolist()), dtype)
    assert_close(table.astype(np.float64).mean(axis=0), net.gradient(X, Y), dtype)


def test_gradient_in_chunks_equals_one_pass(monkeypatch):
    """predict/loss/gradient over many rows go through the kernels in chunks."""
    from nncore import _parallel

    net, _, X, Y = random_case(11, 1000, np.float64)
    whole = net.gradient(X, Y), net.predict(X), net.loss(X, Y)
    monkeypatch.setattr(_parallel, "CHUNK_ROWS", 7)
    chunked = net.gradient(X, Y), net.predict(X), net.loss(X, Y)
    for a, b in zip(whole, chunked):
        assert_close(a, b, np.float64)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("block_rows", [1, 3])
def test_minibatches_in_cache_blocks_take_the_same_steps(monkeypatch, block_rows, optimizer,
                                                          dtype):
    """fit may split a minibatch into blocks whose gradients add up before the
    update: the reference, which never does, must agree step for step."""
    from nncore import _parallel

    monkeypatch.setattr(_parallel, "BLOCK_ROWS", block_rows)
    net, ref, X, Y = random_case(5, 23, dtype)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, 23)
    kw = dict(epochs=2, batch_size=7, learning_rate=0.3, optimizer=optimizer,
              weight_decay=0.01, sample_weight=sw)
    net.fit(X, Y, **kw)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), **kw)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def test_narrow_networks_train_in_cache_blocks():
    from nncore import _parallel

    assert _parallel.block_rows((784, 30, 10), np.dtype(np.float64), 1024) == 32
    assert _parallel.block_rows((784, 30, 10), np.dtype(np.float32), 1024) == 32
    assert _parallel.block_rows((784, 30, 10), np.dtype(np.float64), 32) == 0
    assert _parallel.block_rows((784, 256, 256, 10), np.dtype(np.float64), 1024) == 0
    # scikit-learn's default network does enough work per input to run whole minibatches
    assert _parallel.block_rows((784, 100, 10), np.dtype(np.float64), 200) == 0
    assert _parallel.block_rows((784, 40, 10), np.dtype(np.float32), 1024) == 0
