"""The drop-in MLPClassifier / MLPRegressor against scikit-learn's, in the same run
(issue 13): the same steps for every solver, schedule and task, and on
scikit-learn's bundled real data sets with every activation; every fitted
attribute, warm starts and partial fits, sparse input, float32, pickling, and the
estimator checks.

Tolerances: the stochastic solvers take the same steps as scikit-learn's with sums
in another order (BLAS blocks, threads), a few ulps per operation over some
hundred updates -- 1e-12 relative to the weights' scale (measured: below 6e-15).
L-BFGS's line searches and two-loop recursion amplify those differences: 1e-9
(measured: below 3e-11 after 20 iterations).  float32 against float32: 1e-4.
"""

import copy
import functools
import itertools
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

import scipy.sparse as sp  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_multilabel_classification,
    make_regression,  # noqa: E402
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import nncore  # noqa: E402
from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

RTOL = {"stochastic": 1e-12, "lbfgs": 1e-9, "float32": 1e-4}

_X, _y = load_digits(return_X_y=True)
_X = MinMaxScaler().fit_transform(_X)
_Xm, _Ym = make_multilabel_classification(n_samples=300, n_features=20, random_state=0)
_Xr, _yr = make_regression(n_samples=300, n_features=10, n_targets=3, noise=1.0,
                           random_state=0)
_yr = _yr / 100

TASKS = {
    "multiclass": (SkClassifier, MLPClassifier, _X[:400], _y[:400], {}),
    "binary": (SkClassifier, MLPClassifier, _X[:400], _y[:400] > 4, {}),
    "string-labels": (SkClassifier, MLPClassifier, _X[:300],
                      np.array(["zero", "one", "two"])[_y[:300] % 3], {}),
    "multilabel": (SkClassifier, MLPClassifier, _Xm, _Ym, {}),
    "regression": (SkRegressor, MLPRegressor, _Xr, _yr[:, 0], {}),
    "multioutput": (SkRegressor, MLPRegressor, _Xr, _yr, {}),
    "poisson": (SkRegressor, MLPRegressor, _Xr,
                np.random.RandomState(0).poisson(np.exp(_Xr[:, 0] / 3)), {"loss": "poisson"}),
}
SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=1e-2),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd-momentum": dict(solver="sgd", nesterovs_momentum=False, momentum=0.5,
                         learning_rate_init=0.05),
    "sgd-plain": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5,
                           power_t=0.3),
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", tol=0.1, n_iter_no_change=1),
    "lbfgs": dict(solver="lbfgs"),
    "adam-early-stopping": dict(solver="adam", early_stopping=True, learning_rate_init=1e-2),
    "sgd-unshuffled": dict(solver="sgd", shuffle=False, learning_rate_init=0.05),
}

ATTRIBUTES = ["loss_", "best_loss_", "loss_curve_", "validation_scores_",
              "best_validation_score_", "t_", "n_iter_", "n_layers_", "n_outputs_",
              "out_activation_", "n_features_in_", "_no_improvement_count"]


def _fit_both(task, solver, alpha=0.0, weighted=False, **extra):
    Sk, Nn, X, y, kw = TASKS[task]
    params = dict(hidden_layer_sizes=(15, 7), max_iter=20, random_state=0, alpha=alpha,
                  batch_size=32, **kw, **SOLVERS[solver], **extra)
    sw = np.random.RandomState(1).uniform(0.5, 2, len(y)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = Nn(**params).fit(X, y, sample_weight=sw)
        theirs = Sk(**params).fit(X, y, sample_weight=sw)
    return ours, theirs, X, y


def assert_same_fit(ours, theirs, rtol):
    scale = max(np.abs(c).max() for c in theirs.coefs_ + theirs.intercepts_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)
    for name in ATTRIBUTES:
        if not hasattr(theirs, name):
            assert not hasattr(ours, name), name
            continue
        a, b = getattr(ours, name), getattr(theirs, name)
        # (a notebook shows np.float64(0.25) for scikit-learn's, 0.25 for a float)
        assert type(a) is type(b), (name, type(a), type(b))
        if isinstance(b, list):
            assert [type(v) for v in a] == [type(v) for v in b], name
        if isinstance(b, (float, list)) and b is not None and not isinstance(b, str):
            np.testing.assert_allclose(a, b, rtol=rtol * 10, err_msg=name)
        else:
            assert a == b, (name, a, b)
    if hasattr(theirs, "classes_"):
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    if hasattr(theirs, "_optimizer"):
        assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate,
                                                              rel=rtol)


CASES = list(itertools.product(TASKS, SOLVERS))


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum"])
def test_the_portable_update_loops_take_scikit_learns_steps(solver):
    """Machines without AVX-512 run Adam's plain loop (and every machine the plain
    momentum loops with a penalty): scikit-learn's steps there too, penalty and
    loss curve included."""
    from nncore import _kernels

    before = _kernels._fast_adam(False)
    try:
        ours, theirs, _, _ = _fit_both("multiclass", solver, 1e-2, True)
    finally:
        _kernels._fast_adam(before)
    assert_same_fit(ours, theirs, RTOL["stochastic"])


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "multioutput", "poisson"])
@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum",
                                    "adam-early-stopping", "sgd-unshuffled"])
def test_the_first_layers_panel_steps_take_scikit_learns_steps(task, solver, first_layer):
    """Wide first layers on one thread take their update panel by panel as the
    gradient is formed (forced here on these small networks): scikit-learn's steps
    all the same, penalty, sample weights and loss curve included."""
    ours, theirs, _, _ = _fit_both(task, solver, 1e-2, True)
    assert_same_fit(ours, theirs, RTOL["stochastic"])


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "multioutput", "poisson"])
@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum", "sgd-plain",
                                    "adam-early-stopping"])
def test_neuron_split_threads_take_scikit_learns_steps(task, solver, neuron_split,
                                                       monkeypatch):
    """Two threads splitting every layer's neurons (which wide networks take at
    small batch sizes; forced here): scikit-learn's steps, penalty, sample weights
    and loss curve included."""
    from nncore import _kernels, _parallel

    if not _kernels.OPENMP or not _kernels._threads_usable():
        pytest.skip("no OpenMP threads in this process")
    monkeypatch.setattr(_parallel, "available_cpus", lambda: 2)
    n_in = TASKS[task][2].shape[1]
    assert _parallel.train_threads("auto", [n_in, 15, 7, 3], np.dtype(np.float64), 32) == 2
    ours, theirs, _, _ = _fit_both(task, solver, 1e-2, True)
    assert_same_fit(ours, theirs, RTOL["stochastic"])


@pytest.mark.parametrize("task, solver", CASES, ids=[f"{t}-{s}" for t, s in CASES])
@pytest.mark.parametrize("alpha, weighted", [(0.0, False), (1e-2, True)],
                         ids=["plain", "alpha-weighted"])
def test_the_same_steps_as_scikit_learn(task, solver, alpha, weighted):
    ours, theirs, X, _ = _fit_both(task, solver, alpha, weighted)
    rtol = RTOL["lbfgs" if solver == "lbfgs" else "stochastic"]
    assert_same_fit(ours, theirs, rtol)
    if isinstance(ours, MLPClassifier):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                                   rtol=rtol * 100, atol=rtol * 100)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X),
                                       rtol=rtol * 100, atol=rtol * 100)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol * 100,
                                   atol=rtol * 100)


# scikit-learn's bundled real data sets, standardised as a user would; every hidden
# activation at the default width (100) and batch ("auto"), each solver with its
# defaults.  (The diabetes targets stay in their units, 25-346: large gradients.)
REAL = {"iris": (SkClassifier, MLPClassifier, load_iris),
        "wine": (SkClassifier, MLPClassifier, load_wine),
        "breast-cancer": (SkClassifier, MLPClassifier, load_breast_cancer),
        "diabetes": (SkRegressor, MLPRegressor, load_diabetes)}


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("data", REAL)
def test_real_data_sets_every_activation_the_same_fit(data, activation, solver):
    Sk, Nn, load = REAL[data]
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(activation=activation, solver=solver, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Nn(**params).fit(X, y), Sk(**params).fit(X, y)
    rtol = RTOL["lbfgs" if solver == "lbfgs" else "stochastic"]
    assert_same_fit(ours, theirs, rtol)
    if Nn is MLPClassifier:
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    else:
        scale = np.abs(theirs.predict(X)).max()
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol * 100,
                                   atol=rtol * 100 * scale)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-invscaling"])
