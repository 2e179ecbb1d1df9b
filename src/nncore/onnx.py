"""Export to ONNX: networks and the scikit-learn estimators as standard-operator graphs.

``to_onnx(model)`` builds an ``onnx.ModelProto`` from a :class:`nncore.Network`
or a fitted :class:`nncore.sklearn.NNClassifier` / :class:`~nncore.sklearn.NNRegressor` /
:class:`~nncore.sklearn.MLPClassifier` / :class:`~nncore.sklearn.MLPRegressor`,
in the network's precision (a float64 network gives a float64 graph)::

    import onnxruntime as ort
    from nncore.onnx import to_onnx

    session = ort.InferenceSession(to_onnx(net).SerializeToString())
    session.run(None, {"X": X})[0]          # net.predict(X), to rounding

Each layer is one ``Gemm`` (``z = a W^T + b``) followed by its activation.
Every operator used has a float64 kernel in onnxruntime's CPU provider:
``leaky_relu`` is written as ``Max(z, 0.01 z)`` because ``LeakyRelu`` and
``PRelu`` have no float64 kernel there (onnxruntime 1.32 refuses them as
NOT_IMPLEMENTED at opsets 13-15 and from 19 on).

``skl2onnx.to_onnx`` also converts nncore's estimators, alone or in pipelines,
once ``nncore.sklearn`` and skl2onnx are both imported, in either order (this
module registers them, and ``nncore.sklearn`` imports it when skl2onnx is
imported).  :class:`~nncore.sklearn.NNClassifier` and
:class:`~nncore.sklearn.NNRegressor` become the graph of :func:`to_onnx`: their
classifiers take no ``zipmap`` option (the probabilities are a plain tensor), and
as for skl2onnx's regressors a regressor's output is ``[N, n_targets]`` even for
one target.  The drop-in :class:`~nncore.sklearn.MLPClassifier` and
:class:`~nncore.sklearn.MLPRegressor` go through skl2onnx's own converters for
scikit-learn's MLP, so their graphs, outputs (a ZipMap by default) and options
are what a scikit-learn user gets; a network scikit-learn's MLP has not
(``leaky_relu``, poisson's ``exp``) gets this module's graph there instead, and
refuses the ``nocl`` option.

This module needs onnx (``pip install "nncore[onnx]"``); ``import nncore`` does
not.  Running the graphs needs a runtime such as onnxruntime.
"""

from __future__ import annotations

import numbers
import sys
import warnings

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    # ModuleNotFoundError keeps its ``name``, so callers can tell which module is missing
    _cls = ModuleNotFoundError if isinstance(exc, ModuleNotFoundError) else ImportError
    raise _cls(f'nncore.onnx needs onnx (pip install "nncore[onnx]"); importing it failed: '
               f"{exc}", name=exc.name) from exc

from nncore._version import __version__
from nncore.activations import LEAKY_SLOPE
from nncore.network import Network

__all__ = ["to_onnx", "MIN_OPSET", "DEFAULT_OPSET", "SKL2ONNX_REGISTERED"]

#: The oldest opset the graphs can be written in: from 13 on ``ReduceSum``
#: takes its axes as an input and ``Softmax`` normalises over one axis.
MIN_OPSET = 13
#: The opset :func:`to_onnx` writes by default.  The graphs need nothing newer
#: than :data:`MIN_OPSET`, and the oldest opset loads in the most runtimes.
DEFAULT_OPSET = MIN_OPSET

_TENSOR_TYPES = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}


def _check_opset(target_opset) -> int:
    if target_opset is None:
        return DEFAULT_OPSET
    if isinstance(target_opset, (bool, np.bool_)) or not isinstance(target_opset,
                                                                     numbers.Integral):
        raise TypeError(f"target_opset must be an integer or None, got {target_opset!r}")
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= target_opset <= latest:
        raise ValueError(
            f"target_opset={target_opset} is not supported: nncore's graphs need opset "
            f"{MIN_OPSET} or later, and the installed onnx {onnx.__version__} knows opsets "
            f"up to {latest}")
    return int(target_opset)


# ---------------------------------------------------------------- where nodes go


