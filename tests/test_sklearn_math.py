"""scikit-learn's MLP mathematics in the compiled core, against the reference twin
(issue 13): its losses (half squared error, clipped log-loss, Poisson with the exp
link), its optimisers' update forms (SklearnSGD, SklearnAdam) with ``alpha``, its
loss accounting, epochs in a given order, sparse inputs and training on through NaN."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_close
from test_gradcheck import central_differences

import nncore
from nncore import _kernels, reference
from nncore.optimizers import SklearnAdam, SklearnSGD
from nncore.training import LocalData, Trainer

#: (hidden, output, loss) with scikit-learn's losses, on every output they take
CASES = [
    ("relu", "identity", "half_squared_error"),
    ("tanh", "sigmoid", "half_squared_error"),
    ("sigmoid", "softmax", "half_squared_error"),
    ("relu", "softmax", "log_loss"),
    ("tanh", "sigmoid", "log_loss"),
    ("identity", "exp", "poisson"),
    ("tanh", "exp", "poisson"),
    ("relu", "exp", "mse"),
]


def case(hidden, output, loss, dtype, n=13, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [4, 5, 3]
    net = nncore.Network(sizes, activation=hidden, output=output, loss=loss, dtype=dtype,
                         seed=seed)
    net.params = rng.normal(0, 0.4, net.n_params)
    X = rng.normal(size=(n, 4)).astype(dtype)
    if loss == "log_loss" and output == "softmax":
        Y = np.eye(3)[rng.integers(0, 3, n)]
    elif loss == "log_loss":
        Y = (rng.uniform(size=(n, 3)) < 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, size=(n, 3)).astype(float)
    else:
        Y = rng.uniform(size=(n, 3))
    Y = Y.astype(dtype)
    ref = reference.Network(sizes, activation=hidden, output=output, loss=loss, seed=seed)
    ref.params = [float(v) for v in net.params]
    return net, ref, X, Y


@pytest.mark.parametrize("hidden, output, loss", CASES)
def test_losses_against_the_reference(hidden, output, loss, dtype):
    net, ref, X, Y = case(hidden, output, loss, dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    assert_close(net.predict(X), ref.predict(Xl), dtype)
    assert_close(net.loss(X, Y), ref.loss(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y, sample_weight=sw),
                 ref.gradient(Xl, Yl, sample_weight=sw.tolist()), dtype)


@pytest.mark.parametrize("hidden, output, loss", CASES)
def test_losses_against_finite_differences(hidden, output, loss):
    net, _, X, Y = case(hidden, output, loss, np.float64)
    g = net.gradient(X, Y)
    fd = central_differences(net, X, Y)
    if loss == "half_squared_error":
        # scikit-learn reports the loss averaged over the K outputs but trains on the
        # gradient of half the sum of squares: K times the value's derivative
        fd *= net.sizes[-1]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_log_loss_clips_probabilities_as_scikit_learn():
    for dtype in (np.float64, np.float32):
        eps = np.finfo(dtype).eps
        net = nncore.Network([2, 2], output="softmax", loss="log_loss", dtype=dtype)
        net.params = np.zeros(net.n_params)
        net.biases[0][:] = [200.0, -200.0]  # softmax gives [1, 0] exactly
        X = np.zeros((1, 2))
        # the wrong class: -log(eps) (cross_entropy, unclipped, would say 400)
        assert net.loss(X, [[0, 1]]) == pytest.approx(-np.log(eps), rel=1e-6)
        assert net.loss(X, [[1, 0]]) == pytest.approx(-np.log(1 - eps), abs=1e-15)


def test_poisson_refuses_negative_targets_and_exp_overflows_to_inf():
    net = nncore.Network([2, 1], output="exp", loss="poisson", seed=0)
    with pytest.raises(ValueError, match="poisson loss needs targets >= 0.*row 1"):
        net.loss(np.zeros((2, 2)), [1.0, -1.0])
    net.biases[0][:] = 800.0
    assert np.isinf(net.predict(np.zeros((1, 2)))).all()
    with pytest.raises(ValueError, match="poisson.*exp"):
        nncore.Network([2, 1], output="identity", loss="poisson")


OPTIMIZERS = [
    (lambda: SklearnSGD(0.1, momentum=0.0, nesterov=False),
     lambda: reference.SklearnSGD(0.1, momentum=0.0, nesterov=False)),
    (lambda: SklearnSGD(0.1, momentum=0.9, nesterov=False, alpha=0.01),
     lambda: reference.SklearnSGD(0.1, momentum=0.9, nesterov=False, alpha=0.01)),
    (lambda: SklearnSGD(0.05, momentum=0.8, nesterov=True, alpha=0.1),
     lambda: reference.SklearnSGD(0.05, momentum=0.8, nesterov=True, alpha=0.1)),
    (lambda: SklearnAdam(0.01), lambda: reference.SklearnAdam(0.01)),
    (lambda: SklearnAdam(0.01, beta_1=0.7, beta_2=0.9, epsilon=1e-6, alpha=0.05),
     lambda: reference.SklearnAdam(0.01, beta_1=0.7, beta_2=0.9, epsilon=1e-6, alpha=0.05)),
]


@pytest.mark.parametrize("make, make_ref", OPTIMIZERS)
@pytest.mark.parametrize("weighted", [False, True])
def test_scikit_learn_updates_and_loss_accounting_against_the_reference(make, make_ref,
                                                                        weighted, dtype,
                                                                        first_layer):
    net, ref, X, Y = case("tanh", "softmax", "log_loss", dtype, n=23)
    Y = np.eye(3)[np.random.default_rng(2).integers(0, 3, 23)].astype(dtype)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, 23) if weighted else None
    orders = [np.random.default_rng(e).permutation(23) for e in range(3)]
    data = LocalData(net, *net.check_data(X, Y), sw if sw is None else sw.astype(dtype),
                     batch_size=5, order=lambda e: orders[e], batch_mean_loss=True)
    Trainer(net, data, make(), epochs=3).run()
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=5,
            optimizer=make_ref(), order=[o.tolist() for o in orders],
            sample_weight=None if sw is None else sw.tolist())
    assert_close(net.params, ref.params, dtype)
    # the epoch's loss as scikit-learn accounts it: each minibatch's mean (and penalty)
    assert_close(net.history["loss"], ref.history["batch_loss"], dtype)


def test_optimizer_step_with_alpha_takes_the_batch_weight(dtype):
    net, ref, X, Y = case("relu", "identity", "half_squared_error", dtype)
    opt, ref_opt = SklearnSGD(0.1, alpha=0.3), reference.SklearnSGD(0.1, alpha=0.3)
    for _ in range(2):
        g = net.gradient(X, Y)
        opt.step(net, g, batch_weight=13.0)
        ref.params = ref_opt.step(ref.params, g.astype(float).tolist(), ref.sizes,
                                  batch_weight=13.0)
    assert_close(net.params, ref.params, dtype)


def test_a_given_order_is_followed_and_checked():
    net, ref, X, Y = case("tanh", "sigmoid", "mse", np.float64, n=9)
    order = np.array([3, 1, 4, 0, 8, 5, 2, 7, 6])
    data = LocalData(net, X, Y, batch_size=2, order=lambda e: order)
    Trainer(net, data, SklearnSGD(0.1, momentum=0.0, nesterov=False), epochs=1).run()
    ref.fit(X.tolist(), Y.tolist(), epochs=1, batch_size=2, order=[order.tolist()],
            optimizer=reference.SklearnSGD(0.1, momentum=0.0, nesterov=False))
    assert_close(net.params, ref.params, np.float64)
    bad = LocalData(net, X, Y, batch_size=2, order=lambda e: np.r_[order[:-1], 9])
    with pytest.raises(ValueError, match=r"order\[8\] = 9 is not a row index"):
        Trainer(net, bad, SklearnSGD(0.1), epochs=1).run()


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_inputs_train_and_predict_as_the_dense_array(fmt, dtype, monkeypatch,
                                                            first_layer, request):
    # (the rows gathered dense, CSR and dense X alike: the same bits; from the
    # nonzeros, the same to rounding: see test_sparse_first)
    from nncore import _kernels

    before = _kernels._sparse_first_density(-1.0)
    request.addfinalizer(lambda: _kernels._sparse_first_density(before))
    rng = np.random.default_rng(0)
    X = np.where(rng.uniform(size=(60, 30)) < 0.2, rng.normal(size=(60, 30)), 0.0)
    Y = np.eye(3)[rng.integers(0, 3, 60)]
    Xs = sp.csr_matrix(X).asformat(fmt)
    dense = nncore.Network([30, 8, 3], activation="relu", output="softmax",
                           loss="log_loss", dtype=dtype, seed=1)
    sparse = nncore.Network([30, 8, 3], activation="relu", output="softmax",
                            loss="log_loss", dtype=dtype, seed=1)
    dense.fit(X, Y, epochs=3, batch_size=7, optimizer="adam", learning_rate=0.01)
    sparse.fit(Xs, Y, epochs=3, batch_size=7, optimizer="adam", learning_rate=0.01)
    assert dense.params.tobytes() == sparse.params.tobytes()  # the same rows, gathered
    assert dense.predict(X).tobytes() == sparse.predict(Xs).tobytes()
    # passes over a sparse X go in dense blocks of rows; force many blocks
    from nncore import network

    monkeypatch.setattr(network, "_DENSE_CHUNK_VALUES", 7 * 30)
    assert dense.predict(X).tobytes() == sparse.predict(Xs).tobytes()
    assert_close(sparse.gradient(Xs, Y), dense.gradient(X, Y), dtype)
    assert_close(sparse.loss(Xs, Y), dense.loss(X, Y), dtype)
    Xs = Xs.tocsr()
    Xs.data[5] = np.nan
    row = int(np.searchsorted(Xs.indptr, 5, side="right")) - 1
    with pytest.raises(ValueError, match=rf"X contains nan .* in row {row}, column "
                                         rf"{Xs.indices[5]}"):
        sparse.predict(Xs)


def test_scikit_learn_trains_on_through_nan(first_layer):
    net = nncore.Network([2, 3, 1], activation="identity", output="identity",
                         loss="half_squared_error", seed=0)
    X = np.random.default_rng(0).normal(size=(20, 2)) * 1e150
    Y = np.ones((20, 1))
    data = LocalData(net, X, Y, batch_size=4, stop_nonfinite=False, batch_mean_loss=True)
    Trainer(net, data, SklearnSGD(1.0), epochs=3, on_divergence="continue").run()
    assert len(net.history["loss"]) == 3 and not np.isfinite(net.history["loss"][-1])
    assert not np.isfinite(net.params).all()
    # the default stops and restores the last finite epoch
    net2 = nncore.Network([2, 3, 1], activation="identity", output="identity",
                          loss="half_squared_error", seed=0)
    with pytest.raises(nncore.DivergenceError):
        net2.fit(X, Y, epochs=3, batch_size=4, optimizer=SklearnSGD(1.0))
    assert np.isfinite(net2.params).all()


def test_kernel_ids_are_the_registries():
    assert set(_kernels.LOSS_IDS) == set(nncore.losses.LOSSES)
    assert set(_kernels.ACTIVATION_IDS) == set(nncore.activations.ACTIVATIONS)