def test_warm_start_and_partial_fit_continue_as_scikit_learn(solver):
    Sk, Nn, X, y, _ = TASKS["multiclass"]
    params = dict(hidden_layer_sizes=(12,), max_iter=3, random_state=0, batch_size=50,
                  warm_start=True, **SOLVERS[solver])
    ours, theirs = Nn(**params), Sk(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (ours, theirs):
            est.fit(X, y).fit(X, y)  # warm start: the same optimizer? scikit-learn's rule
            for _ in range(3):
                est.partial_fit(X[:150], y[:150])
    assert_same_fit(ours, theirs, RTOL["stochastic"])


@pytest.mark.parametrize("between", ["nothing", "pickle", "assign", "assign-item"])
def test_a_warm_start_after_early_stopping_restores_as_scikit_learn(between):
    """scikit-learn's early stopping ends with coefs_ = _best_coefs, one set of arrays
    from then on: a warm-started fit whose validation score never beats the best
    ends at its last step (its steps moved the "best" too), not back at the first
    fit's best.  A list of coefficients assigned in between leaves the best where it
    was; an item assigned into the list (scikit-learn's best list itself) does not."""
    Sk, Nn, X, y, _ = TASKS["multilabel"]
    params = dict(hidden_layer_sizes=(12, 3), activation="identity", solver="adam",
                  learning_rate_init=0.1, epsilon=1e-3, batch_size=16, shuffle=False,
                  alpha=0.1, early_stopping=True, n_iter_no_change=10, max_iter=60,
                  random_state=44, warm_start=True)
    rng = np.random.RandomState(3)
    assigned = [rng.normal(0, 0.3, (20, 12)), rng.normal(0, 0.3, (12, 3)),
                rng.normal(0, 0.3, (3, 5))]
    runs = []
    for cls in (Nn, Sk):
        est = cls(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            first_best = [c.copy() for c in est.coefs_]
            if between == "pickle":
                est = pickle.loads(pickle.dumps(est))
            elif between == "assign":
                est.coefs_ = [c.copy() for c in assigned]
            elif between == "assign-item":
                est.coefs_[0] = assigned[0].copy()
            best = est.best_validation_score_
            est.set_params(max_iter=3)
            est.fit(X, y)
        # the case in question: no epoch of the second fit beat the first's best
        assert max(est.validation_scores_[-est.n_iter_:]) <= best
        runs.append((est, first_best))
    (ours, our_first), (theirs, their_first) = runs
    assert_same_fit(ours, theirs, RTOL["stochastic"])
    moved = not np.allclose(theirs.coefs_[0], their_first[0])
    assert moved == (between != "assign")  # scikit-learn's own outcome, as described


def test_assigned_initial_weights_are_trained_from():
    """coefs_ / intercepts_ set by hand (scikit-learn's shapes) start the training."""
    Sk, Nn, X, y, _ = TASKS["binary"]
    rng = np.random.RandomState(5)
    coefs = [rng.normal(0, 0.3, (64, 10)), rng.normal(0, 0.3, (10, 1))]
    intercepts = [rng.normal(0, 0.1, 10), rng.normal(0, 0.1, 1)]
    runs = []
    for cls in (Nn, Sk):
        est = cls(hidden_layer_sizes=(10,), solver="sgd", max_iter=1, random_state=0,
                  warm_start=True, learning_rate_init=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.coefs_ = [c.copy() for c in coefs]
            est.intercepts_ = [b.copy() for b in intercepts]
            est.fit(X, y)
        runs.append(est)
    assert_same_fit(*runs, RTOL["stochastic"])
    ours = runs[0]
    # the network is built from the assigned arrays, and coefs_ are its views again
    np.testing.assert_array_equal(ours.network_.weights[0], ours.coefs_[0].T)
    ours.coefs_[1][:] = 0.0
    ours.intercepts_[1][:] = 3.0
    np.testing.assert_allclose(ours.predict_proba(X)[:, 1], 1 / (1 + np.exp(-3.0)))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("first_layer", ["gathered", "nonzeros"])
def test_sparse_input_gives_the_dense_result(fmt, solver, first_layer):
    # each minibatch gathered dense (the same rows: the same bits), or the first layer
    # computed from the nonzeros (the same sums in another order: the same to rounding)
    from nncore import _kernels

    X = np.where(np.random.RandomState(0).uniform(size=(200, 40)) < 0.1, 1.0, 0.0)
    X[:, 0] = 1.0
    y = (X[:, 1] + X[:, 2] > 0).astype(int)
    Xs = sp.csr_matrix(X).asformat(fmt)
    kw = dict(hidden_layer_sizes=(8,), max_iter=15, random_state=0, solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        before = _kernels._sparse_first_density(-1.0)  # (dense X: its dense products)
        try:
            dense = MLPClassifier(**kw).fit(X, y)
        finally:
            _kernels._sparse_first_density(before)
        before = _kernels._sparse_first_density(-1.0 if first_layer == "gathered" else 1.0)
        try:
            sparse = MLPClassifier(**kw).fit(Xs, y)
            sparse_proba = sparse.predict_proba(Xs)
        finally:
            _kernels._sparse_first_density(before)
    for a, b in zip(dense.coefs_, sparse.coefs_):
        np.testing.assert_allclose(a, b, rtol=RTOL["lbfgs"], atol=1e-13)
    if first_layer == "gathered":
        np.testing.assert_array_equal(dense.predict_proba(X), sparse.predict_proba(X))
    # (L-BFGS amplifies the nonzeros' other rounding into its iterates, as the coefs')
    np.testing.assert_allclose(sparse_proba, dense.predict_proba(X), rtol=RTOL[
        "lbfgs" if first_layer == "nonzeros" and solver == "lbfgs" else "stochastic"])


@pytest.mark.parametrize("Sk, Nn", [(SkClassifier, MLPClassifier), (SkRegressor, MLPRegressor)])
def test_float32_trains_in_float32(Sk, Nn):
    X, y = _X[:300].astype(np.float32), _y[:300]
    kw = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Nn(**kw).fit(X, y), Sk(**kw).fit(X, y)
    assert ours.network_.dtype == np.float32
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=RTOL["float32"], atol=RTOL["float32"])
    # other inputs meet the float32 coefficients in float64, as in scikit-learn:
    # with the same coefficients, the same float64 outputs
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    for change in (0.0, 0.5):  # (the second time after a coefficient changed in place)
        ours.coefs_[0][3, 1] += change
        theirs.coefs_[0][3, 1] += change
        for X_other in (_X[:50], (_X[:50] * 16).astype(np.int64)):
            for method in ("predict_proba", "predict_log_proba") if Nn is MLPClassifier \
                    else ("predict",):
                a, b = getattr(ours, method)(X_other), getattr(theirs, method)(X_other)
                assert a.dtype == b.dtype == np.float64, method
                np.testing.assert_allclose(a, b, rtol=RTOL["stochastic"],
                                           atol=RTOL["stochastic"])
    assert ours.predict_proba(X[:5]).dtype == np.float32 if Nn is MLPClassifier \
        else ours.predict(X[:5]).dtype == np.float32


@pytest.mark.parametrize("Sk, Nn", [(SkClassifier, MLPClassifier), (SkRegressor, MLPRegressor)])
def test_lbfgs_on_float32_ends_with_float64_coefficients_as_scikit_learns(Sk, Nn):
    # SciPy evaluates the objective at its float64 iterates cast to float32 (the
    # dtype of scikit-learn's packed float32 coefficients), then scikit-learn
    # unpacks the float64 solution itself
    X, y = _X[:300].astype(np.float32), _y[:300]
    kw = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Nn(**kw).fit(X, y), Sk(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    assert ours.network_.dtype == np.float64
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=RTOL["float32"], atol=RTOL["float32"])
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=RTOL["float32"])
    method = "predict_proba" if Nn is MLPClassifier else "predict"
    a, b = getattr(ours, method)(X), getattr(theirs, method)(X)
    assert a.dtype == b.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=RTOL["float32"], atol=RTOL["float32"])


def test_adams_learning_rate_follows_its_steps_as_scikit_learns():
    # scikit-learn's AdamOptimizer sets learning_rate at every step, so it holds the
    # last step's bias-corrected rate also where a fit stopped mid-way: here, its
    # own error when early stopping is switched on for a warm start
    X, y = _X[:120], _y[:120]
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, batch_size=50, random_state=3,
              warm_start=True)
    ests = [Est(**kw) for Est in (SkClassifier, MLPClassifier)]
    errors = []
    for est in ests:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.set_params(early_stopping=True)
            with pytest.raises(AttributeError) as info:
                est.fit(X, y)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    theirs, ours = (est._optimizer for est in ests)
    assert ours.step_count == theirs.t == 3  # (a new optimiser: one epoch of 108 rows)
    assert ours.learning_rate == pytest.approx(theirs.learning_rate, rel=1e-15)
    assert pickle.loads(pickle.dumps(ests[1]))._optimizer.learning_rate == ours.learning_rate


