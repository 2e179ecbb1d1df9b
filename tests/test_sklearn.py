"""nncore.sklearn: scikit-learn's own estimator checks and the ecosystem around them."""

import functools
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

import nncore  # noqa: E402
from nncore.datasets import digits_split, one_hot  # noqa: E402
from nncore.sklearn import NNClassifier, NNRegressor  # noqa: E402

#: the lecture's model: sigmoid everywhere, MSE against one-hot targets, SGD
LECTURE = dict(hidden_layer_sizes=(30,), activation="sigmoid", output="sigmoid", loss="mse",
               optimizer="sgd", learning_rate=3.0, batch_size=10, epochs=30)

# Every configuration is checked with the defaults users get (epochs included);
# the check data sets are tiny, so the whole suite takes seconds.
CHECKED = [
    NNClassifier(),
    NNRegressor(),
    NNClassifier(**LECTURE),
    NNClassifier(early_stopping=True),
    NNRegressor(early_stopping=True),
]

MINIBATCH_WEIGHTS = (
    "minibatch gradient descent: an integer sample_weight scales a sample's gradient inside "
    "one minibatch, while repeating the sample puts it into several minibatches, so the two "
    "runs take different steps. They coincide for full-batch training, which the default "
    "instances (batch_size=32 >= the check's samples) and test_full_batch_weights_are_repeats "
    "verify."
)
SPLIT_WEIGHTS = (
    "early_stopping holds out a random share of the *samples*: a repeated sample can land on "
    "both sides of the split while a weighted one cannot, so the training sets differ."
)


def expected_failures(estimator):
    if estimator.early_stopping:
        return {"check_sample_weight_equivalence_on_dense_data": SPLIT_WEIGHTS}
    if estimator.batch_size < 32:
        return {"check_sample_weight_equivalence_on_dense_data": MINIBATCH_WEIGHTS}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_default_instances_have_no_expected_failures():
    assert expected_failures(NNClassifier()) == {} == expected_failures(NNRegressor())


@pytest.mark.parametrize("est", [NNClassifier(**LECTURE), NNRegressor(batch_size=10)],
                         ids=["lecture-classifier", "regressor"])
def test_full_batch_weights_are_repeats(est):
    # with one minibatch per epoch, weight k is exactly k repetitions
    check_sample_weight_equivalence_on_dense_data(type(est).__name__,
                                                  est.set_params(batch_size=10_000))


@pytest.fixture(scope="module")
def digits():
    return digits_split()


def test_lecture_model_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    clf = NNClassifier(random_state=0, **LECTURE).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    assert clf.network_.activations == ["sigmoid", "sigmoid"]
    assert clf.network_.loss_name == "mse"
    # exactly the network the lecture trains by hand
    net = nncore.Network([64, 30, 10], seed=0).fit(X_train, one_hot(y_train, 10), epochs=30,
                                                   batch_size=10, learning_rate=3.0)
    assert clf.network_.params.tobytes() == net.params.tobytes()
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.validation_loss_curve_ is None
    proba = clf.predict_proba(X_test[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_default_classifier_in_pipeline(digits):
    X_train, X_test, y_train, y_test = digits
    clf = make_pipeline(StandardScaler(), NNClassifier(random_state=0)).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    net = clf[-1].network_
    assert net.activations == ["relu", "softmax"] and net.loss_name == "cross_entropy"


def test_early_stopping_restores_best_epoch(digits):
    X_train, _, y_train, _ = digits
    clf = NNClassifier(early_stopping=True, patience=3, epochs=500, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.n_iter_ < 500
    assert len(clf.validation_loss_curve_) == clf.n_iter_


def test_binary_and_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = NNClassifier(hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.network_.sizes == (2, 8, 1)  # one sigmoid output for two classes
    assert clf.predict_proba(X).shape == (80, 2)
    assert clf.score(X, y) > 0.9
    assert set(clf.predict(X)) <= {"no", "yes"}
    soft = NNClassifier(hidden_layer_sizes=(8,), output="softmax", random_state=0).fit(X, y)
    assert soft.network_.sizes == (2, 8, 2)


def test_multilabel():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0]).astype(int)
    clf = NNClassifier(hidden_layer_sizes=(16,), random_state=0).fit(X, Y)
    assert clf.network_.activations[-1] == "sigmoid"
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.8
    with pytest.raises(ValueError, match="multilabel"):
        NNClassifier(output="softmax").fit(X, Y)


def test_grid_search_parallel(digits):
    X_train, _, y_train, _ = digits
    search = GridSearchCV(
        NNClassifier(epochs=20, learning_rate=0.01, random_state=0),
        {"hidden_layer_sizes": [(10,), (20,)]},
        cv=2,
        n_jobs=2,
    )
    search.fit(X_train[:400], y_train[:400])
    assert search.best_params_["hidden_layer_sizes"] in [(10,), (20,)]
    assert search.best_score_ > 0.8


def test_cross_val_score_regressor():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 1))
    y = np.sin(X[:, 0])
    reg = make_pipeline(StandardScaler(),
                        NNRegressor(hidden_layer_sizes=(20,), activation="tanh",
                                    learning_rate=0.01, random_state=0))
    scores = cross_val_score(reg, X, y, cv=3)
    assert scores.min() > 0.9


