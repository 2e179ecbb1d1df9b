"""The sparse first layer: CSR input whose first layer is computed from its nonzeros
(_sparse.h's direct and tiled loops) in predict, in the loss and gradient passes
(L-BFGS) and in training, against the pure-Python reference on the same rows dense,
and against the dense path it replaces.

The tiled loops take a vector of neurons at a time (8 in float64, 16 in float32):
the widths here land on whole vectors, a masked last one, and fewer neurons than a
vector.  The rows hold empty rows and, in some cases, duplicate column indices (which
add, as in scipy's toarray)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_close

import nncore
from nncore import _kernels, _parallel, reference

WIDTHS = [1, 7, 8, 13, 16, 21]


@pytest.fixture(params=["direct", "tiled", "tiles"])
def loops(request):
    """Every CSR input through the sparse first layer, in its direct loops or in its
    tiled ones (the processor must have AVX-512 for those): the row loops where the
    layer's pack fits, as it does here, or the tile loops of wide layers."""
    if request.param != "direct" and not _kernels._sparse_tiles_available():
        pytest.skip("the tiled loops need AVX-512 (GCC on x86-64)")
    density = _kernels._sparse_first_density(float("inf"))
    mode = _kernels._sparse_tiles({"direct": 0, "tiled": 2, "tiles": 3}[request.param])
    yield request.param
    _kernels._sparse_tiles(mode)
    _kernels._sparse_first_density(density)


def _csr(rng, n, nf, density, dtype, duplicates=False):
    """A CSR matrix with a few empty rows (and, with duplicates, repeated columns
    within rows: scipy keeps them until sum_duplicates)."""
    X = sp.random(n, nf, density=density, format="csr", dtype=np.float64,
                  random_state=np.random.RandomState(rng.integers(2**31)),
                  data_rvs=lambda k: rng.uniform(-2, 2, k))
    X = X.tolil()
    X[::7] = 0.0  # (empty rows)
    X = X.tocsr()
    X.eliminate_zeros()
    if duplicates:
        data, ind, ptr = list(X.data), list(X.indices), list(X.indptr)
        rows = []
        for i in range(n):
            a, e = ptr[i], ptr[i + 1]
            extra = [(ind[p], 0.5 * data[p]) for p in range(a, e, 3)]
            rows.append(list(zip(ind[a:e], data[a:e])) + extra)
        ptr = np.cumsum([0] + [len(r) for r in rows])
        ind = np.array([k for r in rows for k, _ in r])
        data = np.array([v for r in rows for _, v in r])
        X = sp.csr_matrix((data, ind, ptr), shape=(n, nf))
        assert not X.has_canonical_format
    return X.astype(dtype)


def _twins(sizes, seed, dtype, activation="tanh", output="sigmoid", loss="mse"):
    rng = np.random.default_rng(seed)
    net = nncore.Network(sizes, activation=activation, output=output, loss=loss, seed=seed,
                         dtype=dtype)
    net.params = net.params + rng.normal(0, 0.3, net.n_params)  # biases matter too
    ref = reference.Network(sizes, activation=activation, output=output, loss=loss, seed=seed)
    ref.params = [float(p) for p in net.params]  # (float32's values, in double)
    return net, ref, rng


@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("duplicates", [False, True], ids=["canonical", "duplicates"])
def test_predict_and_gradient_against_the_reference(n_out, duplicates, loops, dtype):
    net, ref, rng = _twins([90, n_out, 3], n_out, dtype)
    X = _csr(rng, 70, 90, 0.08, dtype, duplicates)
    Y = rng.uniform(0, 1, (70, 3)).astype(dtype)
    w = rng.uniform(0.5, 2.0, 70).astype(dtype)
    Xl, Yl = X.toarray().astype(float).tolist(), Y.astype(float).tolist()
    assert nncore.network._sparse_first(X, n_out)
    assert_close(net.predict(X), ref.predict(Xl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y, w), ref.gradient(Xl, Yl, w.astype(float).tolist()), dtype)
    assert_close(net.loss(X, Y), ref.loss(Xl, Yl), dtype)