class _HelperEmitter:
    """Collects nodes and initializers for a graph that :func:`to_onnx` assembles."""

    def __init__(self, reserved):
        self.nodes, self.initializers = [], []
        self._used = set(reserved)

    def name(self, hint):
        name, i = hint, 0
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def constant(self, hint, value):
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op_type, inputs, output, **attrs):
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=self.name(op_type), **attrs))
        return output


class _Skl2OnnxEmitter:
    """Puts the same nodes into skl2onnx's container, named through its scope."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, value):
        name = self.name(hint)
        value = np.asarray(value)
        tensor = numpy_helper.from_array(value, name)
        # skl2onnx copies only raw_data from a TensorProto: strings go as a list
        content = value.ravel().tolist() if tensor.data_type == TensorProto.STRING else tensor
        self.container.add_initializer(name, tensor.data_type, list(value.shape), content)
        return name

    def node(self, op_type, inputs, output, **attrs):
        self.container.add_node(op_type, list(inputs), [output],
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return output


# ---------------------------------------------------------------- graph building
# Each function writes its result into the value named ``out`` and works on any
# emitter, so to_onnx and the skl2onnx converters share one copy of the graph.


def _unary(op_type):
    def emit(em, z, out, dtype):
        return em.node(op_type, [z], out)
    return emit


def _leaky_relu(em, z, out, dtype):
    # max(z, s z) is z for z > 0 and s z below, as 0 < s < 1; LeakyRelu itself
    # lacks a float64 kernel in onnxruntime's CPU provider (see the module docstring)
    slope = em.constant("leaky_slope", np.array(LEAKY_SLOPE, dtype=dtype))
    return em.node("Max", [z, em.node("Mul", [z, slope], em.name("leaky"))], out)


def _softmax(em, z, out, dtype):
    return em.node("Softmax", [z], out, axis=-1)


#: activation name -> emitter of its nodes (identity emits none)
_ACTIVATIONS = {
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "relu": _unary("Relu"),
    "leaky_relu": _leaky_relu,
    "identity": None,
    "softmax": _softmax,
    "exp": _unary("Exp"),
}


def _emit_network(em, net, x, out):
    """``a_l = act_l(a_{l-1} W_l^T + b_l)`` layer by layer, the last into ``out``."""
    a = x
    last = len(net.weights) - 1
    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations)):
        emit = _ACTIVATIONS[act]
        z = out if l == last and emit is None else em.name(f"z{l}")
        weights = em.constant(f"W{l}", np.ascontiguousarray(W))
        biases = em.constant(f"b{l}", np.ascontiguousarray(b))
        a = em.node("Gemm", [a, weights, biases], z, transB=1)
        if emit is not None:
            a = emit(em, z, out if l == last else em.name(f"a{l}"), net.dtype)
    return a


def _class_labels(classes):
    """``classes_`` as the array the graph's ``label`` output draws from."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return classes.astype(np.int64)  # scikit-learn only accepts whole-number floats
    if classes.dtype.kind == "U" or (
            classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes)):
        return classes.astype(object)
    if classes.dtype.kind == "O" and all(
            isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_))
            for c in classes):
        return classes.astype(np.int64)
    raise ValueError(f"class labels of dtype {classes.dtype} cannot be exported: ONNX labels "
                     "are integers or strings")


