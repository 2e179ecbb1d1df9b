"""nncore.onnx: exported graphs run in onnxruntime and agree with predict / predict_proba.

Tolerance: conftest's ``assert_close`` (relative to the scale of the expected
array; float64 1e-12, float32 1e-5).  onnxruntime computes the same float
operations as the compiled kernels in another order (its own GEMM and
exp/tanh, in float32 polynomial approximations accurate to a few ulps), so
the two differ by rounding only: a few ulps per layer, far below these bounds.
Labels must agree exactly.
"""

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")

from conftest import assert_close, run_python  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import nncore  # noqa: E402
import nncore.onnx  # noqa: E402
from nncore.activations import ACTIVATIONS, HIDDEN  # noqa: E402
from nncore.onnx import DEFAULT_OPSET, MIN_OPSET, to_onnx  # noqa: E402
from nncore.sklearn import (  # noqa: E402
    MLPClassifier,
    MLPRegressor,
    NNClassifier,
    NNRegressor,
)

# output activation -> the losses it pairs with
OUTPUT_LOSSES = [("sigmoid", "mse"), ("sigmoid", "cross_entropy"), ("identity", "mse"),
                 ("softmax", "mse"), ("softmax", "cross_entropy"), ("exp", "poisson"),
                 ("identity", "half_squared_error"), ("softmax", "log_loss"),
                 ("sigmoid", "log_loss")]


def run(model, X):
    """Check ``model``, run it in onnxruntime's CPU provider, return every output."""
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


def random_network(sizes, rng, dtype, **kwargs):
    """A network whose weights leave every unit unsaturated on N(0, 1) inputs, so
    each activation is measured where it bends."""
    net = nncore.Network(sizes, dtype=dtype, seed=0, **kwargs)
    for W, b in zip(net.weights, net.biases):
        W[...] = rng.normal(size=W.shape) * 1.5 / np.sqrt(W.shape[1])
        b[...] = rng.normal(size=b.shape) * 0.5
    return net


# ---------------------------------------------------------------- Network


@pytest.mark.parametrize("output, loss", OUTPUT_LOSSES)
@pytest.mark.parametrize("activation", HIDDEN)
def test_network_graph_equals_predict(activation, output, loss, dtype, rng):
    net = random_network([5, 8, 7, 4], rng, dtype, activation=activation, output=output,
                         loss=loss)
    X = rng.normal(size=(64, 5)).astype(dtype)
    model = to_onnx(net)
    (got,) = run(model, X)
    assert got.dtype == dtype and got.shape == (64, 4)
    assert_close(got, net.predict(X), dtype)
    assert [i.name for i in model.graph.input] == ["X"]
    assert [o.name for o in model.graph.output] == ["output"]


def test_every_activation_has_an_emitter():
    assert set(nncore.onnx._ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", ["leaky_relu", "relu"])
def test_rectifiers_on_both_sides_of_zero(activation, dtype):
    # one unit per input, weight 1, bias 0: the graph's output is act(x) itself
    net = nncore.Network([1, 1, 1], activation=activation, output="identity", dtype=dtype)
    net.params = [0.0, 1.0, 0.0, 1.0]
    X = np.array([[-3.0], [-1e-3], [0.0], [2e-3], [5.0]], dtype=dtype)
    (got,) = run(to_onnx(net), X)
    assert_close(got, net.predict(X), dtype)
    slope = nncore.activations.LEAKY_SLOPE if activation == "leaky_relu" else 0.0
    assert_close(got[:, 0], np.where(X[:, 0] > 0, X[:, 0], slope * X[:, 0]), dtype)


def test_network_without_hidden_layers(dtype, rng):
    net = random_network([3, 2], rng, dtype, output="softmax")
    X = rng.normal(size=(10, 3)).astype(dtype)
    assert_close(run(to_onnx(net), X)[0], net.predict(X), dtype)


def test_graph_holds_the_network_parameters_exactly(dtype, rng):
    net = random_network([4, 6, 3], rng, dtype)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in to_onnx(net).graph.initializer}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        assert inits[f"W{l}"].dtype == dtype and np.array_equal(inits[f"W{l}"], W)
        assert np.array_equal(inits[f"b{l}"], b)


# ---------------------------------------------------------------- estimators


def blobs(rng, n=90, n_features=4, n_classes=3):
    centres = rng.normal(size=(n_classes, n_features)) * 2
    index = np.arange(n) % n_classes
    return centres[index] + rng.normal(size=(n, n_features)), index


