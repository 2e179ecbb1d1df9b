"""The contenders, each written the way its own users would write it.

Every factory does its set-up (model construction, data conversion) outside the timed region and
returns a zero-argument callable; the benchmark times only that callable.

- ``nncore``  -- ``nncore.Network(...).fit(X, Y, epochs=1, ...)``: one kernel call per epoch.
- ``numpy``   -- :class:`numpy_mlp.NumpyMLP`, the vectorised minibatch baseline (always present).
- ``torch``   -- an eager PyTorch loop: ``nn.Linear`` + ``nn.Sigmoid``, the lecture's MSE written by
  hand (sum over outputs, mean over the minibatch; ``nn.MSELoss`` would also divide by the number of
  outputs), ``torch.optim.SGD`` without momentum, a ``torch.randperm`` shuffle per epoch;
  ``predict`` is the module called eagerly under ``torch.no_grad()`` (issue 16's reference).
- ``sklearn`` -- ``MLPRegressor(solver="sgd", activation="logistic", momentum=0, alpha=0)``, one
  ``partial_fit`` per epoch (it shuffles). Its output layer is the identity (scikit-learn's
  regressor has no sigmoid output: ten fewer sigmoids per sample, negligible) and its squared-error
  gradient is half the lecture's, so ``learning_rate_init = 2 * eta`` takes steps of the same size.
- ``onnxrt``  -- ONNX Runtime (CPU provider) running nncore's own export of the network
  (``nncore.onnx.to_onnx(net)``), its thread pool sized by ``SessionOptions``; ``predict`` only.

Issue 16's ``saturation`` and ``optimizer`` groups time one nncore network under different settings
(:func:`nncore_network`, :func:`make_nncore_epoch`, :data:`OPTIMIZERS`); issue 13's ``dropin``
group times scikit-learn's ``MLPClassifier`` and ``nncore.sklearn.MLPClassifier`` built from one
parameter dict (:func:`make_dropin`).

Missing optional contenders are skipped (``pytest.importorskip``), never failed.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from numpy_mlp import NumpyMLP

CONTENDERS = ("nncore", "numpy", "torch", "sklearn")
PREDICT_CONTENDERS = (*CONTENDERS, "onnxrt")
SEED = 0


def _nncore():
    nncore = pytest.importorskip("nncore")
    if not hasattr(nncore, "Network"):
        pytest.skip("nncore.Network is not available in the installed nncore")
    return nncore


def _torch():
    return pytest.importorskip("torch")


def _quiet_kwargs(func):
    """Turn off progress output if ``func`` has such a switch (a bar would be timed too)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}
    quiet = {"verbose": False, "progress": False}
    return {k: v for k, v in quiet.items() if k in params}


# -- models ----------------------------------------------------------------------------------------
def nncore_network(sizes, dtype, **kwargs):
    """``nncore.Network(sizes, ...)`` seeded like the others (kwargs: activation, output, loss)."""
    return _nncore().Network(list(sizes), dtype=dtype, seed=SEED, **kwargs)


def _torch_model(sizes, dtype):
    torch = _torch()
    torch.manual_seed(SEED)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(n_in, n_out, dtype=getattr(torch, dtype)), torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def _torch_mse(out, target):
    """C = mean over the minibatch of sum_k (y~_k - y_k)^2 (the lecture's MSE)."""
    return (out - target).pow(2).sum(dim=1).mean()


def _sklearn_model(sizes, batch_size, learning_rate):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="logistic",
        solver="sgd",
        batch_size=batch_size,
        learning_rate="constant",
        learning_rate_init=2.0 * learning_rate,  # its gradient is half the lecture's
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        shuffle=True,
        early_stopping=False,
        # An instance, not an int: an int would re-seed every partial_fit and repeat one shuffle.
        random_state=np.random.RandomState(SEED),
    )