def _emit_classifier(em, clf, x, label, proba):
    """``label`` and ``probabilities`` exactly as ``predict`` and ``predict_proba``."""
    net = clf.network_
    dtype = net.dtype
    if clf.multilabel_:
        _emit_network(em, net, x, proba)
        half = em.constant("threshold", np.array(0.5, dtype=dtype))
        above = em.node("Greater", [proba, half], em.name("above"))
        em.node("Cast", [above], label, to=TensorProto.INT64)
        return
    if net.sizes[-1] == 1:
        # one sigmoid output p for two classes: [1 - p, p]
        p = _emit_network(em, net, x, em.name("p"))
        one = em.constant("one", np.array(1.0, dtype=dtype))
        em.node("Concat", [em.node("Sub", [one, p], em.name("q")), p], proba, axis=1)
    elif net.activations[-1] == "softmax":
        _emit_network(em, net, x, proba)
    else:
        # one-vs-rest sigmoids normalised to sum 1; a row of zeros becomes uniform
        scores = _emit_network(em, net, x, em.name("scores"))
        axis = em.constant("axis", np.array([1], dtype=np.int64))
        total = em.node("ReduceSum", [scores, axis], em.name("total"), keepdims=1)
        ratio = em.node("Div", [scores, total], em.name("ratio"))
        zero = em.constant("zero", np.array(0.0, dtype=dtype))
        positive = em.node("Greater", [total, zero], em.name("positive"))
        uniform = em.constant("uniform", np.array(1.0 / net.sizes[-1], dtype=dtype))
        em.node("Where", [positive, ratio, uniform], proba)
    # ArgMax takes the first of equal maxima, as np.argmax does
    index = em.node("ArgMax", [proba], em.name("index"), axis=1, keepdims=0)
    classes = em.constant("classes", _class_labels(clf.classes_))
    em.node("Gather", [classes, index], label, axis=0)


def _emit_regressor(em, reg, x, out, *, flatten):
    """The network's outputs; with ``flatten`` one target comes out 1-D, as ``predict``."""
    if flatten and reg.n_outputs_ == 1:
        y = _emit_network(em, reg.network_, x, em.name("y"))
        em.node("Reshape", [y, em.constant("flat", np.array([-1], dtype=np.int64))], out)
    else:
        _emit_network(em, reg.network_, x, out)


# ---------------------------------------------------------------- to_onnx


def _estimator_kind(model):
    """"classifier" or "regressor" for nncore's estimators, else None."""
    skl = sys.modules.get("nncore.sklearn")  # an instance exists only once it is imported
    if skl is None:
        return None
    if isinstance(model, (skl.NNClassifier, skl.MLPClassifier)):
        return "classifier"
    if isinstance(model, (skl.NNRegressor, skl.MLPRegressor)):
        return "regressor"
    return None


def _network_of(model, kind):
    if kind == "network":
        return model
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "network_")
    return model.network_


def to_onnx(model, *, target_opset=None) -> onnx.ModelProto:
    """An ONNX model that computes what ``model`` predicts.

    Parameters
    ----------
    model : nncore.Network, or a fitted nncore.sklearn estimator
        NNClassifier, NNRegressor, MLPClassifier or MLPRegressor (the drop-in).
        The graph is in the network's dtype (float32 or float64), inputs included.
    target_opset : int, optional
        Opset of the default ONNX domain, from :data:`MIN_OPSET` to the newest the
        installed onnx knows; :data:`DEFAULT_OPSET` when None.

    Returns
    -------
    onnx.ModelProto
        One input ``X`` of shape ``[None, n_features]``, and:

        - a Network: one output ``output``, shape ``[None, n_outputs]``, equal to
          ``model.predict(X)``;
        - a classifier: ``label`` (``predict``: the estimator's own labels as an
          int64 or string tensor; for multilabel targets a 0/1 int64 matrix) and
          ``probabilities`` (``predict_proba``), skl2onnx's names, without ZipMap;
        - a regressor: ``variable`` (``predict``: 1-D for one target, else
          ``[None, n_targets]``).

    Raises
    ------
    TypeError
        ``model`` is not one of the types above, or ``target_opset`` is no integer.
    sklearn.exceptions.NotFittedError
        The estimator has not been fitted.
    ValueError
        ``target_opset`` is out of range, or class labels are neither integers
        nor strings.

    Examples
    --------
    >>> import nncore, numpy as np
    >>> from nncore.onnx import to_onnx
    >>> net = nncore.Network([4, 8, 3], activation="relu", output="softmax", seed=0)
    >>> model = to_onnx(net)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['X'], ['output'])
    """
    if isinstance(model, Network):
        kind = "network"
    else:
        kind = _estimator_kind(model)
        if kind is None:
            hint = (" (for a Pipeline, call skl2onnx.to_onnx after import nncore.onnx)"
                    if hasattr(model, "steps") else "")
            raise TypeError(f"to_onnx exports an nncore.Network or an nncore.sklearn estimator, "
                            f"not {type(model).__module__}.{type(model).__qualname__}{hint}")
    opset = _check_opset(target_opset)
    net = _network_of(model, kind)
    elem = _TENSOR_TYPES[np.dtype(net.dtype)]
    n = None  # any number of rows

    def value(name, elem_type, shape):
        return helper.make_tensor_value_info(name, elem_type, shape)

    if kind == "network":
        outputs = [value("output", elem, [n, net.sizes[-1]])]
    elif kind == "classifier":
        labels = _class_labels(model.classes_)
        label_type = TensorProto.STRING if labels.dtype == object else TensorProto.INT64
        label_shape = [n, len(labels)] if model.multilabel_ else [n]
        outputs = [value("label", label_type, label_shape),
                   value("probabilities", elem, [n, len(model.classes_)])]
    else:
        outputs = [value("variable", elem, [n] if model.n_outputs_ == 1
                         else [n, model.n_outputs_])]
    em = _HelperEmitter(["X", *(o.name for o in outputs)])
    if kind == "network":
        _emit_network(em, net, "X", "output")
    elif kind == "classifier":
        _emit_classifier(em, model, "X", "label", "probabilities")
    else:
        _emit_regressor(em, model, "X", "variable", flatten=True)

    graph = helper.make_graph(em.nodes, f"nncore_{type(model).__name__}",
                              [value("X", elem, [n, net.sizes[0]])], outputs,
                              initializer=em.initializers)
    opsets = [helper.make_opsetid("", opset)]
    # the oldest IR version that can carry the opset, so older runtimes load the file
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="nncore",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    proto.doc_string = repr(net)
    return proto