CLASSIFIERS = {
    # name: (labels of the classes, estimator parameters)
    "binary-sigmoid-int": ([-1, 4], {}),
    "binary-softmax-str": (["no", "yes"], {"output": "softmax"}),
    "binary-sigmoid-mse-str": (["cat", "dog"], {"loss": "mse"}),
    "multiclass-softmax-int": ([3, 7, 11], {}),
    "multiclass-softmax-mse-str": (["a", "b", "c"], {"output": "softmax", "loss": "mse"}),
    "multiclass-sigmoid-ovr-int": ([0, 1, 2, 3], {"output": "sigmoid"}),
    "multiclass-sigmoid-ovr-mse-str": (["x", "y", "z"], {"output": "sigmoid", "loss": "mse"}),
    "float-labels": ([0.0, 1.0, 2.0], {}),
}


@pytest.mark.parametrize("case", CLASSIFIERS)
def test_classifier_graph_equals_predict_and_proba(case, dtype, rng):
    labels, params = CLASSIFIERS[case]
    X, index = blobs(rng, n_classes=len(labels))
    y = np.array(labels)[index]
    clf = NNClassifier(hidden_layer_sizes=(6,), activation="tanh", epochs=3, dtype=dtype,
                       random_state=0, **params).fit(X, y)
    X = X.astype(dtype)
    model = to_onnx(clf)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    label, proba = run(model, X)
    assert proba.dtype == dtype
    assert_close(proba, clf.predict_proba(X), dtype)
    assert np.array_equal(label, clf.predict(X))
    expected_kind = "O" if clf.classes_.dtype.kind == "U" else "i"
    assert label.dtype.kind == expected_kind and label.shape == (len(X),)


def test_one_vs_rest_rows_of_zeros_become_uniform(dtype, rng):
    X, index = blobs(rng, n_classes=3)
    clf = NNClassifier(hidden_layer_sizes=(), output="sigmoid", loss="mse", epochs=1,
                       dtype=dtype, random_state=0).fit(X, index)
    # every sigmoid far below its underflow (0 in both), but class 1's where x0 = 1
    clf.network_.params[:] = 0.0
    clf.network_.biases[0][:] = -1000.0
    clf.network_.weights[0][1, 0] = 1000.0
    X = np.zeros((6, 4), dtype=dtype)
    X[::2, 0], X[1::2, 0] = 1.0, -1.0
    expected = clf.predict_proba(X)
    assert np.array_equal(expected[1::2], np.full((3, 3), 1 / 3, dtype=dtype))
    assert np.array_equal(expected[::2], np.tile(np.array([0, 1, 0], dtype=dtype), (3, 1)))
    label, proba = run(to_onnx(clf), X)
    assert_close(proba, expected, dtype)
    assert np.array_equal(label, clf.predict(X))


def test_multilabel_classifier(dtype, rng):
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5]).astype(int)
    clf = NNClassifier(hidden_layer_sizes=(8,), epochs=20, dtype=dtype,
                       random_state=0).fit(X, Y)
    assert clf.multilabel_
    X = X.astype(dtype)
    label, proba = run(to_onnx(clf), X)
    assert_close(proba, clf.predict_proba(X), dtype)
    assert label.dtype == np.int64 and label.shape == Y.shape
    assert np.array_equal(label, clf.predict(X))
    assert 0 < label.sum() < label.size


def test_multilabel_attribute_is_public_and_read_only(rng):
    X, index = blobs(rng)
    clf = NNClassifier(epochs=1)
    assert not hasattr(clf, "multilabel_")
    clf.fit(X, index)
    assert clf.multilabel_ is False
    with pytest.raises(AttributeError):
        clf.multilabel_ = True


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("output", ["identity", "sigmoid"])
def test_regressor_graph_equals_predict(n_targets, output, dtype, rng):
    X = rng.normal(size=(60, 5))
    Y = np.tanh(X[:, :n_targets]) * 0.4 + 0.5
    y = Y[:, 0] if n_targets == 1 else Y
    reg = NNRegressor(hidden_layer_sizes=(7,), output=output, epochs=3, dtype=dtype,
                      random_state=0).fit(X, y)
    X = X.astype(dtype)
    (got,) = run(to_onnx(reg), X)
    expected = reg.predict(X)
    assert got.dtype == dtype and got.shape == expected.shape
    assert_close(got, expected, dtype)