# -- training: one epoch per call ------------------------------------------------------------------
def make_epoch(contender, sizes, dtype, X, Y, *, batch_size, learning_rate=0.1):
    """A callable that trains one epoch over ``(X, Y)`` with minibatches of ``batch_size``."""
    if contender == "nncore":
        net = nncore_network(sizes, dtype)
        return make_nncore_epoch(net, X, Y, batch_size=batch_size, learning_rate=learning_rate)

    if contender == "numpy":
        net = NumpyMLP(sizes, dtype=dtype, seed=SEED)

        def epoch():
            net.fit(X, Y, epochs=1, batch_size=batch_size, learning_rate=learning_rate)

        return epoch

    if contender == "torch":
        torch = _torch()
        model = _torch_model(sizes, dtype)
        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.0)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        generator = torch.Generator().manual_seed(SEED)
        n = Xt.shape[0]

        def epoch():
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                loss = _torch_mse(model(Xt[idx]), Yt[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        return epoch

    if contender == "sklearn":
        model = _sklearn_model(sizes, batch_size, learning_rate)

        def epoch():
            model.partial_fit(X, Y)

        return epoch

    raise ValueError(f"unknown contender {contender!r}")


def make_nncore_epoch(net, X, Y, *, batch_size, optimizer="sgd", learning_rate=None):
    """A callable that trains ``net`` one epoch; an optimiser object continues its state call after
    call (``learning_rate`` only with an optimiser given by name)."""
    quiet = _quiet_kwargs(net.fit)

    def epoch():
        net.fit(
            X,
            Y,
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            learning_rate=learning_rate,
            **quiet,
        )

    return epoch


#: the ``optimizer`` group: name -> (class name in nncore.optimizers, keyword arguments); learning
#: rates usual for a relu/softmax network on inputs in [0, 1] (momentum 0.9 multiplies the step by
#: about 10, hence 0.01); they set no work, only keep every epoch finite
OPTIMIZERS = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "momentum": ("SGD", {"learning_rate": 0.01, "momentum": 0.9}),
    "nesterov": ("SGD", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 1e-3}),
}


def make_optimizer(name):
    """A fresh ``nncore.optimizers`` object for one of :data:`OPTIMIZERS`."""
    cls, kwargs = OPTIMIZERS[name]
    return getattr(_nncore().optimizers, cls)(**kwargs)


# -- predict ---------------------------------------------------------------------------------------
def make_predict(contender, sizes, dtype, X, *, fit_data, threads):
    """A callable that returns the output activations for all rows of ``X``.

    ``threads`` sizes ONNX Runtime's pool (set when its session is made); the caller limits every
    other contender's threads around the timed calls (``harness.limit_threads``)."""
    if contender == "nncore":
        net = nncore_network(sizes, dtype)
        return lambda: net.predict(X)

    if contender == "numpy":
        net = NumpyMLP(sizes, dtype=dtype, seed=SEED)
        return lambda: net.predict(X)

    if contender == "torch":
        torch = _torch()
        model = _torch_model(sizes, dtype)

        def predict():
            with torch.no_grad():
                return model(torch.from_numpy(X)).numpy()

        return predict

    if contender == "sklearn":
        model = _sklearn_model(sizes, batch_size=10, learning_rate=0.1)
        Xf, Yf = fit_data
        model.partial_fit(Xf, Yf)  # scikit-learn only predicts once fitted
        return lambda: model.predict(X)

    if contender == "onnxrt":
        ort = pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        from nncore.onnx import to_onnx

        net = nncore_network(sizes, dtype)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            to_onnx(net).SerializeToString(),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        name = session.get_inputs()[0].name
        head = X[:8]
        if not np.allclose(session.run(None, {name: head})[0], net.predict(head), rtol=1e-4):
            raise AssertionError("ONNX Runtime does not compute what the exported network predicts")
        return lambda: session.run(None, {name: X})[0]

    raise ValueError(f"unknown contender {contender!r}")


# -- full-batch gradient ---------------------------------------------------------------------------
def make_gradient(contender, sizes, dtype, X, Y):
    """A callable that returns grad C averaged over all rows of ``(X, Y)``."""
    if contender == "nncore":
        net = nncore_network(sizes, dtype)
        return lambda: net.gradient(X, Y)

    if contender == "numpy":
        net = NumpyMLP(sizes, dtype=dtype, seed=SEED)
        return lambda: net.gradient(X, Y)

    if contender == "torch":
        torch = _torch()
        model = _torch_model(sizes, dtype)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

        def gradient():
            model.zero_grad(set_to_none=True)
            _torch_mse(model(Xt), Yt).backward()
            return [p.grad for p in model.parameters()]

        return gradient

    if contender == "sklearn":
        pytest.skip("scikit-learn has no public API for the gradient")

    raise ValueError(f"unknown contender {contender!r}")


# -- the drop-in (issue 13) ------------------------------------------------------------------------
def make_dropin(contender, X, y, **params):
    """``(estimator, fit)``: scikit-learn's or nncore's ``MLPClassifier(**params)`` and a callable
    that fits it on ``(X, y)`` from scratch (ConvergenceWarning silenced: few epochs on purpose)."""
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning

    if contender == "sklearn":
        from sklearn.neural_network import MLPClassifier
    elif contender == "nncore":
        _nncore()
        MLPClassifier = pytest.importorskip("nncore.sklearn").MLPClassifier
    else:
        raise ValueError(f"unknown contender {contender!r}")
    estimator = MLPClassifier(**params)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)

    return estimator, fit