# ---------------------------------------------------------------- skl2onnx


def _input_as(em, variable, dtype):
    """The converter's input in the network's dtype (a Cast when it differs)."""
    from skl2onnx.common.data_types import guess_proto_type

    elem = _TENSOR_TYPES[np.dtype(dtype)]
    if guess_proto_type(variable.type) == elem:
        return variable.full_name
    return em.node("Cast", [variable.full_name], em.name("X_cast"), to=elem)


def _tensor_type(dtype):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if np.dtype(dtype) == np.float64 else FloatTensorType


def _check_operator(operator, n_outputs):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType
    from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=n_outputs)
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType, Int64TensorType])


def _classifier_shapes(operator):
    """skl2onnx shape calculator for nncore's classifiers (NNClassifier, MLPClassifier).

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        Its ``label`` output becomes int64 or string (a 0/1 int64 matrix for
        multilabel targets), its ``probabilities`` the network's dtype.
    """
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    _check_operator(operator, 2)
    clf = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    labels = _class_labels(clf.classes_)
    if clf.multilabel_:
        operator.outputs[0].type = Int64TensorType([n, len(labels)])
    else:
        kind = StringTensorType if labels.dtype == object else Int64TensorType
        operator.outputs[0].type = kind([n])
    operator.outputs[1].type = _tensor_type(clf.network_.dtype)([n, len(labels)])


def _regressor_shapes(operator):
    """skl2onnx shape calculator for nncore's regressors (NNRegressor, MLPRegressor).

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        Its output becomes ``[N, n_targets]`` in the network's dtype; as for
        skl2onnx's own regressors, one target is a column ``[N, 1]``.
    """
    _check_operator(operator, 1)
    reg = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(reg.network_.dtype)([n, reg.n_outputs_])


def _convert_classifier(scope, operator, container):
    """skl2onnx converter for nncore's classifiers (the graph of :func:`to_onnx`).

    Parameters
    ----------
    scope, operator, container
        What skl2onnx passes to every converter.
    """
    _check_opset(container.target_opset)
    em = _Skl2OnnxEmitter(scope, container)
    clf = operator.raw_operator
    x = _input_as(em, operator.inputs[0], clf.network_.dtype)
    _emit_classifier(em, clf, x, operator.outputs[0].full_name, operator.outputs[1].full_name)