# ---------------------------------------------------------------- opsets


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["f64", "f32"])
def every_kind(request):
    """Models of each kind whose graphs together use every operator the exporter emits."""
    dtype = request.param
    rng = np.random.default_rng(0)
    X, index = blobs(rng, n_classes=3)
    Y = (X[:, :2] > 0).astype(int)
    net = nncore.Network([4, 5, 5, 3], activation=["leaky_relu", "tanh"], output="softmax",
                         dtype=dtype, seed=0)
    kw = dict(epochs=1, dtype=dtype, random_state=0)
    return X.astype(dtype), [net,
                             NNClassifier(output="sigmoid", **kw).fit(X, index),
                             NNClassifier(**kw).fit(X, index == 1),
                             NNClassifier(**kw).fit(X, Y),
                             NNRegressor(activation="relu", **kw).fit(X, X[:, 0])]


def test_default_opset(every_kind):
    _, models = every_kind
    for model in models:
        proto = to_onnx(model)
        assert [(o.domain, o.version) for o in proto.opset_import] == [("", DEFAULT_OPSET)]
        assert proto.ir_version == onnx.helper.find_min_ir_version_for(proto.opset_import)


@pytest.mark.parametrize("opset", range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1))
def test_every_opset_from_the_minimum_runs(opset, every_kind):
    X, models = every_kind
    for model in models:
        outputs = run(to_onnx(model, target_opset=opset), X)
        if isinstance(model, NNClassifier):
            assert np.array_equal(outputs[0], model.predict(X))
            assert_close(outputs[1], model.predict_proba(X), X.dtype)
        else:
            assert_close(outputs[0], model.predict(X), X.dtype)


@pytest.mark.parametrize("opset, error", [(MIN_OPSET - 1, ValueError),
                                          (onnx.defs.onnx_opset_version() + 1, ValueError),
                                          ("13", TypeError), (13.0, TypeError),
                                          (True, TypeError)])
def test_unsupported_opset_is_refused(opset, error):
    with pytest.raises(error, match="target_opset"):
        to_onnx(nncore.Network([2, 1]), target_opset=opset)


# ---------------------------------------------------------------- errors


def test_unfitted_estimators_are_refused():
    for estimator in (NNClassifier(), NNRegressor()):
        with pytest.raises(NotFittedError, match="not fitted"):
            to_onnx(estimator)


@pytest.mark.parametrize("model", [LogisticRegression(), "net.npz", None,
                                   make_pipeline(StandardScaler(), NNClassifier())],
                         ids=["sklearn-model", "str", "None", "pipeline"])
def test_unsupported_models_are_refused(model):
    with pytest.raises(TypeError, match="to_onnx exports an nncore.Network") as info:
        to_onnx(model)
    if model.__class__.__name__ == "Pipeline":
        assert "skl2onnx.to_onnx" in str(info.value)


def test_labels_that_are_neither_integers_nor_strings_are_refused(rng):
    X, index = blobs(rng, n_classes=2)
    clf = NNClassifier(epochs=1).fit(X, index)
    clf.classes_ = np.array([0.5, 1.5])  # labels scikit-learn itself would refuse
    with pytest.raises(ValueError, match="integers or strings"):
        to_onnx(clf)


# ---------------------------------------------------------------- skl2onnx


@pytest.fixture
def skl2onnx():
    return pytest.importorskip("skl2onnx")


def test_converters_are_registered(skl2onnx):
    assert nncore.onnx.SKL2ONNX_REGISTERED


@pytest.mark.parametrize("labels", [[0, 1, 2], ["setosa", "versicolor", "virginica"]])
@pytest.mark.parametrize("net_dtype", [np.float64, np.float32])
def test_pipeline_classifier(skl2onnx, labels, net_dtype, rng):
    X, index = blobs(rng)
    X = X * 5 + 10  # so that the scaler matters
    y = np.array(labels)[index]
    pipe = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(6,), epochs=5,
                                                        dtype=net_dtype, random_state=0))
    pipe.fit(X, y)
    # a float64 input: the scaler runs in float64, the graph casts to the network's dtype
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert proba.dtype == net_dtype
    assert_close(proba, pipe.predict_proba(X), net_dtype)
    assert np.array_equal(label, pipe.predict(X))