def test_the_network_and_its_views():
    clf = MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
    with pytest.raises(NotFittedError):
        _ = clf.network_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_X[:200], _y[:200])
    net = clf.network_
    assert isinstance(net, nncore.Network) and net.sizes == (64, 7, 10)
    assert net.activations == ["relu", "softmax"] and net.loss_name == "log_loss"
    np.testing.assert_array_equal(net.predict(_X[:5]), clf.predict_proba(_X[:5]))
    assert np.shares_memory(clf.coefs_[0], net.params)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(_Xr, np.abs(_yr[:, 0]))
    assert reg.network_.activations[-1] == "exp" and reg.out_activation_ == "exp"
    with pytest.raises(ValueError, match="negative.*Poisson"):
        MLPRegressor(loss="poisson").fit(_Xr, _yr[:, 0])


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_text_targets_are_refused(method):
    """scikit-learn's regressor lets string targets through its checks and fails in
    its loss (NumPy's UFuncTypeError, a TypeError); a conversion to float would train
    on what the strings spell, "nan" among them: a TypeError naming the dtype."""
    y = _yr[:60, 0].astype(str)
    y[3] = "nan"
    with pytest.raises(TypeError):
        getattr(SkRegressor(max_iter=2), method)(_Xr[:60], y)
    for est in (MLPRegressor(max_iter=2), nncore.sklearn.NNRegressor(epochs=2)):
        with pytest.raises(TypeError, match="y has dtype <U.*numeric targets"):
            getattr(est, method)(_Xr[:60], y)
        with pytest.raises(TypeError, match="y has dtype <U.*numeric targets"):
            getattr(est, method)(_Xr[:60], list(y))
        assert not hasattr(est, "coefs_") and not hasattr(est, "network_")
    est = MLPRegressor(max_iter=2).partial_fit(_Xr[:60], _yr[:60, 0])
    with pytest.raises(TypeError, match="numeric targets"):
        est.partial_fit(_Xr[:60], y)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_pickle_round_trip_continues_identically(solver):
    clf = MLPClassifier(hidden_layer_sizes=(9,), max_iter=4, random_state=0, solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_X[:300], _y[:300])
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(_X), clf.predict_proba(_X))
    assert np.shares_memory(back.coefs_[0], back.network_.params)
    if solver == "adam":
        for est in (clf, back):
            est.partial_fit(_X[300:400], _y[300:400])
        for a, b in zip(clf.coefs_, back.coefs_):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_pickle_holds_one_copy_of_the_parameters(early_stopping):
    # as scikit-learn, the best parameters are kept only for early stopping: without
    # it a fitted model's pickle holds its parameters and its optimiser's state
    # (Adam: two moments) once, not a copy of the parameters besides
    clf = MLPClassifier(hidden_layer_sizes=(200,), max_iter=2, random_state=0,
                        early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_X[:300], _y[:300])
    size = len(pickle.dumps(clf))
    params = clf.network_.params.nbytes
    expected = 3 * params + (params if early_stopping else 0)
    assert expected < size < expected + params // 4
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(_X), clf.predict_proba(_X))


def test_an_interrupted_lbfgs_keeps_its_last_completed_iteration():
    class Interrupted(MLPClassifier):
        """Raises KeyboardInterrupt in its 7th loss evaluation (inside a line search
        or at the start of an iteration: never where an iteration has just ended)."""

        def _full_batch_data(self, net, X, Y, sample_weight):
            data = super()._full_batch_data(net, X, Y, sample_weight)
            evaluate, calls = data.loss_and_gradient_sums, []

            def interrupted():
                calls.append(1)
                if len(calls) == 7:
                    raise KeyboardInterrupt
                return evaluate()

            data.loss_and_gradient_sums = interrupted
            return data

    params = dict(hidden_layer_sizes=(9,), solver="lbfgs", random_state=0, tol=0)
    clf = Interrupted(max_iter=50, **params)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(_X[:300], _y[:300])
    assert 1 <= clf.n_iter_ < 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MLPClassifier(max_iter=clf.n_iter_, **params).fit(_X[:300], _y[:300])
    np.testing.assert_array_equal(clf.network_.params, ref.network_.params)
    assert clf.loss_ == ref.loss_