def test_multi_output_regression_keeps_2d():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    Y = np.column_stack([X.sum(axis=1), X[:, 0] - X[:, 1]])
    reg = NNRegressor(hidden_layer_sizes=(10,), random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (100, 2) and reg.n_outputs_ == 2
    assert NNRegressor(epochs=2).fit(X, Y[:, 0]).predict(X).shape == (100,)


def test_clone_gives_unfitted_copy_with_same_params(digits):
    X_train, _, y_train, _ = digits
    clf = NNClassifier(hidden_layer_sizes=(12,), epochs=3, random_state=4).fit(X_train, y_train)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "network_")
    with pytest.raises(NotFittedError):
        twin.predict(X_train)
    twin.fit(X_train, y_train)
    assert twin.network_.params.tobytes() == clf.network_.params.tobytes()


def test_pickle_round_trip_keeps_training_state(digits):
    X_train, X_test, y_train, _ = digits
    clf = NNClassifier(hidden_layer_sizes=(12,), epochs=2, random_state=0).fit(X_train, y_train)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X_test), clf.predict_proba(X_test))
    # Adam's moments and the shuffling stream survive pickling
    clf.partial_fit(X_train, y_train)
    back.partial_fit(X_train, y_train)
    assert back.network_.params.tobytes() == clf.network_.params.tobytes()


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_partial_fit_continues_like_one_fit(digits, optimizer):
    X_train, _, y_train, _ = digits
    params = dict(hidden_layer_sizes=(16,), optimizer=optimizer, epochs=3, random_state=2,
                  learning_rate=0.1 if optimizer != "adam" else None)
    whole = NNClassifier(**params).fit(X_train, y_train)
    parts = NNClassifier(**params)
    for _ in range(3):
        parts.partial_fit(X_train, y_train, classes=np.arange(10))
    assert parts.network_.params.tobytes() == whole.network_.params.tobytes()
    assert parts.n_iter_ == 3 and parts.loss_curve_ == whole.loss_curve_


def test_partial_fit_classes():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    clf = NNClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, [0, 1, 1])
    clf.partial_fit(X, [0, 1, 1], classes=[0, 1, 2])  # class 2 not seen yet
    assert list(clf.classes_) == [0, 1, 2] and clf.predict_proba(X).shape == (3, 3)
    clf.partial_fit(X, [2, 2, 0])
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, [0, 3, 1])
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(X, [0, 1, 1], classes=[0, 1])


def test_partial_fit_regressor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    y = X[:, 0] - 2 * X[:, 1]
    reg = NNRegressor(hidden_layer_sizes=(8,), random_state=0)
    losses = []
    for _ in range(20):
        reg.partial_fit(X, y)
        losses.append(reg.loss_curve_[-1])
    assert reg.n_iter_ == 20 and losses[-1] < losses[0]