def test_a_network_of_one_layer_against_the_reference(loops, dtype):
    # (the first layer is the output layer: its Z is the loss's)
    net, ref, rng = _twins([50, 4], 1, dtype, output="softmax", loss="cross_entropy")
    X = _csr(rng, 30, 50, 0.1, dtype)
    Y = np.eye(4)[rng.integers(0, 4, 30)].astype(dtype)
    Xl, Yl = X.toarray().astype(float).tolist(), Y.astype(float).tolist()
    assert_close(net.predict(X), ref.predict(Xl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk", [3, 64])
def test_passes_in_chunks_and_threads(threads, chunk, loops, dtype, monkeypatch):
    # chunks of 3 rows (row0 moves on every call) and every thread's own gradient sum
    monkeypatch.setattr(_parallel, "SPARSE_CHUNK_VALUES", 1)  # (one row a chunk)
    monkeypatch.setattr(_parallel, "CHUNK_ROWS", 1)
    monkeypatch.setattr(_parallel, "SPARSE_CHUNK_PER_COLUMN", 0)
    net, ref, rng = _twins([40, 9, 2], 7, dtype)
    X = _csr(rng, 50, 40, 0.1, dtype)
    Y = rng.uniform(0, 1, (50, 2)).astype(dtype)
    sizes, acts = net.spec.sizes, net.spec.acts
    csr = nncore._validation.csr_arrays(X)
    ws = np.empty(_kernels.pass_workspace_size(sizes, chunk, threads, True), dtype=dtype)
    out = np.empty((50, 2), dtype=dtype)
    assert _kernels.forward(net.params, sizes, acts, None, out, ws, threads, False, *csr) == -1
    Xl, Yl = X.toarray().astype(float).tolist(), Y.astype(float).tolist()
    assert_close(out, ref.predict(Xl), dtype)
    grad = np.empty(net.n_params, dtype=dtype)
    total = _kernels.loss_gradient(net.params, sizes, acts, net.spec.loss, None, Y, None, grad,
                                   ws, True, threads, *csr)
    assert_close(grad / 50, ref.gradient(Xl, Yl), dtype)
    assert_close(total / 50, ref.loss(Xl, Yl), dtype)


OPTIMIZERS = {  # (nncore's, the reference's twin)
    "sgd": lambda m: m.SGD(0.5),
    "momentum": lambda m: m.SGD(0.1, momentum=0.9),
    "nesterov": lambda m: m.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda m: m.Adam(0.01),
    "sgd-decay": lambda m: m.SGD(0.5, weight_decay=0.01),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("threads, blocks, compact",
                         [(1, None, 0), (2, None, 0), (1, 4, 0), (1, None, 2), (2, None, 2)],
                         ids=["1-thread", "2-threads", "blocks4", "compact", "compact-2-threads"])
def test_training_against_the_reference(optimizer, threads, blocks, compact, loops, dtype,
                                        monkeypatch):
    # minibatches of 10 (the last of 5), whole, split across threads, or in cache
    # blocks of 4 rows whose gradients add before the update; or (whole minibatches
    # or threads' parts) the first layer's gradient over the columns each touches
    # alone, forced on for this narrow input (see train_epoch: Adam, and on two
    # threads plain SGD; one thread's SGD and momentum fuse their updates into the
    # products and keep them there)
    before = _kernels._compact_sparse_gradient(compact)
    try:
        _train_against_the_reference(optimizer, threads, blocks, dtype, monkeypatch)
    finally:
        _kernels._compact_sparse_gradient(before)


def _train_against_the_reference(optimizer, threads, blocks, dtype, monkeypatch):
    monkeypatch.setattr(_parallel, "BLOCK_ROWS", blocks)
    net, ref, rng = _twins([60, 13, 3], 11, dtype, activation="relu", output="softmax",
                           loss="cross_entropy")
    X = _csr(rng, 45, 60, 0.1, dtype, duplicates=True)
    Y = np.eye(3)[rng.integers(0, 3, 45)].astype(dtype)
    w = rng.uniform(0.5, 2.0, 45)
    w[10:20] = 0.0  # (a minibatch of weight 0 takes no step)
    net.fit(X, Y, epochs=3, batch_size=10, optimizer=OPTIMIZERS[optimizer](nncore.optimizers),
            sample_weight=w.astype(dtype), n_threads=threads)
    ref.fit(X.toarray().astype(float).tolist(), Y.astype(float).tolist(), epochs=3,
            batch_size=10, optimizer=OPTIMIZERS[optimizer](reference), sample_weight=w.tolist())
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


@pytest.mark.parametrize("dtype, optimizer", [(np.float64, "adam"), (np.float32, "sgd")],
                         ids=["f64-adam", "f32-sgd"])
def test_the_dense_and_sparse_paths_train_the_same_network(dtype, optimizer):
    # the default settings (the tiled loops where they pay, else the direct ones)
    # against rows gathered dense, on input wide and sparse enough for the sparse path.
    # (Not Adam in float32: its step is near +-r wherever a gradient is near 0, so
    # float32's rounding of such a gradient moves the weight by up to 2r, 1e-3 here)
    rng = np.random.default_rng(5)
    X = _csr(rng, 400, 3000, 0.01, dtype)
    y = rng.integers(0, 5, 400)
    assert _kernels.sparse_first_layer(X.nnz, 400, 3000)

    def fit():
        net = nncore.Network([3000, 40, 5], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0, dtype=dtype)
        net.fit(X, np.eye(5, dtype=dtype)[y], epochs=2, batch_size=100, optimizer=optimizer,
                learning_rate=1e-3 if optimizer == "adam" else 0.5, n_threads=1)
        return net.params.copy(), net.predict(X)

    sparse = fit()
    before = _kernels._sparse_first_density(-1.0)
    try:
        dense = fit()
    finally:
        _kernels._sparse_first_density(before)
    assert_close(sparse[0], dense[0], dtype)
    assert_close(sparse[1], dense[1], dtype)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_the_drop_in_trains_wide_sparse_input_as_the_dense_array(solver):
    from sklearn.exceptions import ConvergenceWarning

    from nncore.sklearn import MLPClassifier

    rng = np.random.default_rng(2)
    X = _csr(rng, 300, 2000, 0.01, np.float64)
    y = rng.integers(0, 3, 300)
    assert _kernels.sparse_first_layer(X.nnz, 300, 2000)
    kw = dict(hidden_layer_sizes=(20,), max_iter=8, random_state=0, solver=solver)
    with pytest.warns(ConvergenceWarning):
        sparse = MLPClassifier(**kw).fit(X, y)
    before = _kernels._sparse_first_density(-1.0)  # (the dense array's own products)
    try:
        with pytest.warns(ConvergenceWarning):
            dense = MLPClassifier(**kw).fit(X.toarray(), y)
    finally:
        _kernels._sparse_first_density(before)
    # (L-BFGS's line search can amplify rounding: the same iterates to about 1e-9,
    # as in the drop-in's step-for-step comparisons with scikit-learn)
    rtol = 1e-9 if solver == "lbfgs" else 1e-12
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()),
                               rtol=rtol, atol=rtol)


def test_which_input_takes_the_sparse_first_layer():
    tiled = _kernels._sparse_tiles_available()
    # (the layer not known, or too wide for the row loops' pack: the tile loops')
    for n_out, f64, rows in [(0, True, False), (10, True, True), (1400, True, False),
                             (1400, False, True)]:
        most = (0.25 if rows else 0.15) if tiled else 0.05
        assert _kernels.sparse_first_layer(int(most * 1000 * 100), 1000, 100, n_out, f64)
        assert not _kernels.sparse_first_layer(int(most * 1000 * 100) + 1, 1000, 100, n_out,
                                               f64)
    before = _kernels._sparse_tiles(0)  # (the direct loops alone: their own threshold)
    try:
        assert _kernels.sparse_first_layer(5000, 1000, 100)
        assert not _kernels.sparse_first_layer(5001, 1000, 100)
    finally:
        _kernels._sparse_tiles(before)
    # denser input goes in dense blocks of rows, as before: the same bits as dense
    rng = np.random.default_rng(0)
    X = _csr(rng, 40, 30, 0.5, np.float64)
    assert not nncore.network._sparse_first(X, 5)
    net = nncore.Network([30, 5, 2], seed=0)
    np.testing.assert_array_equal(net.predict(X), net.predict(X.toarray()))


def test_sparse_chunks_hold_many_nonzeros_a_column():
    sizes = [20000, 100, 5]
    # 100 nonzeros a row: 16 a column take 3,200 rows, within the workspace's bound
    assert _parallel.sparse_chunk_rows(5000, 1, 500_000, sizes) == 3200
    assert _parallel.sparse_chunk_rows(5000, 2, 500_000, sizes) == 2500
    assert _parallel.sparse_chunk_rows(100, 1, 10_000, sizes) == 100
    # never fewer than a dense pass's rows, nor more than the workspace bound allows
    assert _parallel.sparse_chunk_rows(10**6, 1, 10**9, sizes) == _parallel.CHUNK_ROWS
    wide = [20000, 4000, 5]
    assert _parallel.sparse_chunk_rows(10**6, 1, 10**6, wide) \
        == _parallel.SPARSE_CHUNK_VALUES // (4005 + 5 + 8000)


def test_bad_csr_arrays_are_refused_before_any_kernel_runs(dtype):
    net = nncore.Network([10, 4, 2], seed=0, dtype=dtype)
    sizes, acts = net.spec.sizes, net.spec.acts
    ws = np.empty(_kernels.pass_workspace_size(sizes, 8, 1, True), dtype=dtype)
    out = np.empty((3, 2), dtype=dtype)
    Y = np.zeros((3, 2), dtype=dtype)
    grad = np.empty(net.n_params, dtype=dtype)
    data = np.ones(4, dtype=dtype)
    ptr = np.array([0, 1, 3, 4], dtype=np.intp)
    bad = np.array([0, 3, 10, 1], dtype=np.intp)  # (column 10 of 10)
    with pytest.raises(ValueError, match=r"X_indices\[2\] = 10 is not a column in \[0, 10\)"):
        _kernels.forward(net.params, sizes, acts, None, out, ws, 1, False, data, bad, ptr)
    with pytest.raises(ValueError, match=r"X_indices\[2\] = 10 is not a column"):
        _kernels.loss_gradient(net.params, sizes, acts, net.spec.loss, None, Y, None, grad, ws,
                               True, 1, data, bad, ptr)
    good = np.array([0, 3, 9, 1], dtype=np.intp)
    with pytest.raises(ValueError, match="X_indptr has 4 entries, 2 rows need 3"):
        _kernels.forward(net.params, sizes, acts, None, out[:2], ws, 1, False, data, good, ptr)
    with pytest.raises(ValueError, match="X_indptr decreases at row 1"):
        _kernels.forward(net.params, sizes, acts, None, out, ws, 1, False, data, good,
                         np.array([0, 3, 1, 4], dtype=np.intp))
    with pytest.raises(ValueError, match="not both"):
        _kernels.forward(net.params, sizes, acts, np.zeros((3, 10), dtype=dtype), out, ws, 1,
                         False, data, good, ptr)
    with pytest.raises(ValueError, match="needs X_data, X_indices and X_indptr"):
        _kernels.forward(net.params, sizes, acts, None, out, ws, 1, False, data, None, ptr)
    # a non-finite value: its row, as the dense check gives it
    data[2] = np.nan
    assert _kernels.forward(net.params, sizes, acts, None, out, ws, 1, True, data, good, ptr) == 1


def test_the_drop_in_on_wide_sparse_input_keeps_its_surface():
    # early stopping's validation rows, partial_fit, warm_start and the regressor: each a
    # sparse pass or epoch, the same as on the dense array
    from sklearn.exceptions import ConvergenceWarning

    from nncore.sklearn import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(4)
    X = _csr(rng, 300, 1500, 0.01, np.float64)
    Xd = X.toarray()
    y = rng.integers(0, 3, 300)
    t = rng.normal(size=(300, 2))
    assert _kernels.sparse_first_layer(X.nnz, 300, 1500)
    runs = [
        (MLPClassifier, y, dict(early_stopping=True, max_iter=6, n_iter_no_change=2)),
        (MLPClassifier, y, dict(warm_start=True, max_iter=3)),
        (MLPRegressor, t, dict(max_iter=4, solver="sgd", learning_rate="adaptive")),
    ]
    for cls, target, kw in runs:
        fitted = []
        for data in (X, Xd):
            model = cls(hidden_layer_sizes=(12,), random_state=0, **kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(data, target)
                if kw.get("warm_start"):
                    model.fit(data, target)
            if not kw.get("early_stopping"):  # (as scikit-learn, partial_fit refuses it)
                model.partial_fit(data, target)
            fitted.append(model)
        sparse, dense = fitted
        assert sparse.n_iter_ == dense.n_iter_ and sparse.t_ == dense.t_
        np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-12)
        if kw.get("early_stopping"):
            np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_,
                                       rtol=1e-12)
        for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
        np.testing.assert_allclose(sparse.predict(X) if cls is MLPRegressor
                                   else sparse.predict_proba(X),
                                   dense.predict(Xd) if cls is MLPRegressor
                                   else dense.predict_proba(Xd), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_the_drop_in_takes_scikit_learns_steps_on_wide_sparse_input(solver):
    # both libraries compute the first layer from the nonzeros (scipy.sparse's products,
    # nncore's sparse first layer): the same fit to rounding, as on dense input
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs

    from nncore.sklearn import MLPClassifier as Ours

    rng = np.random.default_rng(6)
    X = _csr(rng, 400, 3000, 0.01, np.float64)
    y = rng.integers(0, 4, 400)
    assert _kernels.sparse_first_layer(X.nnz, 400, 3000)
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Ours(**kw).fit(X, y), Theirs(**kw).fit(X, y)
    # (as the dense comparisons: L-BFGS's line search amplifies rounding)
    rtol = 1e-9 if solver == "lbfgs" else 1e-12
    _assert_same_fit(ours, theirs, rtol)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=rtol,
                               atol=rtol)