def test_pipeline_and_grid_search():
    grid = {"mlpclassifier__hidden_layer_sizes": [(5,), (20,)],
            "mlpclassifier__alpha": [1e-4, 1e-2]}
    searches = []
    for cls in (MLPClassifier, SkClassifier):
        pipe = make_pipeline(StandardScaler(), cls(max_iter=40, learning_rate_init=0.01,
                                                   random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            searches.append(GridSearchCV(pipe, grid, cv=3).fit(_X[:600], _y[:600]))
    ours, theirs = searches
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-12)
    assert ours.best_score_ > 0.85
    assert ours.score(_X[600:900], _y[600:900]) == theirs.score(_X[600:900], _y[600:900])


def test_leaky_relu_is_nncores_addition():
    clf = MLPClassifier(activation="leaky_relu", hidden_layer_sizes=(20,), max_iter=60,
                        learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_X[:500], _y[:500])
    assert clf.network_.activations[0] == "leaky_relu"
    assert clf.score(_X[500:800], _y[500:800]) > 0.85
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(_X[:10], _y[:10])


@pytest.mark.parametrize("make", [lambda C, R: C(max_iter=100), lambda C, R: R(max_iter=100),
                                  lambda C, R: R(loss="poisson", solver="lbfgs")],
                         ids=["MLPClassifier", "MLPRegressor", "MLPRegressor-poisson"])
def test_scikit_learn_estimator_checks(make):
    """scikit-learn's estimator checks, with no expected failure, on the instances
    scikit-learn checks its own MLPs with (max_iter=100); and the Poisson regressor,
    whose targets are declared non-negative (scikit-learn's own MLP trains on
    negative counts with a NaN loss and fails check_regressors_train there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = check_estimator(make(MLPClassifier, MLPRegressor), on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert not failed
    assert len(results) > 50


@pytest.mark.parametrize("make", [
    lambda C, R: C(solver="lbfgs", random_state=0),
    lambda C, R: R(solver="sgd", tol=1e-2, random_state=42),
    lambda C, R: C(solver="sgd", early_stopping=True, max_iter=50, random_state=0),
], ids=["C-lbfgs", "R-sgd-tol", "C-early-stopping"])
def test_other_settings_pass_and_fail_the_checks_scikit_learn_does(make):
    """Where scikit-learn's own MLP fails a check in some setting (its sample-weight
    checks with early stopping, its lbfgs on the multilabel check, ...), the drop-in
    fails the same one: a user notices no difference."""
    outcomes = []
    for C, R in ((MLPClassifier, MLPRegressor), (SkClassifier, SkRegressor)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = check_estimator(make(C, R), on_fail=None)
        # scikit-learn runs its own MLPs' sample-weight checks with settings of its own
        # (below), whatever the instance: those two are compared there
        outcomes.append({(r["check_name"], r["status"]) for r in results
                         if not r["check_name"].startswith("check_sample_weight_equivalence")})
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("fit", ["fit", "partial_fit"])
def test_parameter_checks_follow_scikit_learns_fit_context(fit):
    """As scikit-learn's fit: the parameters checked once, what fit calls not checking
    its own again (validation_fraction=0.0 fails in train_test_split's split, with
    its message), and nothing checked under set_config(skip_parameter_validation)."""
    X, y = _X[:100], _y[:100]
    kw = {"classes": np.unique(y)} if fit == "partial_fit" else {}
    errors = []
    for C in (MLPClassifier, SkClassifier):
        with pytest.raises(ValueError) as info:
            getattr(C(early_stopping=True, validation_fraction=0.0), fit)(X, y, **kw)
        errors.append((type(info.value), str(info.value)))
    if fit == "fit":  # (partial_fit does not stop early: its check fails first)
        assert "test_size=0.0" in errors[0][1]
    assert errors[0] == errors[1]
    fits = []
    with sklearn.config_context(skip_parameter_validation=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in (MLPClassifier, SkClassifier):
            est = C(hidden_layer_sizes=(5,), tol=-1.0, max_iter=3, random_state=0)
            fits.append(getattr(est, fit)(X, y, **kw))
    assert_same_fit(*fits, RTOL["stochastic"])
    with pytest.raises(ValueError, match="tol"):
        MLPClassifier(tol=-1.0).fit(X, y)


@pytest.mark.parametrize("est", [MLPClassifier(solver="lbfgs"),
                                 MLPRegressor(solver="sgd", tol=1e-2, random_state=42)],
                         ids=repr)
@pytest.mark.parametrize("sparse", [False, True])
def test_sample_weights_are_repetitions_in_scikit_learns_settings(est, sparse):
    """Integer sample weights equal repeated samples, checked as scikit-learn checks
    its own MLPs (lbfgs for the classifier, sgd with tol=1e-2 for the regressor)."""
    from sklearn.utils.estimator_checks import (
        check_sample_weight_equivalence_on_dense_data,
        check_sample_weight_equivalence_on_sparse_data,
    )

    check = (check_sample_weight_equivalence_on_sparse_data if sparse
             else check_sample_weight_equivalence_on_dense_data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(est).__name__, est)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("labels", ["multiclass", "strings", "binary", "one-class",
                                    "multilabel", "sparse-fit"])
def test_predicts_labels_as_the_label_binarizer(labels, dtype):
    """predict turns the network's outputs into labels without LabelBinarizer's
    dispatch: the same labels, dtype and shape as its inverse_transform, ties,
    NaN rows and outputs at the threshold included."""
    from sklearn.preprocessing import LabelBinarizer

    from nncore._sklearn_mlp import _inverse_binarize

    rng = np.random.default_rng(3)
    y = {"multiclass": rng.integers(0, 4, 30), "strings": rng.choice(["a", "bb", "c"], 30),
         "binary": rng.choice([-3, 7], 30), "one-class": np.full(30, "x"),
         "multilabel": rng.integers(0, 2, (30, 3)),
         "sparse-fit": sp.csr_matrix(rng.integers(0, 2, (30, 3)))}[labels]
    lb = LabelBinarizer().fit(y)
    width = 1 if lb.y_type_ == "binary" else len(lb.classes_)
    out = rng.uniform(0, 1, (40, width)).astype(dtype)
    out[1] = np.nan
    out[2] = 0.5  # ties, and the binary threshold itself
    if width == 1:
        out = out.ravel()
    want = lb.inverse_transform(out)
    if labels != "sparse-fit":  # (which scikit-learn's code keeps: a sparse result)
        def refuse(*args, **kwargs):
            raise AssertionError("went through LabelBinarizer.inverse_transform")
        lb.inverse_transform = refuse
    got = _inverse_binarize(lb, out)
    assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.toarray() if sp.issparse(got) else got,
                                  want.toarray() if sp.issparse(want) else want)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("rows", [1, 64, 65, 300])
def test_predict_takes_and_refuses_inputs_as_scikit_learn(task, rows):
    """Well-formed arrays skip scikit-learn's validation (a few rows through the lean
    path, more through the kernels, which check that they are finite); anything
    else goes through it: the same outputs, and the same errors, either way."""
    Sk, Nn, X, y, _ = TASKS[task]
    kw = dict(hidden_layer_sizes=(15,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk, nn = Sk(**kw).fit(X, y), Nn(**kw).fit(X, y)
    Xr = np.ascontiguousarray(np.resize(X, (rows, X.shape[1])))
    nan, inf = Xr.copy(), Xr.copy()
    nan[-1, 3] = np.nan
    inf[rows // 2, 0] = -np.inf
    inputs = {"well-formed": Xr, "nan": nan, "inf": inf, "narrow": Xr[:, :-1],
              "wide": np.hstack([Xr, Xr[:, :1]]), "float32": Xr.astype(np.float32),
              "fortran": np.asfortranarray(Xr), "strided": np.repeat(Xr, 2, axis=1)[:, ::2],
              "int": (Xr * 10).astype(np.int64), "list": Xr.tolist(), "empty": Xr[:0],
              "1-d": Xr[0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # (NumPy's on matrix)
        inputs["matrix"] = np.asmatrix(Xr)
    methods = ["predict"] + (["predict_proba"] if Sk is SkClassifier else [])
    for name, data in inputs.items():
        for method in methods:
            outcome = []
            for est in (sk, nn):
                try:
                    outcome.append(getattr(est, method)(data))
                except Exception as exc:  # noqa: BLE001 -- compared below
                    outcome.append(exc)
            want, got = outcome
            where = f"{method}({name})"
            if isinstance(want, Exception):
                assert type(got) is type(want) and str(got) == str(want), where
            else:
                assert not isinstance(got, Exception), f"{where}: {got!r}"
                assert got.dtype == want.dtype and got.shape == want.shape, where
                if got.dtype.kind == "f":
                    np.testing.assert_allclose(got, want, rtol=RTOL["stochastic"],
                                               atol=1e-14, err_msg=where)
                else:
                    np.testing.assert_array_equal(got, want, err_msg=where)


@pytest.mark.parametrize("labels", ["multiclass", "int8", "uint", "strings", "bools",
                                    "binary", "one-class", "objects", "floats"])
def test_binarizes_labels_as_the_label_binarizer(labels):
    """fit and partial_fit turn labels into an indicator matrix without
    LabelBinarizer's checks where the labels are a plain array: the same matrix as
    its transform; other labels go through it."""
    from sklearn.preprocessing import LabelBinarizer

    from nncore._sklearn_mlp import _binarize

    rng = np.random.default_rng(5)
    y = {"multiclass": rng.integers(-2, 5, 40), "int8": rng.integers(0, 3, 40).astype(np.int8),
         "uint": rng.integers(0, 4, 40).astype(np.uint64),
         "strings": rng.choice(["a", "bb", "c", "dd"], 40), "bools": rng.random(40) > 0.5,
         "binary": rng.choice([-3, 7], 40), "one-class": np.full(40, 2),
         "objects": rng.choice(["x", "y", "z"], 40).astype(object),
         "floats": rng.integers(0, 3, 40).astype(float)}[labels]
    lb = LabelBinarizer().fit(y)
    want = lb.transform(y).astype(bool)
    fast = labels not in ("objects", "floats")
    if fast:
        def refuse(*args, **kwargs):
            raise AssertionError("went through LabelBinarizer.transform")
        lb.transform = refuse
    for part in (y, y[:7], y[:1]):  # (a partial_fit's batch: a subset of the classes)
        got = _binarize(lb, part)
        assert got.dtype == bool and got.shape == (part.shape[0], want.shape[1])
        np.testing.assert_array_equal(got, want[:part.shape[0]])


def _outcome(method, *args):
    """What a call gave: its result or its exception, and its warnings' messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = method(*args)
        except Exception as exc:  # noqa: BLE001 -- compared by the caller
            result = exc
    return result, sorted(str(w.message) for w in caught
                          if not issubclass(w.category, ConvergenceWarning))