def test_sample_weight(digits):
    X_train, X_test, y_train, y_test = digits
    base = dict(hidden_layer_sizes=(12,), epochs=3, random_state=0)
    one = NNClassifier(**base).fit(X_train, y_train, sample_weight=np.ones(len(y_train)))
    two = NNClassifier(**base).fit(X_train, y_train, sample_weight=np.full(len(y_train), 2.0))
    plain = NNClassifier(**base).fit(X_train, y_train)
    # the weighted mean is invariant to scaling the weights, exactly
    assert one.network_.params.tobytes() == two.network_.params.tobytes()
    np.testing.assert_allclose(one.network_.params, plain.network_.params, rtol=1e-10,
                               atol=1e-12)
    # up-weighting one class makes the network predict it more often
    w = np.where(y_train == 3, 20.0, 1.0)
    heavy = NNClassifier(**base).fit(X_train, y_train, sample_weight=w)
    assert (heavy.predict(X_test) == 3).sum() > (plain.predict(X_test) == 3).sum()
    with pytest.raises(ValueError, match="zero"):
        NNClassifier(**base).fit(X_train, y_train, sample_weight=np.zeros(len(y_train)))


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    y = (df["a"] > 0).astype(int)
    clf = NNClassifier(hidden_layer_sizes=(4,), epochs=5, random_state=0).fit(df, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["c", "b", "a"]])


def test_float32():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = NNClassifier(hidden_layer_sizes=(5,), dtype="float32", learning_rate=0.01,
                       random_state=0).fit(X, y)
    assert clf.network_.params.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32 and clf.score(X, y) > 0.9


@pytest.mark.parametrize("params, match", [
    (dict(output="identity"), "output must be"),
    (dict(hidden_layer_sizes=(0,)), "positive integers"),
    (dict(activation="swish"), "unknown hidden activation"),
    (dict(optimizer="rmsprop"), "unknown optimizer"),  # (lbfgs is one since issue 13)
    (dict(random_state=-1), "random_state"),
    (dict(early_stopping=True, validation_fraction=1.5), "validation_fraction"),
    (dict(loss="hinge"), "unknown loss"),
    (dict(dtype="float16"), "unsupported dtype"),
])
def test_bad_hyperparameters_are_reported_in_fit(params, match):
    clf = NNClassifier(**params)  # constructing never fails: scikit-learn's contract
    with pytest.raises(ValueError, match=match):
        clf.fit([[0.0], [1.0]], [0, 1])


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        NNClassifier().fit([[0.0], [1.0]], [1, 1])


def test_import_nncore_without_sklearn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import nncore\n"
        "try:\n"
        "    import nncore.sklearn\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nncore.sklearn needs scikit-learn" in proc.stdout
    assert "pip install 'nncore[sklearn]'" in proc.stdout


def test_docstring_examples():
    import doctest

    import nncore.sklearn

    result = doctest.testmod(nncore.sklearn)
    assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rows", [1, 65, 300])
def test_well_formed_inputs_skip_validation_to_the_same_answers(rows, dtype):
    """A C-contiguous array of the network's dtype and width skips scikit-learn's
    validation (the kernels check it finite); what it answers, and what it refuses,
    is what the validated way answers for the same values given as a list."""
    X, y = np.random.default_rng(0).random((300, 6)), np.arange(300) % 3
    for est in (NNClassifier(hidden_layer_sizes=(9,), epochs=2, dtype=dtype, random_state=0),
                NNRegressor(hidden_layer_sizes=(9,), epochs=2, dtype=dtype, random_state=0)):
        est.fit(X, y)
        Xr = np.ascontiguousarray(X[:rows], dtype=dtype)
        for method in ("predict", "predict_proba"):
            if not hasattr(est, method):
                continue
            call = getattr(est, method)
            fast, slow = call(Xr), call(Xr.tolist())
            assert fast.dtype == slow.dtype
            np.testing.assert_array_equal(fast, slow)
            bad = Xr.copy()
            bad[-1, 2] = np.nan
            errors = []
            for data in (bad, bad.tolist()):
                with pytest.raises(ValueError) as info:
                    call(data)
                errors.append(str(info.value))
            assert errors[0] == errors[1] and "NaN" in errors[0]


def _outcome(call):
    """What ``call()`` gave, its result or its exception, and its warnings' messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 -- compared by the caller
            result = exc
    return result, sorted(str(w.message) for w in caught)


def _task_data(task, n, width, seed):
    """X (float32 for the "float32" task), targets of the task, and the estimator's class."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, width))
    y = {"multiclass": rng.integers(0, 3, n), "binary": rng.integers(0, 2, n) * 5,
         "strings": rng.choice(["a", "b", "c"], n), "regression": rng.standard_normal(n),
         "two targets": rng.standard_normal((n, 2)),
         "float32": rng.integers(0, 3, n)}[task]
    if task == "float32":
        X = X.astype(np.float32)
    return X, y, NNRegressor if y.dtype.kind == "f" else NNClassifier