def _assert_same_fit(ours, theirs, rtol):
    """Coefficients and intercepts to rtol (of the largest coefficient, near 0), the
    loss curve (L-BFGS: the loss) to rtol, and the same number of iterations."""
    scale = max(np.abs(c).max() for c in theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(getattr(ours, "loss_curve_", ours.loss_),
                               getattr(theirs, "loss_curve_", theirs.loss_), rtol=rtol)
    assert ours.n_iter_ == theirs.n_iter_


def test_the_compact_gradient_is_taken_for_very_wide_input():
    # at most one nonzero a minibatch for every 3 columns, on average
    assert _kernels._compact_first_gradient(3000 * 100, 3000, 200, 2**16)
    assert _kernels._compact_first_gradient(400 * 20, 400, 200, 12_000)  # 4,000 a minibatch
    assert not _kernels._compact_first_gradient(400 * 20, 400, 200, 11_999)
    assert not _kernels._compact_first_gradient(3000 * 100, 3000, 200, 50_000)
    assert not _kernels._compact_first_gradient(5000 * 100, 5000, 200, 20_000)
    assert _kernels._compact_first_gradient(10, 10, 200, 80)  # (a batch of all the rows)
    before = _kernels._compact_sparse_gradient(0)
    try:
        assert not _kernels._compact_first_gradient(10, 400, 200, 2**18)
        _kernels._compact_sparse_gradient(2)
        assert _kernels._compact_first_gradient(400 * 400, 400, 200, 1000)
    finally:
        _kernels._compact_sparse_gradient(before)
    with pytest.raises(ValueError, match="mode"):
        _kernels._compact_sparse_gradient(3)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_the_drop_in_takes_scikit_learns_steps_on_hashed_features(solver, threads):
    # 2**15 columns, 20 nonzeros a row (duplicates among them, as hashing makes):
    # the compact gradient, and the same fit as scikit-learn's to rounding, with
    # the whole-width gradient as well; on one thread and on two
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs
    from threadpoolctl import threadpool_limits

    from nncore.sklearn import MLPClassifier as Ours

    rng = np.random.default_rng(8)
    n, nf = 400, 2**15
    X = sp.csr_matrix((rng.uniform(-1, 1, n * 20), rng.integers(0, nf, n * 20),
                       np.arange(0, n * 20 + 1, 20)), shape=(n, nf))
    X.sum_duplicates()
    y = rng.integers(0, 3, n)
    assert _kernels.sparse_first_layer(X.nnz, n, nf)
    assert _kernels._compact_first_gradient(X.nnz, n, 200, nf)
    kw = dict(hidden_layer_sizes=(12,), max_iter=4, random_state=0, solver=solver,
              alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = Theirs(**kw).fit(X, y)
        with threadpool_limits(threads):
            ours = Ours(**kw).fit(X, y)
            before = _kernels._compact_sparse_gradient(0)
            try:
                whole = Ours(**kw).fit(X, y)
            finally:
                _kernels._compact_sparse_gradient(before)
    for fit in (ours, whole):
        _assert_same_fit(fit, theirs, 1e-12)
        assert fit.t_ == theirs.t_


def test_training_from_nonzeros_allocates_no_buffer_for_gathered_rows():
    # at 2**20 hashed features (scikit-learn's HashingVectorizer) the buffer for a
    # minibatch's gathered rows would be 1.6 GB a thread at batch 200
    from nncore.training import LocalData

    sizes = np.array([2**16, 4, 3], dtype=np.intp)
    full = _kernels.train_workspace_size(sizes, 100, 25, 3, 0, 1)
    assert _kernels.train_workspace_size(sizes, 100, 25, 3, 0, 1, True) == full - 25 * 2**16
    rng = np.random.default_rng(8)
    X = _csr(rng, 100, 2**16, 0.0005, np.float64)
    Y = np.eye(3)[rng.integers(0, 3, 100)]
    net = nncore.Network([2**16, 4, 3], activation="relu", output="softmax",
                         loss="cross_entropy", seed=0)
    data = LocalData(net, X, Y, batch_size=25, n_threads=1)
    with data:
        ws = data._workspace(3)
    assert ws.shape[0] == _kernels.train_workspace_size(sizes, 100, 25, 3, data._block, 1, True)
    # and training in that workspace is the reference's
    X, net = X[:, :2**11], nncore.Network([2**11, 4, 3], activation="relu", output="softmax",
                                          loss="cross_entropy", seed=0)
    ref = reference.Network([2**11, 4, 3], activation="relu", output="softmax",
                            loss="cross_entropy", seed=0)
    ref.params = [float(p) for p in net.params]
    net.fit(X, Y, epochs=1, batch_size=25, optimizer="adam", learning_rate=0.01, n_threads=1)
    ref.fit(X.toarray().tolist(), Y.tolist(), epochs=1, batch_size=25, optimizer="adam",
            learning_rate=0.01)
    assert_close(net.params, ref.params, np.float64)


@pytest.mark.parametrize("n_out", [137, 270])
def test_layers_wider_than_the_registers_go_in_chunks_of_neurons(n_out, loops, dtype):
    # the tiled loops keep up to 16 vectors of neurons in registers (128 in float64,
    # 256 in float32): wider layers take several chunks, the last one partial
    rng = np.random.default_rng(n_out)
    net = nncore.Network([60, n_out, 4], activation="relu", seed=1, dtype=dtype)
    X = _csr(rng, 90, 60, 0.15, dtype, duplicates=True)
    Y = rng.uniform(0, 1, (90, 4)).astype(dtype)
    sparse = net.predict(X), net.gradient(X, Y)
    before = _kernels._sparse_first_density(-1.0)
    try:
        dense = net.predict(X), net.gradient(X, Y)
    finally:
        _kernels._sparse_first_density(before)
    assert_close(sparse[0], dense[0], dtype)
    assert_close(sparse[1], dense[1], dtype)


def _images(rng, n, dtype=np.float64):
    """MNIST-like rows: blobs on a blank 28 x 28 frame, about a fifth of them nonzero."""
    yy, xx = np.mgrid[0:28, 0:28]
    X = np.zeros((n, 784))
    for i in range(n):
        cy, cx = rng.uniform(8, 20, 2)
        r = rng.uniform(3, 6)
        blob = np.clip(1.2 - np.hypot(yy - cy, xx - cx) / r, 0, 1)
        X[i] = blob.ravel()
    return X.astype(dtype)


def test_the_nonzeros_of_dense_input_are_scipys():
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        X = _images(rng, 50, dtype)
        X[3] = 0.0  # (an empty row)
        X[4, 7] = -0.0  # (not stored, as in scipy)
        got = _kernels.nonzeros(X, 30)
        want = sp.csr_matrix(X)
        assert got is not None and got[0].dtype == dtype
        for a, b in zip(got, (want.data, want.indices, want.indptr)):
            np.testing.assert_array_equal(a, b)
    # input denser than the rule allows: None, counted only until the rule fails
    assert _kernels.nonzeros(rng.uniform(0.1, 1, (50, 30)), 30) is None
    assert _kernels.nonzeros(np.zeros((0, 5)), 30) is None
    with pytest.raises(ValueError, match="n_out must be >= 1"):
        _kernels.nonzeros(X, 0)


@pytest.mark.parametrize("dtype, optimizer", [(np.float64, "adam"), (np.float64, "sgd"),
                                              (np.float32, "sgd")])
@pytest.mark.parametrize("threads", [1, 2])
def test_dense_input_with_few_nonzeros_trains_from_them(dtype, optimizer, threads):
    # the first layer from a dense X's nonzeros: the same bits as X given in CSR form
    # (the same loops), the same to rounding as X's dense products
    if not _kernels._sparse_tiles_available():
        pytest.skip("dense input takes its nonzeros where the tiled loops run")
    rng = np.random.default_rng(1)
    X = _images(rng, 300, dtype)
    y = rng.integers(0, 3, 300)
    Y = np.eye(3, dtype=dtype)[y]
    assert _kernels.nonzeros(X, 30) is not None

    def fit(X):
        net = nncore.Network([784, 30, 3], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0, dtype=dtype)
        net.fit(X, Y, epochs=2, batch_size=50, optimizer=optimizer,
                learning_rate=1e-3 if optimizer == "adam" else 0.1, n_threads=threads)
        return net

    ours = fit(X)
    assert ours.params.tobytes() == fit(sp.csr_matrix(X)).params.tobytes()
    before = _kernels._sparse_first_density(-1.0)
    try:
        dense = fit(X)
    finally:
        _kernels._sparse_first_density(before)
    assert ours.params.tobytes() != dense.params.tobytes()  # (another path was taken)
    assert_close(ours.params, dense.params, dtype)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_the_drop_in_on_images_trains_as_with_dense_products(solver):
    from sklearn.exceptions import ConvergenceWarning

    from nncore.sklearn import MLPClassifier

    if not _kernels._sparse_tiles_available():
        pytest.skip("dense input takes its nonzeros where the tiled loops run")
    rng = np.random.default_rng(3)
    X = _images(rng, 400)
    y = rng.integers(0, 4, 400)
    kw = dict(hidden_layer_sizes=(25,), max_iter=6, random_state=0, solver=solver)
    with pytest.warns(ConvergenceWarning):
        ours = MLPClassifier(**kw).fit(X, y)
    before = _kernels._sparse_first_density(-1.0)
    try:
        with pytest.warns(ConvergenceWarning):
            dense = MLPClassifier(**kw).fit(X, y)
    finally:
        _kernels._sparse_first_density(before)
    rtol = 1e-9 if solver == "lbfgs" else 1e-12  # (as the test above)
    for a, b in zip(ours.coefs_ + ours.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    assert ours.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(ours.loss_, dense.loss_, rtol=rtol)


def test_dense_input_with_an_infinite_weight_gives_the_dense_products_nan():
    # 0 * inf is NaN in a dense product: where a weight is infinite, or a delta, dense
    # input gets the dense products' NaNs, not the nonzeros' finite sums
    from nncore.training import LocalData

    if not _kernels._sparse_tiles_available():
        pytest.skip("dense input takes its nonzeros where the tiled loops run")
    rng = np.random.default_rng(4)
    X = _images(rng, 60)
    Y = np.eye(3)[rng.integers(0, 3, 60)]
    results = []
    for density in (None, -1.0):
        net = nncore.Network([784, 6, 3], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0)
        net.weights[0][2, 0] = np.inf  # (input 0, blank in every image)
        before = _kernels._sparse_first_density(density)
        try:
            data = LocalData(net, X, Y, batch_size=20, shuffle=False, stop_nonfinite=False)
            assert (data._nonzeros is None) == (density == -1.0)
            sums = data.loss_and_gradient_sums()
            with data:
                data.run_epoch(nncore.optimizers.SGD(0.1), 0.1)
        finally:
            _kernels._sparse_first_density(before)
        results.append((sums[0], sums[1], net.params.copy()))
    (l0, g0, p0), (l1, g1, p1) = results
    assert np.isnan(g1).any() and np.isnan(p1).any()  # (what there is to match)
    np.testing.assert_allclose(l0, l1, equal_nan=True)
    np.testing.assert_allclose(g0, g1, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(p0, p1, rtol=1e-12, equal_nan=True)


def test_no_memory_for_the_nonzeros_trains_from_the_dense_array(monkeypatch):
    # (the copy of the nonzeros is an optimisation: a fit that cannot allocate it
    # takes the dense products, the same bits as with the rule switched off)
    rng = np.random.default_rng(6)
    X = _images(rng, 120)
    Y = np.eye(2)[rng.integers(0, 2, 120)]

    def fit():
        net = nncore.Network([784, 8, 2], seed=0)
        net.fit(X, Y, epochs=2, batch_size=30, n_threads=1)
        return net.params

    before = _kernels._sparse_first_density(-1.0)
    try:
        want = fit()
    finally:
        _kernels._sparse_first_density(before)

    def no_memory(X, n_out):
        raise MemoryError

    monkeypatch.setattr(_kernels, "nonzeros", no_memory)
    assert fit().tobytes() == want.tobytes()