_IRIS_X, _IRIS_Y = load_iris(return_X_y=True)
_IRIS_X = _IRIS_X / 8
_CLASSES = np.unique(_IRIS_Y)
#: name -> calls, each (C, previous estimator) -> estimator, on iris
_SEQUENCES = {
    "no hidden layer": [lambda C, e: C(hidden_layer_sizes=(), max_iter=5).fit],
    "an empty list": [lambda C, e: C(hidden_layer_sizes=[], max_iter=5).fit],
    "an int": [lambda C, e: C(hidden_layer_sizes=5, max_iter=5).fit],
    "an array": [lambda C, e: C(hidden_layer_sizes=np.array([5, 3]), max_iter=5).fit],
    "a zero layer": [lambda C, e: C(hidden_layer_sizes=(0,)).fit],
    "batch clipped": [lambda C, e: C(batch_size=1000, max_iter=5).fit],
    "batch of one": [lambda C, e: C(batch_size=1, max_iter=2).fit],
    "learning rate too large": [lambda C, e: C(learning_rate_init=1e3, max_iter=20).fit],
    "early stopping, 1% held out": [
        lambda C, e: C(early_stopping=True, validation_fraction=0.01, max_iter=5).fit],
    "early stopping, 99% held out": [
        lambda C, e: C(early_stopping=True, validation_fraction=0.99, max_iter=5).fit],
    "momentum 1": [lambda C, e: C(solver="sgd", momentum=1.0, max_iter=5).fit],
    "adaptive adam, tol 0": [
        lambda C, e: C(learning_rate="adaptive", tol=0, n_iter_no_change=1, max_iter=20).fit],
    "lbfgs, max_fun 3": [lambda C, e: C(solver="lbfgs", max_fun=3).fit],
    "warm start, hidden layers changed": [
        lambda C, e: C(warm_start=True, max_iter=3, hidden_layer_sizes=(5,)).fit,
        lambda C, e: e.set_params(hidden_layer_sizes=(6,)).fit],
    "warm start, fewer classes": [lambda C, e: C(warm_start=True, max_iter=3).fit,
                                  lambda C, e: lambda X, y: e.fit(X[:100], y[:100])],
    "warm start, solver changed": [
        lambda C, e: C(warm_start=True, max_iter=3).fit,
        lambda C, e: e.set_params(solver="sgd").fit,
        lambda C, e: e.set_params(solver="lbfgs").fit],
    "warm start, early stopping": [
        lambda C, e: C(warm_start=True, max_iter=3, early_stopping=True).fit,
        lambda C, e: e.fit],
    "warm start, narrower X": [lambda C, e: C(warm_start=True, max_iter=2).fit,
                               lambda C, e: lambda X, y: e.fit(X[:, :3], y)],
    "partial_fit with lbfgs": [
        lambda C, e: lambda X, y: C(solver="lbfgs").partial_fit(X, y, classes=_CLASSES)],
    "partial_fit without classes": [lambda C, e: C().partial_fit],
    "partial_fit, classes missing one": [
        lambda C, e: lambda X, y: C().partial_fit(X, y, classes=[0, 1])],
    "partial_fit, classes changed": [
        lambda C, e: lambda X, y: C().partial_fit(X, y, classes=_CLASSES),
        lambda C, e: lambda X, y: e.partial_fit(X, y, classes=[0, 1, 2, 3])],
    "fit, then partial_fit": [lambda C, e: C(max_iter=3).fit, lambda C, e: e.partial_fit],
    "partial_fit, then fit": [
        lambda C, e: lambda X, y: C(max_iter=3).partial_fit(X, y, classes=_CLASSES),
        lambda C, e: e.fit],
    "partial_fit, adaptive sgd": [
        lambda C, e: lambda X, y: C(solver="sgd", learning_rate="adaptive").partial_fit(
            X, y, classes=_CLASSES),
        lambda C, e: e.partial_fit, lambda C, e: e.partial_fit],
    "partial_fit, early stopping": [
        lambda C, e: lambda X, y: C(early_stopping=True).partial_fit(X, y, classes=_CLASSES)],
    "partial_fit, narrower X": [
        lambda C, e: lambda X, y: C().partial_fit(X, y, classes=_CLASSES),
        lambda C, e: lambda X, y: e.partial_fit(X[:, :3], y)],
    "warm start from partial_fit": [
        lambda C, e: lambda X, y: C(warm_start=True, max_iter=2).partial_fit(
            X, y, classes=_CLASSES),
        lambda C, e: e.fit],
}


@pytest.mark.parametrize("name", list(_SEQUENCES))
def test_odd_settings_and_call_sequences_go_as_in_scikit_learn(name):
    """Unusual settings and sequences of fit / partial_fit / set_params on iris: after
    each call, the same fitted attributes as scikit-learn's, or the same error, and
    the same warnings."""
    outcomes = []
    for C in (SkClassifier, MLPClassifier):
        est, steps = None, []
        make = functools.partial(C, random_state=0)
        for step in _SEQUENCES[name]:
            call = functools.partial(lambda step, make, est: step(make, est)(_IRIS_X, _IRIS_Y),
                                     step, make, est)
            got, said = _outcome(call)
            if not isinstance(got, Exception):
                est = got
            steps.append((copy.deepcopy(got), said))
        outcomes.append(steps)
    for i, ((want, want_warn), (got, got_warn)) in enumerate(zip(*outcomes)):
        where = f"{name}, call {i + 1}"
        assert got_warn == want_warn, where
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want), where
        else:
            assert not isinstance(got, Exception), f"{where}: {got!r}"
            assert_same_fit(got, want, RTOL["lbfgs"] if got.solver == "lbfgs"
                            else RTOL["stochastic"])
            np.testing.assert_array_equal(got.classes_, want.classes_)


@pytest.mark.parametrize("task", ["multiclass", "binary", "string-labels", "regression",
                                  "multioutput"])
def test_partial_fit_takes_and_refuses_inputs_as_scikit_learn(task, monkeypatch):
    """After the first partial_fit, a plain batch (a C-contiguous float array of the
    fitted width, a 1-D array of known labels or finite targets) skips scikit-learn's
    validation; anything else goes through it: the same steps, errors and warnings
    as scikit-learn's own partial_fit, input by input."""
    import copy

    import nncore._sklearn_mlp as mlp

    Sk, Nn, X, y, _ = TASKS[task]
    X, y = X[:60], y[:60]
    kw = dict(hidden_layer_sizes=(7,), random_state=0, solver="sgd")
    first = {"classes": np.unique(y)} if Sk is SkClassifier else {}
    pair = [C(**kw).partial_fit(X[:30], y[:30], **first) for C in (Sk, Nn)]
    Xb, yb = np.ascontiguousarray(X[30:]), y[30:]
    nan, inf = Xb.copy(), Xb.copy()
    nan[3, 1] = np.nan
    inf[-1, 0] = np.inf
    batches = {"plain": (Xb, yb), "one row": (Xb[:1], yb[:1]), "nan": (nan, yb),
               "inf": (inf, yb), "narrow": (Xb[:, :-1], yb),
               "wide": (np.hstack([Xb, Xb[:, :1]]), yb), "float32": (Xb.astype(np.float32), yb),
               "fortran": (np.asfortranarray(Xb), yb), "int": ((Xb * 4).astype(int), yb),
               "list": (Xb.tolist(), list(yb)), "empty": (Xb[:0], yb[:0]),
               "short y": (Xb, yb[:-1]), "column y": (Xb, yb.reshape(-1, 1))}
    if Sk is SkClassifier:
        unknown = np.where(yb == yb[0], yb[-1], yb).astype(object)
        unknown[2] = "new" if yb.dtype.kind == "U" else 99
        batches.update({"unknown label": (Xb, unknown.astype(yb.dtype)),
                        "labels as floats": (Xb, yb.astype(float))
                        if yb.dtype.kind != "U" else (Xb, yb.astype(object)),
                        "one class": (Xb, np.full_like(yb, yb[0]))})
    else:
        bad = yb.copy()
        bad.flat[4] = np.nan
        batches.update({"nan y": (Xb, bad), "int y": (Xb, (yb * 10).astype(int))})
    for name, (Xc, yc) in batches.items():
        results = [_outcome(copy.deepcopy(e).partial_fit, Xc, yc) for e in pair]
        (want, want_warn), (got, got_warn) = results
        assert got_warn == want_warn, name
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want), name
        else:
            assert not isinstance(got, Exception), f"{name}: {got!r}"
            assert_same_fit(got, want, RTOL["stochastic"] if Xc is not batches["float32"][0]
                            else RTOL["float32"])

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's validate_data")
    monkeypatch.setattr(mlp, "validate_data", refuse)
    pair[1].partial_fit(Xb, yb)


@pytest.mark.parametrize("task", ["multiclass", "binary", "string-labels", "multilabel",
                                  "regression", "multioutput"])