def test_pipeline_multilabel_classifier(skl2onnx, rng):
    X = rng.normal(size=(60, 3)) * 4
    Y = (X[:, :2] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), NNClassifier(epochs=10, random_state=0)).fit(X, Y)
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert_close(proba, pipe.predict_proba(X), np.float64)
    assert label.shape == Y.shape and np.array_equal(label, pipe.predict(X))


@pytest.mark.parametrize("n_targets", [1, 2])
def test_pipeline_regressor(skl2onnx, n_targets, rng):
    X = rng.normal(size=(50, 4)) * 3 - 2
    y = X[:, 0] if n_targets == 1 else X[:, :2]
    pipe = make_pipeline(StandardScaler(), NNRegressor(epochs=5, random_state=0)).fit(X, y)
    (got,) = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    # skl2onnx's convention for regressors: one column per target, also for one
    assert got.shape == (50, n_targets)
    assert_close(got, pipe.predict(X).reshape(50, n_targets), np.float64)


def test_estimator_alone_through_skl2onnx_equals_to_onnx(skl2onnx, rng):
    X, index = blobs(rng)
    clf = NNClassifier(epochs=2, random_state=0).fit(X, index)
    label, proba = run(skl2onnx.to_onnx(clf, X[:1]), X)
    ours = run(to_onnx(clf), X)
    assert np.array_equal(label, ours[0]) and np.array_equal(proba, ours[1])


def test_skl2onnx_with_too_old_an_opset_is_refused(skl2onnx, rng):
    X, index = blobs(rng)
    pipe = make_pipeline(StandardScaler(), NNClassifier(epochs=1)).fit(X, index)
    with pytest.raises(ValueError, match=f"need opset {MIN_OPSET} or later"):
        skl2onnx.to_onnx(pipe, X[:1], target_opset=MIN_OPSET - 1)


# ---------------------------------------------------------------- imports


def test_without_onnx_the_module_says_what_to_install():
    out = run_python("try:\n"
                 "    import nncore.onnx\n"
                 "except ModuleNotFoundError as exc:\n"
                 "    print(exc.name, '|', exc)\n", absent=["onnx"])
    assert out.startswith("onnx |") and 'pip install "nncore[onnx]"' in out


def test_only_onnx_is_needed_to_export():
    out = run_python("import nncore, nncore.onnx\n"
                 "model = nncore.onnx.to_onnx(nncore.Network([3, 2, 1]))\n"
                 "print(nncore.onnx.SKL2ONNX_REGISTERED, len(model.graph.node))\n",
                 absent=["skl2onnx", "onnxruntime", "sklearn", "torch"])
    assert out.split() == ["False", "4"]


def test_docstring_examples():
    import doctest

    result = doctest.testmod(nncore.onnx)
    assert result.attempted >= 3 and result.failed == 0


# ---------------------------------------------------------------- the drop-in

DROPIN_CLASSIFIERS = {
    "binary-int": ([-1, 4], {}),
    "binary-str": (["no", "yes"], {"activation": "logistic"}),
    "multiclass-int": ([3, 7, 11], {"solver": "lbfgs"}),
    "multiclass-str": (["a", "b", "c", "d"], {"activation": "tanh"}),
    "leaky": ([0, 1, 2], {"activation": "leaky_relu"}),
}


@pytest.mark.parametrize("case", DROPIN_CLASSIFIERS)
def test_dropin_classifier_graph_equals_predict_and_proba(case, dtype, rng):
    labels, params = DROPIN_CLASSIFIERS[case]
    X, index = blobs(rng, n_classes=len(labels))
    X = X.astype(dtype)  # the drop-in trains in the dtype of X, as scikit-learn
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # (20 iterations, on purpose)
        clf.fit(X, np.array(labels)[index])
    # (lbfgs ends with float64 coefficients, as scikit-learn's: SciPy's iterates)
    want = np.float64 if params.get("solver") == "lbfgs" else dtype
    assert clf.network_.dtype == want
    label, proba = run(to_onnx(clf), X.astype(want))
    assert proba.dtype == want
    assert_close(proba, clf.predict_proba(X), want)
    assert np.array_equal(label, clf.predict(X))


def test_dropin_multilabel_classifier(rng):
    X = rng.normal(size=(60, 5))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(60, 3)) > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0).fit(X, Y)
    assert clf.multilabel_
    label, proba = run(to_onnx(clf), X)
    assert_close(proba, clf.predict_proba(X), np.float64)
    assert np.array_equal(label, clf.predict(X))