@pytest.mark.parametrize("task", ["multiclass", "binary", "strings", "regression",
                                  "two targets", "float32"])
def test_fit_of_plain_arrays_skips_only_checks_that_pass(task, monkeypatch):
    """A fit of plain arrays (C-contiguous, of the network's dtype, 1-D labels or
    finite targets) skips scikit-learn's validation and its label binarizer's
    checks.  With the shortcut and without it, every kind of input gives the same
    parameters, or the same error, the same warnings and the same feature names
    (forgotten by a refit on an array after a DataFrame)."""
    import copy

    from sklearn.preprocessing import LabelBinarizer

    import nncore.sklearn as nns

    pd = pytest.importorskip("pandas")
    X, y, C = _task_data(task, 40, 5, seed=2)
    regression = C is NNRegressor
    kw = dict(hidden_layer_sizes=(4,), random_state=0, epochs=2, dtype=X.dtype.name)
    nan = X.copy()
    nan[2, 3] = np.nan
    other = np.float32 if X.dtype == np.float64 else np.float64
    frame = pd.DataFrame(X, columns=list("abcde"))
    inputs = {"plain": (X, y), "one row": (X[:1], y[:1]), "nan": (nan, y),
              "other dtype": (X.astype(other), y), "fortran": (np.asfortranarray(X), y),
              "list": (X.tolist(), y.tolist()), "empty": (X[:0], y[:0]),
              "no columns": (X[:, :0], y), "short y": (X, y[:-1]), "frame": (frame, y),
              "too large for float32": (np.full(X.shape, 1e300), y),
              "frame, pandas y": (frame, pd.Series(y) if y.ndim == 1 else pd.DataFrame(y)),
              "frame, other dtype": (frame.astype(other), y),
              "frame, reordered": (frame.iloc[:, ::-1], y),
              "frame, int names": (pd.DataFrame(X), y),
              "frame, nan": (pd.DataFrame(nan, columns=list("abcde")), y)}
    if regression:
        bad = y.copy()
        bad.flat[1] = np.inf
        inputs["inf y"] = (X, bad)
    else:
        odd = y.astype(str).astype(object)
        odd[3] = None
        inputs.update({"one class": (X, np.full_like(y, y[0])),
                       "floats": (X, y.astype(object) if y.dtype.kind == "U"
                                  else y.astype(float) + 0.5),
                       "strings as objects": (X, y.astype(str).astype(object)),
                       "pandas strings": (frame, pd.Series(y.astype(str))),
                       "strings and a None": (X, odd)})

    def outcome(est, Xc, yc):
        def fit():
            est.fit(Xc, yc)
            return (est.network_.params, est.n_features_in_,
                    list(getattr(est, "feature_names_in_", [])))
        return _outcome(fit)

    for name, (Xc, yc) in inputs.items():
        for est in (C(**kw), C(**kw).fit(frame, y)):
            fast = outcome(copy.deepcopy(est), Xc, yc)
            with monkeypatch.context() as m:
                m.setattr(nns, "plain_training_data", lambda *args, **kwargs: None)
                m.setattr(nns, "fit_label_binarizer", lambda v: LabelBinarizer().fit(v))
                slow = outcome(copy.deepcopy(est), Xc, yc)
            assert fast[1] == slow[1], name
            if isinstance(slow[0], Exception):
                assert type(fast[0]) is type(slow[0]) and str(fast[0]) == str(slow[0]), name
            else:
                np.testing.assert_array_equal(fast[0][0], slow[0][0], err_msg=name)
                assert fast[0][1:] == slow[0][1:], name

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's checks")
    monkeypatch.setattr(nns, "validate_data", refuse)
    monkeypatch.setattr(LabelBinarizer, "fit", refuse)
    C(**kw).fit(X, y)
    C(**kw).fit(frame, pd.Series(y) if y.ndim == 1 else y)
    if y.dtype.kind == "U":
        C(**kw).fit(X, y.astype(object))