def test_fit_takes_and_refuses_inputs_as_scikit_learn(task, monkeypatch):
    """A first fit of plain arrays (a C-contiguous float X; 1-D integer, bool or
    string labels, or finite targets) skips scikit-learn's validation and its label
    binarizer's checks; anything else goes through them: the same fit, errors and
    warnings as scikit-learn's own fit, input by input, and the same feature names
    forgotten after a DataFrame fit."""
    from sklearn.preprocessing import LabelBinarizer

    import nncore._sklearn_mlp as mlp

    pd = pytest.importorskip("pandas")
    Sk, Nn, X, y, _ = TASKS[task]
    X, y = np.ascontiguousarray(X[:60]), y[:60]
    kw = dict(hidden_layer_sizes=(7,), random_state=0, solver="sgd", max_iter=3)
    nan, inf = X.copy(), X.copy()
    nan[3, 1] = np.nan
    inf[-1, 0] = np.inf
    inputs = {"plain": (X, y), "one row": (X[:1], y[:1]), "nan": (nan, y), "inf": (inf, y),
              "float32": (X.astype(np.float32), y), "fortran": (np.asfortranarray(X), y),
              "int": ((X * 4).astype(int), y), "list": (X.tolist(), y.tolist()),
              "empty": (X[:0], y[:0]), "no columns": (X[:, :0], y), "short y": (X, y[:-1]),
              "column y": (X, y.reshape(len(y), -1)[:, :1]),
              "frame": (pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]), y),
              "huge": (np.full(X.shape, 1e300), y)}
    frame = inputs["frame"][0]
    numpy_names = frame.copy()
    numpy_names.columns = pd.Index([np.str_(c) for c in frame.columns], dtype=object)
    nan_frame = frame.copy()
    nan_frame.iloc[2, 1] = np.nan
    y_frame = pd.Series(y) if y.ndim == 1 else pd.DataFrame(y)
    inputs.update({
        "frame, pandas y": (frame, y_frame), "frame, reordered": (frame.iloc[:, ::-1], y),
        "frame, float32": (frame.astype(np.float32), y_frame),
        "frame, an int column": (frame.astype({"f0": int}), y),
        "frame, int names": (pd.DataFrame(X), y), "frame, numpy str names": (numpy_names, y),
        "frame, nan": (nan_frame, y), "frame, empty": (frame.iloc[:0], y[:0]),
        "frame, one column (a read-only view)": (frame[["f0"]], y_frame),
        "frame, a sparse column": (frame.astype({"f0": pd.SparseDtype(float, 0.0)}), y)})
    if Sk is SkClassifier and y.ndim == 1:
        strings = y.astype(str)
        odd = strings.astype(object)
        odd[5] = None
        mixed = strings.astype(object)
        mixed[7] = 3
        inputs.update({"labels as objects": (X, y.astype(object)),
                       "strings as objects": (X, strings.astype(object)),
                       "strings as pandas strings": (frame, pd.Series(strings)),
                       "strings and a None": (X, odd), "strings and an int": (X, mixed),
                       "strings and a nan": (X, np.where(np.arange(len(y)) == 2, np.nan,
                                                         strings.astype(object))),
                       "pandas strings and a missing one": (X, pd.Series(odd).astype("str")),
                       "labels as floats": (X, y.astype(float) if y.dtype.kind != "U"
                                            else y.astype(object)),
                       "one class": (X, np.full_like(y, y[0])),
                       "int8 labels": (X, y.astype(np.int8) if y.dtype.kind in "iub"
                                       else y.astype("<U9"))})
    elif Sk is SkRegressor:
        bad = y.copy()
        bad.flat[4] = np.nan
        inputs.update({"nan y": (X, bad), "int y": (X, (y * 10).astype(int)),
                       "float32 y": (X, y.astype(np.float32))})
    if y.ndim == 1:
        inputs.update({"array, pandas y": (X, y_frame),
                       "frame, categorical y": (frame, y_frame.astype("category")),
                       "frame, nullable y": (frame, y_frame.astype(
                           "Int64" if y.dtype.kind in "iu" else "boolean" if y.dtype == bool
                           else "Float64" if y.dtype.kind == "f" else "string"))})
    for name, (Xc, yc) in inputs.items():
        fresh = [C(**kw) for C in (Sk, Nn)]
        # (fitted before on a DataFrame: a refit on an array forgets its feature names)
        renamed = [C(**kw).fit(inputs["frame"][0], y) for C in (Sk, Nn)]
        for pair in (fresh, renamed):
            (want, want_warn), (got, got_warn) = [_outcome(copy.deepcopy(e).fit, Xc, yc)
                                                  for e in pair]
            if name == "huge":  # (NumPy's overflow warnings in scikit-learn's products)
                want_warn = [w for w in want_warn if "encountered in" not in w]
            assert got_warn == want_warn, name
            if isinstance(want, Exception):
                assert type(got) is type(want) and str(got) == str(want), name
                continue
            assert not isinstance(got, Exception), f"{name}: {got!r}"
            assert_same_fit(got, want, RTOL["stochastic"] if np.asarray(Xc).dtype != np.float32
                            else RTOL["float32"])
            for attr in ("n_features_in_", "feature_names_in_", "classes_"):
                assert hasattr(got, attr) == hasattr(want, attr), (name, attr)
                if hasattr(want, attr):
                    a, b = getattr(got, attr), getattr(want, attr)
                    assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
                    np.testing.assert_array_equal(a, b)
    if y.ndim == 1:
        def refuse(*args, **kwargs):
            raise AssertionError("went through scikit-learn's checks")
        monkeypatch.setattr(mlp, "validate_data", refuse)
        monkeypatch.setattr(LabelBinarizer, "fit", refuse)
        Nn(**kw).fit(X, y)
        Nn(**kw).fit(frame, y_frame)
        if y.dtype.kind == "U":
            Nn(**kw).fit(X, y.astype(object))


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_partial_fit_of_dataframes_goes_as_in_scikit_learn(task, monkeypatch):
    """Begun on a DataFrame, partial_fit takes each later frame of the same
    columns, all float64 or float32, with labels or targets as an array or a
    Series, without scikit-learn's checks; every other frame goes through them:
    the same steps, errors and warnings as scikit-learn's own, batch by batch."""
    from conftest import frame_variants

    import nncore._sklearn_mlp as mlp

    pd = pytest.importorskip("pandas")
    Sk, Nn, X, y, _ = TASKS[task]
    frame = pd.DataFrame(X[:60], columns=[f"f{i}" for i in range(X.shape[1])])
    y = y[:60]
    kw = dict(hidden_layer_sizes=(7,), random_state=0, solver="sgd")
    first = {"classes": np.unique(y)} if Sk is SkClassifier else {}
    pair = [C(**kw).partial_fit(frame.iloc[:30], y[:30], **first) for C in (Sk, Nn)]
    for name, Xc in frame_variants(pd, frame.iloc[30:]).items():
        rows = len(Xc)
        for yc in (y[30:30 + rows], pd.Series(y[30:30 + rows])):
            (want, want_warn), (got, got_warn) = [_outcome(copy.deepcopy(e).partial_fit, Xc, yc)
                                                  for e in pair]
            assert got_warn == want_warn, name
            if isinstance(want, Exception):
                assert type(got) is type(want) and str(got) == str(want), name
            else:
                assert not isinstance(got, Exception), f"{name}: {got!r}"
                assert_same_fit(got, want, RTOL["stochastic"])

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's validate_data")
    monkeypatch.setattr(mlp, "validate_data", refuse)
    pair[1].partial_fit(frame.iloc[30:], pd.Series(y[30:]))
    pair[1].partial_fit(frame.iloc[30:].astype(np.float32), y[30:])


@pytest.mark.parametrize("labels", ["ints", "int8", "uint64", "negative", "bools", "one bool",
                                    "binary", "one class", "strings", "wide strings",
                                    "one row", "floats", "objects", "list", "2-D",
                                    "indicator", "empty"])
def test_fit_label_binarizer_is_scikit_learns(labels):
    """A plain label array's binarizer is built without type_of_target's checks: the
    same attributes, to their dtypes, as LabelBinarizer().fit; other labels go to
    its fit, their errors included."""
    from sklearn.preprocessing import LabelBinarizer

    from nncore._sklearn_base import fit_label_binarizer

    rng = np.random.default_rng(3)
    ints = rng.integers(0, 4, 30)
    y = {"ints": ints, "int8": ints.astype(np.int8),
         "uint64": ints.astype(np.uint64) + np.uint64(2**63),
         "negative": ints - 7, "bools": ints > 1, "one bool": np.ones(30, bool),
         "binary": ints % 2 * 9, "one class": np.full(30, 4),
         "strings": np.array(["a", "bb", "ccc", "d"])[ints],
         "wide strings": np.array(["a", "bb", "ccc", "d"], dtype="<U12")[ints],
         "one row": ints[:1], "floats": ints.astype(float),
         "objects": np.array(["a", "b", "c", "d"], dtype=object)[ints],
         "list": ints.tolist(), "2-D": ints.reshape(10, 3), "indicator": (ints.reshape(10, 3) > 1)
         .astype(int), "empty": ints[:0]}[labels]
    outcomes = []
    for fit in (lambda v: LabelBinarizer().fit(v), fit_label_binarizer):
        try:
            outcomes.append(vars(fit(y)))
        except Exception as exc:  # noqa: BLE001 -- compared below
            outcomes.append(exc)
    want, got = outcomes
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        return
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert type(got[name]) is type(value), name
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype, name
            np.testing.assert_array_equal(got[name], value)
        else:
            assert got[name] == value, name