@pytest.mark.parametrize("loss, n_targets", [("squared_error", 1), ("squared_error", 3),
                                             ("poisson", 1), ("poisson", 2)])
def test_dropin_regressor_graph_equals_predict(loss, n_targets, dtype, rng):
    X = rng.normal(size=(80, 4)).astype(dtype)
    y = np.abs(X[:, :n_targets] + 0.1 * rng.normal(size=(80, n_targets)))
    y = y[:, 0] if n_targets == 1 else y
    # (adam: it trains in X's dtype, where lbfgs ends with float64 coefficients)
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(5,), solver="adam", max_iter=30,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # (30 iterations, on purpose)
        reg.fit(X, y)
    if loss == "poisson":
        assert reg.network_.activations[-1] == "exp"
    (out,) = run(to_onnx(reg), X)
    assert out.shape == reg.predict(X).shape
    assert_close(out, reg.predict(X), dtype)


def test_dropin_pipeline_through_skl2onnx(skl2onnx, rng):
    X, index = blobs(rng)
    y = np.array(["x", "y", "z"])[index]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,),
                                                         solver="lbfgs", random_state=0))
    pipe.fit(X, y)
    # (float64 probabilities: ZipMap takes float32 only, for scikit-learn's MLP as well)
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    assert_close(proba, pipe.predict_proba(X), np.float64)
    assert np.array_equal(label, pipe.predict(X))


def _twins(kind, rng, labels=(0, 1, 2), n_targets=1, **params):
    """scikit-learn's fitted MLP and the drop-in holding its very coefficients."""
    from sklearn import neural_network

    X = rng.normal(size=(60, 4)).astype(np.float32)
    if kind == "regressor":
        y = X[:, 0] if n_targets == 1 else X[:, :n_targets]
    elif kind == "multilabel":
        y = (X[:, :3] > 0).astype(int)
    else:
        y = np.array(labels)[np.arange(60) % len(labels)]
    Sk, Ours = ((neural_network.MLPRegressor, MLPRegressor) if kind == "regressor"
                else (neural_network.MLPClassifier, MLPClassifier))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = Sk(hidden_layer_sizes=(5,), max_iter=20, random_state=0, **params).fit(X, y)
        ours = Ours(hidden_layer_sizes=(5,), max_iter=1, random_state=0, **params).fit(X, y)
    ours.coefs_ = [c.copy() for c in sk.coefs_]
    ours.intercepts_ = [b.copy() for b in sk.intercepts_]
    return X, sk, ours


def _same_graph(a, b):
    assert [o.name for o in a.graph.output] == [o.name for o in b.graph.output]
    assert [(n.op_type, list(n.input), list(n.output)) for n in a.graph.node] == \
        [(n.op_type, list(n.input), list(n.output)) for n in b.graph.node]
    ia = {t.name: onnx.numpy_helper.to_array(t) for t in a.graph.initializer}
    ib = {t.name: onnx.numpy_helper.to_array(t) for t in b.graph.initializer}
    assert ia.keys() == ib.keys()
    for name in ia:
        assert np.array_equal(ia[name], ib[name]), name


def _outputs(model, X):
    """``run`` without onnx's full check, which skl2onnx's own multilabel MLP graphs fail
    (a Cast's declared rank), for scikit-learn's estimators as for the drop-in's."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


CLASSIFIER_TWINS = {"multiclass": ("classifier", {"labels": [0, 1, 2]}),
                    "binary-str": ("classifier", {"labels": ["no", "yes"], "activation": "tanh"}),
                    "4-classes": ("classifier", {"labels": [3, 7, 11, 20],
                                                 "activation": "logistic"}),
                    "multilabel": ("multilabel", {})}
SKL2ONNX_OPTIONS = {"default": None, "no-zipmap": {"zipmap": False},
                    "zipmap-columns": {"zipmap": "columns"}, "nocl": {"nocl": True},
                    "class-labels": {"output_class_labels": True, "zipmap": False}}
TWIN_CASES = [pytest.param(CLASSIFIER_TWINS[c], SKL2ONNX_OPTIONS[o], id=f"{c}-{o}")
              for c in CLASSIFIER_TWINS for o in SKL2ONNX_OPTIONS] + [
    pytest.param(("regressor", {"n_targets": 1}), None, id="regressor"),
    pytest.param(("regressor", {"n_targets": 2, "activation": "identity"}), None,
                 id="regressor-2-targets")]


@pytest.mark.parametrize("case, options", TWIN_CASES)
def test_skl2onnx_converts_the_dropins_as_scikit_learns_mlp(skl2onnx, case, options, rng):
    """The same graph, outputs and options as scikit-learn's MLP with the same weights."""
    kind, params = case
    X, sk, ours = _twins(kind, rng, **params)
    theirs = skl2onnx.to_onnx(sk, X[:1], options=options)
    mine = skl2onnx.to_onnx(ours, X[:1], options=options)
    _same_graph(theirs, mine)
    try:
        expected = _outputs(theirs, X)
    except Exception as exc:  # (nocl with string labels: skl2onnx's graph fails to run)
        with pytest.raises(type(exc)):
            _outputs(mine, X)
        return
    got = _outputs(mine, X)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e, list):  # ZipMap's dictionaries
            assert g == e
        else:
            assert np.array_equal(g, e)