@pytest.mark.parametrize("task", ["multiclass", "regression", "float32"])
def test_predict_of_dataframes_skips_only_checks_that_pass(task, monkeypatch):
    """Fitted on a DataFrame, the estimators predict from a DataFrame of the same
    columns, all of the network's dtype, without scikit-learn's checks; with the
    shortcut and without it, every other frame (or array) gives the same outputs,
    or the same error, and the same warnings."""
    from conftest import frame_variants

    import nncore.sklearn as nns

    pd = pytest.importorskip("pandas")
    X, y, C = _task_data(task, 40, 5, seed=3)
    frame = pd.DataFrame(X, columns=list("abcde"))
    est = C(hidden_layer_sizes=(4,), random_state=0, epochs=2, dtype=X.dtype.name)
    est.fit(frame, y)
    inputs = frame_variants(pd, frame.astype(np.float64))
    inputs["network's dtype"] = frame.iloc[:7]
    methods = ["predict", "predict_proba"] if C is NNClassifier else ["predict"]
    for name, Xc in inputs.items():
        for method in methods:
            call = functools.partial(getattr(est, method), Xc)
            fast = _outcome(call)
            with monkeypatch.context() as m:
                m.setattr(nns, "predict_plain", lambda *args: None)
                slow = _outcome(call)
            where = f"{name}, {method}"
            assert fast[1] == slow[1], where
            if isinstance(slow[0], Exception):
                assert type(fast[0]) is type(slow[0]) and str(fast[0]) == str(slow[0]), where
            else:
                assert fast[0].dtype == slow[0].dtype, where
                np.testing.assert_array_equal(fast[0], slow[0], err_msg=where)

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's checks")
    monkeypatch.setattr(nns, "validate_data", refuse)
    for method in methods:
        getattr(est, method)(frame.iloc[:1])
        getattr(est, method)(frame)


@pytest.mark.parametrize("task", ["multiclass", "binary", "strings", "regression",
                                  "two targets", "float32"])
def test_partial_fit_of_plain_batches_skips_only_checks_that_pass(task, monkeypatch):
    """After the first partial_fit, a plain batch (a C-contiguous array of the
    network's dtype and width, 1-D known labels or finite targets) skips
    scikit-learn's validation.  With the shortcut and without it, every kind of
    batch gives the same parameters, or the same error, and the same warnings."""
    import copy

    import nncore.sklearn as nns

    X, y, C = _task_data(task, 60, 6, seed=1)
    regression = C is NNRegressor
    kw = {} if regression else {"classes": np.unique(y)}
    est = C(hidden_layer_sizes=(5,), random_state=0, dtype=X.dtype.name).partial_fit(
        X[:30], y[:30], **kw)
    Xb, yb = np.ascontiguousarray(X[30:]), y[30:]
    nan = Xb.copy()
    nan[2, 3] = np.nan
    other = np.float32 if X.dtype == np.float64 else np.float64
    batches = {"plain": (Xb, yb), "one row": (Xb[:1], yb[:1]), "nan": (nan, yb),
               "narrow": (Xb[:, :-1], yb), "other dtype": (Xb.astype(other), yb),
               "fortran": (np.asfortranarray(Xb), yb), "list": (Xb.tolist(), yb.tolist()),
               "empty": (Xb[:0], yb[:0]), "short y": (Xb, yb[:-1]),
               "too large for float32": (np.full(Xb.shape, 1e300), yb)}
    if regression:
        bad = yb.copy()
        bad.flat[1] = np.inf
        batches["inf y"] = (Xb, bad)
    else:
        unknown = yb.astype(object)
        unknown[4] = "z" if yb.dtype.kind == "U" else 7
        batches.update({"unknown label": (Xb, unknown.astype(yb.dtype)),
                        "floats": (Xb, yb.astype(object) if yb.dtype.kind == "U"
                                   else yb.astype(float) + 0.5)})

    def outcome(est, Xc, yc):
        return _outcome(lambda: est.partial_fit(Xc, yc).network_.params)

    for name, (Xc, yc) in batches.items():
        fast = outcome(copy.deepcopy(est), Xc, yc)
        with monkeypatch.context() as m:
            m.setattr(nns, "plain_training_data", lambda *args, **kwargs: None)
            m.setattr(nns, "_binarize", lambda *args, **kwargs: None)
            slow = outcome(copy.deepcopy(est), Xc, yc)
        assert fast[1] == slow[1], name
        if isinstance(slow[0], Exception):
            assert type(fast[0]) is type(slow[0]) and str(fast[0]) == str(slow[0]), name
        else:
            np.testing.assert_array_equal(fast[0], slow[0], err_msg=name)

    def refuse(*args, **kwargs):
        raise AssertionError("went through scikit-learn's validate_data")
    monkeypatch.setattr(nns, "validate_data", refuse)
    est.partial_fit(Xb, yb)