def test_partial_fit_after_fitting_with_feature_names_warns_as_scikit_learn():
    """An estimator fitted on a DataFrame takes the validated way for an array:
    scikit-learn's warning that it has no feature names."""
    pd = pytest.importorskip("pandas")
    X, y = _X[:60], _y[:60]
    frame = pd.DataFrame(X[:30], columns=[f"f{i}" for i in range(X.shape[1])])
    outcomes = []
    for C in (SkClassifier, MLPClassifier):
        est = C(hidden_layer_sizes=(7,), random_state=0).partial_fit(frame, y[:30],
                                                                      classes=np.unique(y))
        outcomes.append(_outcome(est.partial_fit, X[30:], y[30:])[1])
    assert outcomes[0] == outcomes[1] and any("feature names" in m for m in outcomes[0])


def test_parameters_are_checked_again_when_they_change():
    """The parameters' check is skipped only while every one holds plain values that
    passed before (in this estimator or another of its class): a changed value, or one
    that could have changed in place (a list), is checked again, as scikit-learn checks
    at every call."""
    from sklearn.utils._param_validation import InvalidParameterError

    import nncore._sklearn_mlp as mlp

    mlp._PARAMS_PASSED.clear()
    X, y = _X[:60], _y[:60]
    calls = []

    def watched(**params):
        est = MLPClassifier(**params)
        real = est._validate_params
        est._validate_params = lambda: (calls.append(1), real())[1]
        return est

    est = watched(hidden_layer_sizes=(7,), random_state=0)
    est.partial_fit(X, y, classes=np.unique(y))
    est.partial_fit(X, y)
    assert len(calls) == 1
    # (a clone's settings passed in the first estimator; another class's did not)
    watched(hidden_layer_sizes=(7,), random_state=0).fit(X, y)
    assert len(calls) == 1
    watched(hidden_layer_sizes=(7,), random_state=1).fit(X, y)
    assert len(calls) == 2
    other = MLPRegressor(hidden_layer_sizes=(7,), random_state=0)
    real_other = other._validate_params
    other._validate_params = lambda: (calls.append(1), real_other())[1]
    other.fit(X, y.astype(float))
    assert len(calls) == 3
    calls.clear()
    # (max_iter=200.0 equals the default 200, but is no integer: the type counts too)
    for bad in (dict(tol=-1.0), dict(alpha=-0.5), dict(solver="newton"), dict(max_iter=0),
                dict(max_iter=200.0), dict(momentum=2)):
        for C in (SkClassifier, MLPClassifier):
            with pytest.raises(InvalidParameterError) as info:
                C(hidden_layer_sizes=(7,)).set_params(**bad).fit(X, y)
            if C is SkClassifier:
                want = str(info.value)
        saved = est.get_params()
        est.set_params(**bad)
        with pytest.raises(InvalidParameterError) as info:
            est.fit(X, y)
        assert str(info.value) == want
        est.set_params(**saved)
    est.set_params(hidden_layer_sizes=[7])  # (a list: checked at every call)
    calls.clear()
    est.partial_fit(X, y)
    est.partial_fit(X, y)
    assert len(calls) == 2


def test_accuracy_is_scikit_learns_accuracy_score():
    """The scores of ``score`` and of early stopping's held-out data: for plain label
    arrays accuracy_score's own arithmetic without its checks, bit for bit; for
    anything else accuracy_score itself, its errors included."""
    from sklearn.metrics import accuracy_score

    import nncore._sklearn_base as base

    rng = np.random.default_rng(7)
    ints = rng.integers(0, 4, 50)
    pred = np.where(rng.random(50) < 0.7, ints, rng.integers(0, 4, 50))
    words = np.array(["a", "bb", "ccc", "d"])
    w64 = rng.random(50)
    zero = np.zeros(50)
    nan = w64.copy()
    nan[3] = np.nan
    cases = {
        "ints": (ints, pred), "int8 and int64": (ints.astype(np.int8), pred),
        "uints": (ints.astype(np.uint16), pred.astype(np.uint16)),
        "bools": (ints > 1, pred > 1), "binary": (ints % 2 * 5, pred % 2 * 5),
        "strings": (words[ints], words[pred]), "other widths": (words[ints].astype("<U9"),
                                                                words[pred]),
        "one row": (ints[:1], pred[:1]), "all wrong": (ints, ints + 1),
        "objects": (words[ints].astype(object), words[pred]), "floats": (ints * 1.0, pred),
        "continuous": (ints + 0.5, pred), "strings and ints": (words[ints], pred),
        "objects against objects": (words[ints].astype(object), words[pred].astype(object)),
        "objects with a None": (np.where(ints == 0, None, words[ints]), words[pred]),
        "objects with an int": (np.where(ints == 0, 0, words[ints].astype(object)), words[pred]),
        "strings against objects": (words[ints], words[pred].astype(object)),
        "lists": (ints.tolist(), pred.tolist()), "multilabel": (ints.reshape(25, 2) % 2,
                                                               pred.reshape(25, 2) % 2),
        "column": (ints.reshape(-1, 1), pred), "empty": (ints[:0], pred[:0]),
        "lengths": (ints, pred[:-1]),
    }
    pd = pytest.importorskip("pandas")
    cases.update({"series": (pd.Series(ints), pred), "bool series": (pd.Series(ints > 1),
                                                                    pred > 1),
                  "string series": (pd.Series(words[ints]), words[pred]),
                  "nullable series": (pd.Series(ints).astype("Int64"), pred),
                  "categorical series": (pd.Series(ints).astype("category"), pred),
                  "short series": (pd.Series(ints[:-1]), pred)})
    weights = {"none": None, "float64": w64, "float32": w64.astype(np.float32),
               "ints": rng.integers(0, 3, 50), "zeros": zero, "nan": nan, "negative": w64 - 0.5,
               "strided": np.repeat(w64, 2)[::2], "list": w64.tolist(), "short": w64[:-1],
               "summing to zero": np.r_[np.ones(25), -np.ones(25)]}
    for (name, (a, b)), (wname, w) in itertools.product(cases.items(), weights.items()):
        where = f"{name}, weights {wname}"
        outcome = []
        for f in (accuracy_score, base.accuracy):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    outcome.append(f(a, b, sample_weight=w))
                except Exception as exc:  # noqa: BLE001 -- compared below
                    outcome.append(exc)
        want, got = outcome
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want), where
        else:
            assert type(got) is float and (got == want or (np.isnan(got) and np.isnan(want))), \
                f"{where}: {got!r} != {want!r}"