@pytest.mark.parametrize("dtype_", [np.float32, np.float64])
def test_skl2onnx_converts_what_scikit_learns_mlp_has_not_with_nncores_graph(skl2onnx, dtype_,
                                                                              rng):
    X, index = blobs(rng)
    X = X.astype(dtype_)
    clf = MLPClassifier(hidden_layer_sizes=(6,), activation="leaky_relu", max_iter=30,
                        random_state=0)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, index)
        reg.fit(X, np.abs(X[:, 0]))
    label, proba = _outputs(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert_close(proba, clf.predict_proba(X), dtype_)
    assert np.array_equal(label, clf.predict(X))
    if dtype_ == np.float32:  # (ZipMap takes float32)
        label, dicts = _outputs(skl2onnx.to_onnx(clf, X[:1]), X)
        assert_close(np.array([[d[c] for c in clf.classes_] for d in dicts]),
                     clf.predict_proba(X), dtype_)
    (out,) = _outputs(skl2onnx.to_onnx(reg, X[:1]), X)
    assert_close(out[:, 0], reg.predict(X), dtype_)
    *_, class_labels = _outputs(skl2onnx.to_onnx(
        clf, X[:1], options={"output_class_labels": True, "zipmap": False}), X)
    assert np.array_equal(class_labels, clf.classes_)
    with pytest.raises(NotImplementedError, match="scikit-learn's MLP converter"):
        skl2onnx.to_onnx(clf, X[:1], options={"nocl": True, "zipmap": False})


SKL2ONNX_AFTER = """
import sys, numpy as np
import nncore.sklearn
assert "skl2onnx" not in sys.modules and "onnx" not in sys.modules
X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
clf = nncore.sklearn.MLPClassifier(max_iter=2, random_state=0).fit(X, np.arange(40) % 2)
import skl2onnx
assert "nncore.onnx" in sys.modules and sys.modules["nncore.onnx"].SKL2ONNX_REGISTERED
assert not any(type(f).__module__ == "nncore._skl2onnx_hook" for f in sys.meta_path)
assert type(skl2onnx.__spec__.loader).__module__ != "nncore._skl2onnx_hook"
print([o.name for o in skl2onnx.to_onnx(clf, X[:1]).graph.output])
"""

SKL2ONNX_BEFORE = """
import sys, numpy as np
import skl2onnx
import nncore.sklearn
X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
clf = nncore.sklearn.MLPClassifier(max_iter=2, random_state=0).fit(X, np.arange(40) % 2)
print([o.name for o in skl2onnx.to_onnx(clf, X[:1]).graph.output])
"""


@pytest.mark.parametrize("code", [SKL2ONNX_AFTER, SKL2ONNX_BEFORE], ids=["after", "before"])
def test_skl2onnx_knows_the_estimators_in_either_import_order(skl2onnx, code):
    """Without import nncore.onnx: a user who swaps the import converts as before."""
    out = run_python("import warnings; warnings.simplefilter('ignore')\n" + code)
    assert out.split() == ["['output_label',", "'output_probability']"]


def test_without_skl2onnx_nncore_sklearn_adds_no_import_hook():
    out = run_python("import sys\nn = len(sys.meta_path)\nimport nncore.sklearn\n"
                     "print(len(sys.meta_path) - n, 'onnx' in sys.modules)\n",
                     absent=["skl2onnx"])
    assert out.split() == ["0", "False"]