def _convert_regressor(scope, operator, container):
    """skl2onnx converter for nncore's regressors (the graph of :func:`to_onnx`).

    Parameters
    ----------
    scope, operator, container
        What skl2onnx passes to every converter.
    """
    _check_opset(container.target_opset)
    em = _Skl2OnnxEmitter(scope, container)
    reg = operator.raw_operator
    x = _input_as(em, operator.inputs[0], reg.network_.dtype)
    _emit_regressor(em, reg, x, operator.outputs[0].full_name, flatten=False)


# The drop-ins go through scikit-learn's own MLP converters wherever the model is one
# scikit-learn's MLP could be: the graph, its output names, ZipMap and the options
# (``zipmap``, ``nocl``, ``output_class_labels``) are then what a scikit-learn user
# gets.  What scikit-learn's MLP has not (leaky_relu, poisson's exp, which skl2onnx's
# converter does not know) gets nncore's graph.
_SKLEARN_HIDDEN = ("identity", "logistic", "tanh", "relu")
_SKLEARN_OUTPUT = ("identity", "logistic", "softmax")


def _as_sklearn(model):
    return model.activation in _SKLEARN_HIDDEN and model.out_activation_ in _SKLEARN_OUTPUT


def _dropin_shapes(operator):
    """skl2onnx shape calculator for the drop-in :class:`~nncore.sklearn.MLPClassifier`
    and :class:`~nncore.sklearn.MLPRegressor`: scikit-learn's MLP's, or nncore's for a
    network scikit-learn's MLP has not.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
    """
    from skl2onnx.common import shape_calculator

    model = operator.raw_operator
    kind = _estimator_kind(model)
    if _as_sklearn(model):
        getattr(shape_calculator, f"calculate_linear_{kind}_output_shapes")(operator)
    else:
        (_classifier_shapes if kind == "classifier" else _regressor_shapes)(operator)


def _convert_dropin(scope, operator, container):
    """skl2onnx converter for the drop-ins (see :func:`_dropin_shapes`).

    Parameters
    ----------
    scope, operator, container
        What skl2onnx passes to every converter.
    """
    from skl2onnx.operator_converters import multilayer_perceptron

    model = operator.raw_operator
    kind = _estimator_kind(model)
    if _as_sklearn(model):
        getattr(multilayer_perceptron, f"convert_sklearn_mlp_{kind}")(scope, operator, container)
    elif kind == "regressor":
        _convert_regressor(scope, operator, container)
    elif container.get_options(model, dict(nocl=False))["nocl"]:
        raise NotImplementedError(
            f"skl2onnx's nocl option is scikit-learn's MLP converter's; a network with "
            f"activation={model.activation!r} is converted by nncore's, which keeps the labels")
    else:
        _convert_classifier(scope, operator, container)


def _register_with_skl2onnx() -> bool:
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        return False  # optional: to_onnx works without it
    except Exception as exc:  # a broken skl2onnx must not break to_onnx
        warnings.warn(f"skl2onnx failed to import ({exc!r}); pipelines with nncore's "
                      "estimators cannot be converted", RuntimeWarning, stacklevel=3)
        return False
    from nncore.sklearn import MLPClassifier, MLPRegressor, NNClassifier, NNRegressor

    update_registered_converter(NNClassifier, "NncoreNNClassifier", _classifier_shapes,
                                _convert_classifier)
    update_registered_converter(NNRegressor, "NncoreNNRegressor", _regressor_shapes,
                                _convert_regressor)
    # (the options scikit-learn's MLPClassifier has in skl2onnx; with zipmap among them
    # skl2onnx parses it as a classifier, adding the ZipMap)
    update_registered_converter(MLPClassifier, "NncoreMLPClassifier", _dropin_shapes,
                                _convert_dropin,
                                options={"zipmap": [True, False, "columns"],
                                         "output_class_labels": [False, True],
                                         "nocl": [True, False]})
    update_registered_converter(MLPRegressor, "NncoreMLPRegressor", _dropin_shapes,
                                _convert_dropin)
    return True


#: True when skl2onnx was found and knows nncore's estimators.
SKL2ONNX_REGISTERED = _register_with_skl2onnx()