def test_score_takes_the_plain_way_and_matches_scikit_learn(monkeypatch):
    """``score`` of both classifiers on plain labels skips accuracy_score's checks,
    and gives scikit-learn's score; an early-stopping fit's validation scores too."""
    import sklearn.metrics

    X, y = _X[:300], _y[:300]
    kw = dict(hidden_layer_sizes=(10,), max_iter=15, random_state=0, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkClassifier(**kw).fit(X, y)
        w = np.random.default_rng(0).random(100)
        want = [sk.score(X[200:], y[200:]), sk.score(X[200:], y[200:], sample_weight=w)]

        def refuse(*args, **kwargs):
            raise AssertionError("went through accuracy_score")
        monkeypatch.setattr(sklearn.metrics, "accuracy_score", refuse)
        nn = MLPClassifier(**kw).fit(X, y)
        own = nncore.sklearn.NNClassifier(hidden_layer_sizes=(10,), epochs=3,
                                          random_state=0).fit(X, y)
    assert nn.validation_scores_ == sk.validation_scores_
    assert [nn.score(X[200:], y[200:]), nn.score(X[200:], y[200:], sample_weight=w)] == want
    assert own.score(X[200:], y[200:]) == np.mean(own.predict(X[200:]) == y[200:])


def test_r2_is_scikit_learns_r2_score():
    """The regressors' ``score`` and early stopping's held-out score: r2_score's own
    arithmetic for plain float arrays, bit for bit (constant targets and perfect
    predictions, where it forces finite scores, included), r2_score itself for
    anything else, its warnings and errors included."""
    from sklearn.metrics import r2_score

    import nncore._sklearn_base as base

    rng = np.random.default_rng(8)
    y = rng.standard_normal(40)
    p = y + 0.4 * rng.standard_normal(40)
    Y = rng.standard_normal((40, 3))
    P = Y + 0.4 * rng.standard_normal((40, 3))
    Yc = Y.copy()
    Yc[:, 1] = 2.0  # (a constant output: zero denominator)
    nan = p.copy()
    nan[5] = np.nan
    cases = {
        "1-d": (y, p), "float32": (y.astype(np.float32), p.astype(np.float32)),
        "float32 and 64": (y.astype(np.float32), p), "2-d": (Y, P), "constant output": (Yc, P),
        "perfect": (y, y.copy()), "constant and perfect": (Yc, Yc.copy()),
        "constant target": (np.full(40, 3.0), p), "column and 1-d": (y.reshape(-1, 1), p),
        "columns": (y.reshape(-1, 1), p.reshape(-1, 1)), "two rows": (y[:2], p[:2]),
        "one row": (y[:1], p[:1]), "ints": ((y * 10).astype(int), p), "nan": (y, nan),
        "lists": (y.tolist(), p.tolist()), "strided": (Y[:, 0], P[:, 0]),
        "outputs": (Y, P[:, :2]), "lengths": (y, p[:-1]), "empty": (y[:0], p[:0]),
    }
    pd = pytest.importorskip("pandas")
    cases.update({"series": (pd.Series(y), p), "float32 series": (pd.Series(y.astype(
        np.float32)), p.astype(np.float32)), "nullable series": (pd.Series(y).astype("Float64"),
                                                                 p),
        "frame": (pd.DataFrame(Y), P), "series with nan": (pd.Series(nan), p)})
    w64 = rng.random(40)
    weights = {"none": None, "float64": w64, "float32": w64.astype(np.float32),
               "ints": rng.integers(0, 3, 40), "zeros": np.zeros(40), "negative": w64 - 0.5,
               "strided": np.repeat(w64, 2)[::2], "short": w64[:-1]}
    for (name, (a, b)), (wname, w) in itertools.product(cases.items(), weights.items()):
        where = f"{name}, weights {wname}"
        outcome = []
        for f in (r2_score, base.r2):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    outcome.append((f(a, b, sample_weight=w), [str(c.message) for c in caught]))
                except Exception as exc:  # noqa: BLE001 -- compared below
                    outcome.append((exc, None))
        (want, want_warn), (got, got_warn) = outcome
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want), where
        else:
            assert got_warn == want_warn, where
            assert type(got) is float and (got == want or (np.isnan(got) and np.isnan(want))), \
                f"{where}: {got!r} != {want!r}"


def test_regressors_score_takes_the_plain_way_and_matches_scikit_learn(monkeypatch):
    """``score`` of both regressors on plain targets skips r2_score's checks, and
    gives scikit-learn's score; an early-stopping fit's validation scores too."""
    import sklearn.metrics

    X, y = _Xr, _yr
    kw = dict(hidden_layer_sizes=(10,), max_iter=15, random_state=0, early_stopping=True)
    w = np.random.default_rng(0).random(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkRegressor(**kw).fit(X[:200], y[:200])
        want = [sk.score(X[200:], y[200:]), sk.score(X[200:], y[200:], sample_weight=w),
                SkRegressor(**kw).fit(X[:200], y[:200, 0]).score(X[200:], y[200:, 0])]

        def refuse(*args, **kwargs):
            raise AssertionError("went through r2_score")
        monkeypatch.setattr(sklearn.metrics, "r2_score", refuse)
        nn = MLPRegressor(**kw).fit(X[:200], y[:200])
        got = [nn.score(X[200:], y[200:]), nn.score(X[200:], y[200:], sample_weight=w),
               MLPRegressor(**kw).fit(X[:200], y[:200, 0]).score(X[200:], y[200:, 0])]
        own = nncore.sklearn.NNRegressor(hidden_layer_sizes=(10,), epochs=3,
                                         random_state=0).fit(X[:200], y[:200, 0])
        own_score = own.score(X[200:], y[200:, 0])
    np.testing.assert_allclose(nn.validation_scores_, sk.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    monkeypatch.undo()
    assert own_score == sklearn.metrics.r2_score(y[200:, 0], own.predict(X[200:]))


def test_random_states_follow_scikit_learns_through_calls_and_changes():
    """An integer seed gives the same generator each call (reseeded rather than made
    anew); a generator the user passed is drawn from as scikit-learn draws from it,
    never reseeded, whatever seeds came before or after it."""
    X, y = _X[:120], _y[:120]
    classes = np.unique(y)
    users = [np.random.RandomState(11), np.random.RandomState(11)]  # (one per library)
    steps = [("partial_fit", 3), ("partial_fit", 3), ("partial_fit", "user"),
             ("partial_fit", 3), ("fit", 5), ("partial_fit", "user"), ("fit", "user"),
             ("partial_fit", 5), ("partial_fit", None)]
    pair = [C(hidden_layer_sizes=(8,), max_iter=2, batch_size=16, random_state=0)
            for C in (SkClassifier, MLPClassifier)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method, seed in steps:
            for est, user in zip(pair, users):
                est.set_params(random_state=user if seed == "user" else seed)
                if seed is None:  # (the global generator: the same draws for both)
                    np.random.seed(1)
                kw = {"classes": classes} if method == "partial_fit" else {}
                getattr(est, method)(X, y, **kw)
            assert_same_fit(pair[1], pair[0], RTOL["stochastic"])
            a, b = (u.get_state() for u in users)
            assert np.array_equal(a[1], b[1]) and a[2:] == b[2:], (method, seed)


@pytest.mark.parametrize("Sk, Nn", [(SkClassifier, MLPClassifier), (SkRegressor, MLPRegressor)])
def test_predict_of_dataframes_skips_only_checks_that_pass(Sk, Nn, monkeypatch):
    """An estimator fitted on a DataFrame predicts from a DataFrame of its columns,
    all of the network's dtype, without scikit-learn's checks of the names and the
    frame (0.5 ms a call); every other DataFrame (or array) goes through them: the
    same outputs, errors and warnings as scikit-learn's own, and as the drop-in's
    checked way, input by input."""
    from conftest import frame_variants

    import nncore._sklearn_mlp as mlp

    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" (cm)", "") for c in X.columns]
    if Sk is SkRegressor:
        y = X.pop(X.columns[-1])
    kw = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=20)
    sk, nn = (C(**kw).fit(X, y) for C in (Sk, Nn))
    methods = ["predict", "predict_proba"] if Sk is SkClassifier else ["predict"]
    for name, Xc in frame_variants(pd, X).items():
        for method in methods:
            want, want_warn = _outcome(getattr(sk, method), Xc)
            got, got_warn = _outcome(getattr(nn, method), Xc)
            with monkeypatch.context() as m:
                m.setattr(mlp, "predict_plain", lambda *args: None)
                slow, slow_warn = _outcome(getattr(nn, method), Xc)
            where = f"{name}, {method}"
            assert got_warn == want_warn == slow_warn, where
            if isinstance(want, Exception):
                for other in (got, slow):
                    assert type(other) is type(want) and str(other) == str(want), where
            else:
                np.testing.assert_allclose(got, want, rtol=RTOL["stochastic"], err_msg=where)
                np.testing.assert_array_equal(got, slow, err_msg=where)
                assert got.dtype == want.dtype == slow.dtype, where

    want = sk.score(X, y)

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's checks")
    monkeypatch.setattr(mlp, "validate_data", refuse)
    for metric in ("accuracy_score", "r2_score"):
        monkeypatch.setattr(sklearn.metrics, metric, refuse)
    for method in methods:
        getattr(nn, method)(X.iloc[:1])
        getattr(nn, method)(X)
    np.testing.assert_allclose(nn.score(X, y), want, rtol=RTOL["stochastic"])
