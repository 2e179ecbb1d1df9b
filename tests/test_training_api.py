"""Optimisers and callbacks as objects, and the one training loop (issue 12).

The short forms (``optimizer="adam"``, ``early_stopping=True``) and the objects
(``Adam(1e-3)``, ``EarlyStopping(...)``) must train bit for bit alike; the flat
keywords of earlier versions keep working with a DeprecationWarning; files and
pickles written by nncore 0.1.0 load and continue training exactly as 0.1.0 did.
"""

import functools
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from test_against_reference import random_case

import nncore
from nncore import reference
from nncore.callbacks import Callback, EarlyStopping, PrintProgress, StopTraining
from nncore.datasets import load_digits, one_hot
from nncore.optimizers import (
    SGD,
    Adam,
    ExponentialDecay,
    InverseTimeDecay,
    SklearnAdam,
    StepDecay,
)
from nncore.training import EpochResult, Trainer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True, scale=True)
    return X[:500], one_hot(y[:500], 10)


def _net(dtype=np.float64, seed=1, **kw):
    return nncore.Network([64, 16, 10], activation="tanh", dtype=dtype, seed=seed, **kw)


def _same(a, b):
    return a.params.tobytes() == b.params.tobytes()


def _quiet_fit(net, X, Y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return net.fit(X, Y, **kw)


# ---------------------------------------------------------------- short form = object

OBJECTS = [
    ("adam", {"learning_rate": 1e-3}, lambda: Adam(1e-3)),
    ("adam", {}, lambda: Adam()),
    ("sgd", {"learning_rate": 0.5}, lambda: SGD(0.5)),
    ("sgd", {}, lambda: SGD()),
    ("momentum", {"learning_rate": 0.05}, lambda: SGD(0.05, momentum=0.9)),
    ("momentum", {}, lambda: SGD(momentum=0.9)),
]


@pytest.mark.parametrize("name, short, make", OBJECTS, ids=[f"{o[0]}{o[1]}" for o in OBJECTS])
def test_an_optimizer_object_trains_bit_for_bit_as_its_short_form(digits, name, short, make,
                                                                   dtype):
    X, Y = digits
    a = _net(dtype).fit(X, Y, epochs=3, batch_size=16, optimizer=name, **short)
    b = _net(dtype).fit(X, Y, epochs=3, batch_size=16, optimizer=make())
    assert _same(a, b)
    assert a.history["loss"] == b.history["loss"]


FLAT = [
    ("momentum", {"momentum": 0.8, "nesterov": True, "weight_decay": 1e-3},
     lambda lr: SGD(lr, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 1e-4},
     lambda lr: Adam(lr, beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=1e-4)),
    ("sgd", {"lr_schedule": "exponential", "decay_rate": 0.7, "decay_steps": 2},
     lambda lr: SGD(lr, schedule=ExponentialDecay(0.7, 2))),
    ("sgd", {"lr_schedule": "step", "decay_rate": 0.5, "decay_steps": 2},
     lambda lr: SGD(lr, schedule=StepDecay(0.5, 2))),
    ("adam", {"lr_schedule": "inverse_time", "decay_rate": 0.5, "decay_steps": 1},
     lambda lr: Adam(lr, schedule=InverseTimeDecay(0.5, 1))),
    ("sgd", {"lr_schedule": lambda epoch, r0: r0 / (1 + epoch)},
     lambda lr: SGD(lr, schedule=lambda epoch, r0: r0 / (1 + epoch))),
]


@pytest.mark.parametrize("name, flat, make", FLAT, ids=[str(sorted(f[1])) for f in FLAT])
def test_flat_keywords_still_work_warn_and_equal_the_object(digits, name, flat, make):
    X, Y = digits
    lr = {"sgd": 0.5, "momentum": 0.05, "adam": 1e-2}[name]
    with pytest.warns(DeprecationWarning) as record:
        a = _net().fit(X, Y, epochs=4, batch_size=16, optimizer=name, learning_rate=lr, **flat)
    messages = " ".join(str(w.message) for w in record)
    for key in flat:  # each keyword's warning names the object that replaces it
        assert f"fit({key}=...) is deprecated" in messages
    assert "nncore.optimizers." in messages
    b = _net().fit(X, Y, epochs=4, batch_size=16, optimizer=make(lr))
    assert _same(a, b)
    assert a.history["lr"] == b.history["lr"]


def test_no_deprecation_warning_from_the_short_form(digits):
    X, Y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        _net().fit(X, Y, epochs=1, optimizer="adam", learning_rate=1e-3, early_stopping=True,
                   validation_split=0.2, patience=2)
        _net().fit(X, Y, epochs=1, optimizer=Adam(1e-3, weight_decay=1e-4))


def test_an_object_does_not_take_fit_keywords(digits):
    X, Y = digits
    with pytest.raises(TypeError, match=r"Adam\(learning_rate=\.\.\.\)"):
        _net().fit(X, Y, epochs=1, optimizer=Adam(), learning_rate=0.1)
    with pytest.raises(TypeError, match="belong"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _net().fit(X, Y, epochs=1, optimizer=SGD(0.1), momentum=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentun'"):
        _net().fit(X, Y, epochs=1, momentun=0.5)


@pytest.mark.parametrize("bad, exc, match", [
    (lambda: SGD(-1.0), ValueError, r"learning_rate must be > 0"),
    (lambda: SGD(0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: SGD(0.1, nesterov=True), ValueError, r"nesterov=True needs momentum > 0"),
    (lambda: SGD(0.1, momentum=0.5, nesterov="yes"), TypeError, r"nesterov must be True"),
    (lambda: SGD(0.1, weight_decay=-1), ValueError, r"weight_decay must be >= 0"),
    (lambda: SGD(0.1, schedule="cosine"), ValueError, r"unknown lr_schedule 'cosine'"),
    (lambda: Adam(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: Adam(epsilon=0), ValueError, r"epsilon must be > 0"),
    (lambda: ExponentialDecay(0.0, 2), ValueError, r"decay_rate must be > 0"),
    (lambda: StepDecay(0.5, 1.5), TypeError, r"decay_steps must be an integer"),
    (lambda: EarlyStopping(patience=0), ValueError, r"patience must be > 0"),
    (lambda: EarlyStopping(mode="up"), ValueError, r"mode must be"),
    (lambda: EarlyStopping(restore_best=1), TypeError, r"restore_best must be True or False"),
])
def test_bad_hyperparameters_are_refused_when_the_object_is_made(bad, exc, match):
    with pytest.raises(exc, match=match):
        bad()


def test_a_schedule_object_by_name_and_a_bad_schedule_value(digits):
    X, Y = digits
    net = _net()
    net.fit(X, Y, epochs=4, optimizer=SGD(1.0, schedule=StepDecay(0.1, 2)))
    np.testing.assert_allclose(net.history["lr"], [1.0, 1.0, 0.1, 0.1])
    assert SGD(1.0, schedule="step").schedule == StepDecay()
    with pytest.raises(ValueError, match=r"schedule gave -1\.0 at epoch 4"):
        net.fit(X, Y, epochs=1, optimizer=SGD(1.0, schedule=lambda epoch, r0: -1.0))
    assert len(net.history["lr"]) == 4  # the refused epoch left no trace


# ---------------------------------------------------------------- state

def test_the_same_object_continues_and_a_new_one_starts_afresh(digits, dtype):
    X, Y = digits
    opt = Adam(1e-2)
    a = _net(dtype).fit(X, Y, epochs=2, optimizer=opt).fit(X, Y, epochs=3, optimizer=opt)
    b = _net(dtype).fit(X, Y, epochs=5, optimizer=Adam(1e-2))
    assert _same(a, b) and opt.step_count == 5 * 50 and a.optimizer is opt
    assert opt.state.dtype == dtype and opt.state.shape == (2 * a.n_params,)
    m, v = opt.moments
    assert m.base is opt.state and v.base is opt.state
    # a fresh object restarts Adam's moments and its bias correction
    c = _net(dtype).fit(X, Y, epochs=2, optimizer=Adam(1e-2)).fit(X, Y, epochs=3,
                                                                   optimizer=Adam(1e-2))
    assert not _same(a, c)
    # the short form again continues the last fit's optimiser, as it always did
    d = _net(dtype).fit(X, Y, epochs=2, optimizer="adam", learning_rate=1e-2)
    d.fit(X, Y, epochs=3, optimizer="adam", learning_rate=1e-2)
    assert _same(a, d)


def test_an_optimizer_holding_another_networks_state_is_refused(digits):
    X, Y = digits
    opt = SGD(0.1, momentum=0.9)
    _net().fit(X, Y, epochs=1, optimizer=opt)
    other = nncore.Network([64, 8, 10], seed=0)
    before = other.params.copy()
    with pytest.raises(ValueError, match="holds state for another network"):
        other.fit(X, Y, epochs=1, optimizer=opt)
    assert other.params.tobytes() == before.tobytes() and other.history == {}
    opt.reset()
    other.fit(X, Y, epochs=1, optimizer=opt)
    assert opt.step_count == 50


OPTIMIZERS = [
    (lambda: SGD(0.3), lambda: reference.SGD(0.3)),
    (lambda: SGD(0.1, weight_decay=0.05), lambda: reference.SGD(0.1, weight_decay=0.05)),
    (lambda: SGD(0.1, momentum=0.8), lambda: reference.SGD(0.1, momentum=0.8)),
    (lambda: SGD(0.1, momentum=0.8, nesterov=True, weight_decay=0.01),
     lambda: reference.SGD(0.1, momentum=0.8, nesterov=True, weight_decay=0.01)),
    (lambda: Adam(0.01), lambda: reference.Adam(0.01)),
    (lambda: Adam(0.01, beta1=0.7, beta2=0.9, epsilon=1e-6, weight_decay=0.02),
     lambda: reference.Adam(0.01, beta1=0.7, beta2=0.9, epsilon=1e-6, weight_decay=0.02)),
    (lambda: SGD(0.5, schedule=ExponentialDecay(0.5, 1)),
     lambda: reference.SGD(0.5, schedule=lambda epoch, r0: r0 * 0.5 ** epoch)),
]


@pytest.mark.parametrize("make, make_ref", OPTIMIZERS)
def test_optimizer_objects_against_their_reference_twins(make, make_ref, dtype, first_layer):
    _fit_against_the_twin(make, make_ref, dtype)


def _fit_against_the_twin(make, make_ref, dtype):
    net, ref, X, Y = random_case(17, 23, dtype)
    net.fit(X, Y, epochs=3, batch_size=5, optimizer=make())
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=5,
            optimizer=make_ref())
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


@pytest.mark.parametrize("make, make_ref", OPTIMIZERS[:6])
def test_one_step_with_a_gradient_from_anywhere(make, make_ref, dtype):
    """Optimizer.step applies exactly the update the compiled epoch applies."""
    net, ref, X, Y = random_case(5, 12, dtype)
    opt, ref_opt = make(), make_ref()
    g = net.gradient(X, Y)
    g_before = g.copy()
    opt.step(net, g)
    opt.step(net, g)
    assert g.tobytes() == g_before.tobytes()  # the caller's gradient is left alone
    gl = ref.gradient(X.astype(float).tolist(), Y.astype(float).tolist())
    ref.params = ref_opt.step(ref.params, gl, ref.sizes)
    ref.params = ref_opt.step(ref.params, gl, ref.sizes)
    assert_close(net.params, ref.params, dtype)
    assert opt.step_count == 2
    # and a full-batch epoch of fit is one such step
    a, _, _, _ = random_case(5, 12, dtype)
    b, _, _, _ = random_case(5, 12, dtype)
    fit_opt, step_opt = make(), make()
    a.fit(X, Y, epochs=1, batch_size=12, shuffle=False, optimizer=fit_opt)
    step_opt.step(b, b.gradient(X, Y))
    assert_close(a.params, b.params, dtype)


def test_step_refuses_a_gradient_of_the_wrong_shape():
    net = nncore.Network([3, 2], seed=0)
    with pytest.raises(ValueError, match="grad has shape"):
        SGD(0.1).step(net, np.zeros(3))


# ---------------------------------------------------------------- files and pickles

@pytest.mark.parametrize("make", [
    lambda: SGD(0.2, momentum=0.7, nesterov=True, weight_decay=1e-3,
                schedule=StepDecay(0.5, 3)),
    lambda: Adam(0.02, beta1=0.8, beta2=0.95, epsilon=1e-7, schedule=ExponentialDecay(0.9, 2)),
    lambda: SGD(0.3),
])
def test_the_optimizer_is_saved_and_loaded_through_its_object(digits, tmp_path, make, dtype):
    X, Y = digits
    opt = make()
    net = _net(dtype).fit(X, Y, epochs=2, batch_size=32, optimizer=opt)
    net.save(tmp_path / "m.npz")
    back = nncore.load(tmp_path / "m.npz")
    assert type(back.optimizer) is type(opt)
    assert back.optimizer.get_config() == opt.get_config()
    assert back.optimizer.step_count == opt.step_count
    if opt.state is not None and opt.state.size:
        assert back.optimizer.state.tobytes() == opt.state.tobytes()
    # continuing the loaded optimiser object equals continuing the original
    net.fit(X, Y, epochs=2, batch_size=32, optimizer=opt)
    back.fit(X, Y, epochs=2, batch_size=32, optimizer=back.optimizer)
    assert _same(net, back)
    assert net.history["lr"] == back.history["lr"]


def test_a_custom_schedule_is_not_saved_and_says_so(tmp_path, digits):
    X, Y = digits
    net = _net().fit(X, Y, epochs=1, optimizer=SGD(0.1, momentum=0.5,
                                                   schedule=lambda e, r: r))
    net.save(tmp_path / "m.npz")
    back = nncore.load(tmp_path / "m.npz")
    assert back.optimizer.schedule is None and back.optimizer.momentum == 0.5


def test_files_and_pickles_of_version_0_1_0_continue_exactly():
    """A model file and a pickle written by nncore 0.1.0 (whose optimiser state was a
    private tuple) load, and continuing training gives 0.1.0's own numbers -- to
    float64 rounding: since 0.2 Adam's update computes its bias corrections once a
    step (a m / (sqrt(v) q + eps) with a = r/(1-b1^t), q = 1/sqrt(1-b2^t)), the same
    quantity as 0.1.0's, rounded differently."""
    want = np.load(DATA / "adam-0.1.0-continued.npz")
    X, Y = want["X"], want["Y"]
    with open(DATA / "adam-0.1.0.pkl", "rb") as fh:
        pickled = pickle.load(fh)
    for net in (nncore.load(DATA / "adam-0.1.0.npz"), pickled):
        assert isinstance(net.optimizer, Adam) and net.optimizer.step_count == 15
        assert net.epochs_done == 3
        net.fit(X, Y, epochs=2, batch_size=8, optimizer="adam", learning_rate=0.01)
        assert_close(net.params, want["params"], np.float64)
        assert_close(net.history["loss"], want["loss"], np.float64)


# ---------------------------------------------------------------- callbacks

def test_early_stopping_object_equals_the_short_form(digits):
    X, Y = digits
    kw = dict(epochs=60, batch_size=8, learning_rate=2.0, validation_data=(X[:100], Y[:100]))
    a = _net().fit(X[100:], Y[100:], early_stopping=True, patience=3, **kw)
    stopper = EarlyStopping("val_loss", patience=3)
    b = _net().fit(X[100:], Y[100:], callbacks=[stopper], **kw)
    assert _same(a, b) and a.history == {**b.history, "time": a.history["time"]}
    assert a.best_epoch_ == b.best_epoch_ == stopper.best_epoch
    assert stopper.stopped_epoch == len(b.history["loss"]) - 1 < 59
    assert b.loss(X[:100], Y[:100]) == stopper.best


def test_early_stopping_on_accuracy_and_without_restoring(digits):
    X, Y = digits
    seen = []
    stopper = EarlyStopping("val_accuracy", patience=2, restore_best=False)
    net = _net()
    net.fit(X[100:], Y[100:], epochs=40, batch_size=8, learning_rate=3.0,
            validation_data=(X[:100], Y[:100]),
            callbacks=[stopper, lambda e, logs: seen.append(net.params.copy())])
    acc = net.history["val_accuracy"]
    assert stopper.best == max(acc) and stopper.best_epoch == int(np.argmax(acc))
    assert net.params.tobytes() == seen[-1].tobytes()  # the last epoch's, not the best's


def test_early_stopping_needs_what_it_monitors(digits):
    X, Y = digits
    net = _net()
    with pytest.raises(ValueError, match="'val_loss'.*needs validation data"):
        net.fit(X, Y, epochs=2, callbacks=[EarlyStopping()])
    assert net.params.tobytes() == _net().params.tobytes()
    assert all(len(v) == 0 for v in net.history.values())


def test_callback_hooks_in_order_also_when_training_fails(digits):
    X, Y = digits
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            calls.append(("begin", trainer.epochs, trainer.n_samples, tuple(trainer.log_keys)))

        def on_epoch_end(self, epoch, logs):
            calls.append(("epoch", epoch))
            if epoch == 3:
                raise StopTraining

        def on_train_end(self, trainer):
            calls.append(("end", trainer.completed))

    net = _net()
    net.fit(X, Y, epochs=10, callbacks=[Recorder()])
    assert calls == [("begin", 10, 500, ("loss", "lr", "time", "accuracy"))] + [
        ("epoch", e) for e in range(4)] + [("end", True)]
    calls.clear()
    net.fit(X, Y, epochs=2, callbacks=[Recorder()])  # epochs count on over fits
    assert [c for c in calls if c[0] == "epoch"] == [("epoch", 4), ("epoch", 5)]
    calls.clear()
    with pytest.raises(nncore.DivergenceError):
        nncore.Network([64, 10], output="identity", seed=0).fit(
            X, Y, epochs=50, learning_rate=10.0, callbacks=[Recorder()])
    assert calls[0][0] == "begin" and calls[-1] == ("end", False)


def test_print_progress_object(digits, capsys):
    X, Y = digits
    _net().fit(X, Y, epochs=2, callbacks=[PrintProgress()])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("epoch 2: loss=") and "samples/s" in out[1]


# ---------------------------------------------------------------- the loop

class PythonMinibatches:
    """A data source that is not the compiled epoch: each minibatch's gradient is
    computed by Network.loss_and_gradient and applied by Optimizer.step -- the shape
    of a distributed source, whose gradients are sums over remote blocks."""

    def __init__(self, network, X, Y, batch_size):
        self.network, self.X, self.Y, self.batch_size = network, X, Y, batch_size
        self.n_samples, self.metric = X.shape[0], None
        self.entered = 0

    def __enter__(self):
        self.entered += 1
        return self

    def __exit__(self, *exc):
        return False

    def run_epoch(self, optimizer, learning_rate):
        total = 0.0
        for start in range(0, self.n_samples, self.batch_size):
            Xb, Yb = self.X[start:start + self.batch_size], self.Y[start:start + self.batch_size]
            loss, grad = self.network.loss_and_gradient(Xb, Yb)
            total += loss * Xb.shape[0]
            optimizer.step(self.network, grad, learning_rate=learning_rate)
        return EpochResult(total, float(self.n_samples))


@pytest.mark.parametrize("make", [lambda: SGD(0.5), lambda: SGD(0.1, momentum=0.9),
                                  lambda: Adam(1e-2, weight_decay=1e-3)])
def test_the_loop_trains_with_another_gradient_source(digits, make, dtype):
    X, Y = digits
    a = _net(dtype)
    a.fit(X, Y, epochs=3, batch_size=50, shuffle=False, optimizer=make())
    b = _net(dtype)
    source = PythonMinibatches(b, *b.check_data(X, Y), batch_size=50)
    Trainer(b, source, make(), epochs=3).run()
    assert source.entered == 1
    assert_close(b.params, a.params, dtype)
    assert_close(b.history["loss"], a.history["loss"], dtype)
    assert b.epochs_done == 3 and list(b.history) == ["loss", "lr", "time"]


def test_no_import_cycles_between_modules():
    """Every import between nncore's modules, also those inside functions, goes one way."""
    import ast

    root = Path(nncore.__file__).parent
    modules = {p.stem: p for p in root.glob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level == 1 or (
                    node.module or "").startswith("nncore")):
                parts = (node.module or "").split(".")
                parts = parts[1:] if parts[0] == "nncore" else parts
                deps.update([parts[0]] if parts and parts[0] else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                deps.update(a.name.split(".")[1] for a in node.names
                            if a.name.startswith("nncore."))
        graph[name] = {d for d in deps if d in modules and d != name}

    def visit(node, path):
        assert node not in path, f"import cycle: {' -> '.join([*path, node])}"
        for dep in graph[node]:
            visit(dep, [*path, node])

    for name in graph:
        if name != "__init__":
            visit(name, [])
    assert graph["network"] >= {"training", "optimizers", "callbacks"}
    assert "network" not in graph["training"] and "network" not in graph["optimizers"]
    assert "network" in graph["io"] and "io" not in graph["network"]


# ---------------------------------------------------------------- L-BFGS, a full-batch solver

def test_lbfgs_iterates_on_the_parameter_vector_as_scipy(digits):
    """fit(optimizer=LBFGS(...)) is SciPy's L-BFGS-B on Network.loss_and_gradient (with
    the penalty), each iteration an epoch of the history."""
    import scipy.optimize

    from nncore import _layout
    from nncore.optimizers import LBFGS

    X, Y = digits
    net = _net()
    x0 = net.params.copy()
    net.fit(X, Y, epochs=15, optimizer=LBFGS(weight_decay=1e-3))
    mask = _layout.weights_mask(net.sizes)
    twin = _net()

    def fun(x):
        twin.params[:] = x
        loss, grad = twin.loss_and_gradient(X, Y)
        w = x[mask]
        grad[mask] += 1e-3 * w
        return loss + 0.5e-3 * float(w @ w), grad

    seen = []
    want = scipy.optimize.minimize(fun, x0, method="L-BFGS-B", jac=True,
                                   callback=lambda xk: seen.append(fun(xk)[0]),
                                   options={"maxiter": 15, "gtol": 1e-4, "maxfun": 15000})
    np.testing.assert_array_equal(net.params, want.x)
    np.testing.assert_array_equal(net.history["loss"], seen)
    assert list(net.history) == ["loss", "time"] and net.epochs_done == 15
    assert net.optimizer.result_.nit == 15 and net.optimizer.step_count == 15


@pytest.mark.parametrize("sizes", [[784, 100, 10], [3, 1], [5, 7, 2, 3], [1, 1, 1]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sklearn_packing_copies_are_the_permutation(sizes, dtype):
    """The drop-in's L-BFGS moves the parameters into and out of scikit-learn's
    packing a layer's block at a time: exactly indexing with sklearn_order."""
    from nncore import _layout

    n = _layout.n_params(sizes)
    perm = _layout.sklearn_order(sizes)
    assert sorted(perm) == list(range(n))
    v = np.random.default_rng(0).standard_normal(n)
    vd = v.astype(dtype)
    np.testing.assert_array_equal(_layout.to_sklearn(vd, sizes, np.empty(n)),
                                  vd[perm].astype(np.float64))
    got, want = np.zeros(n, dtype), np.zeros(n, dtype)
    _layout.from_sklearn(v, sizes, got)
    want[perm] = v
    np.testing.assert_array_equal(got, want)


def test_lbfgs_with_validation_callbacks_and_an_interrupt(digits):
    from nncore.optimizers import LBFGS

    X, Y = digits
    net = _net()
    net.fit(X[100:], Y[100:], epochs=200, optimizer="lbfgs",
            validation_data=(X[:100], Y[:100]), early_stopping=True, patience=2)
    n = len(net.history["val_loss"])
    assert n < 200 and net.best_epoch_ == n - 3  # stopped 2 epochs after the best
    assert net.loss(X[:100], Y[:100]) == pytest.approx(min(net.history["val_loss"]))
    with pytest.raises(TypeError, match="lbfgs takes no learning rate"):
        net.fit(X, Y, optimizer="lbfgs", learning_rate=0.1)
    seen = []
    other = _net()

    def interrupt(epoch, logs):
        seen.append(other.params.copy())
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        other.fit(X, Y, epochs=50, optimizer=LBFGS(), callbacks=[interrupt])
    assert other.params.tobytes() == seen[-1].tobytes() and other.epochs_done == 4


def test_nn_estimators_take_lbfgs():
    from nncore.sklearn import NNClassifier

    X, y = load_digits(return_X_y=True, scale=True)
    clf = NNClassifier(hidden_layer_sizes=(30,), optimizer="lbfgs", epochs=80, random_state=0)
    assert clf.fit(X[:1200], y[:1200]).score(X[1200:], y[1200:]) > 0.9
    assert len(clf.loss_curve_) == 80 or clf.network_.optimizer.result_.status == 0


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("momentum", [0.3, 0.9])
def test_momentum_velocity_over_many_steps_matches_the_reference(momentum, n_threads,
                                                                 weight_decay, nesterov, dtype,
                                                                 first_layer):
    """The compiled momentum keeps its velocity scaled by momentum^t between the
    rescalings (every 12 steps at 0.3, 132 at 0.9); parameters and the velocity it
    hands back must still be the reference's, step after step, across calls, with
    and without the L2 term (which joins the scaled velocity), and so must
    Nesterov's form, which carries z = W + r mu v beside it."""
    net, _, X, Y = random_case(29, 40, dtype)
    opt = SGD(0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    expected = _reference_momentum_calls(momentum, weight_decay, nesterov, dtype)
    for params, velocity in expected:  # 2 calls of 10 epochs of 14 minibatches: 280 steps
        net.fit(X, Y, epochs=10, batch_size=3, optimizer=opt, n_threads=n_threads)
        assert_close(net.params, params, dtype)
        assert_close(opt.state, velocity, dtype)


@functools.cache
def _reference_momentum_calls(momentum, weight_decay, nesterov, dtype):
    """The reference's parameters and velocity after each of the test above's two
    calls: the same for every thread count and first-layer way, so trained once
    (the pure-Python reference took most of this file's two minutes)."""
    _, ref, X, Y = random_case(29, 40, dtype)
    ref_opt = reference.SGD(0.05, momentum=momentum, nesterov=nesterov,
                            weight_decay=weight_decay)
    calls = []
    for _ in range(2):
        ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=10, batch_size=3,
                optimizer=ref_opt)
        calls.append((list(ref.params), list(ref_opt.velocity)))
    return tuple(calls)


@pytest.mark.parametrize("make, make_ref", [
    (lambda: Adam(0.01), lambda: reference.Adam(0.01)),
    (lambda: SklearnAdam(0.01, alpha=0.0), lambda: reference.SklearnAdam(0.01, alpha=0.0)),
])
def test_adam_steps_at_the_edges_of_its_square_root(make, make_ref, dtype):
    """On AVX-512 Adam's step takes 1/sqrt(v) and 1/(sqrt(v) + eps) from estimates
    and Newton's iterations instead of the divider: gradients over 25 decades,
    zero (v = 0) and, in float64, overflowing (v = inf: a zero step, as m / inf)
    must still give the reference's steps."""
    net, ref, _, _ = random_case(11, 4, dtype)
    rng = np.random.default_rng(5)
    g = rng.standard_normal(net.n_params) * 10.0 ** rng.uniform(-20, 5, net.n_params)
    g[::7] = 0.0
    if dtype == np.float64:
        g[3::11] = 1e200
    g = g.astype(dtype)
    opt, ref_opt = make(), make_ref()
    for _ in range(3):
        opt.step(net, g.copy())
        ref.params = ref_opt.step(ref.params, g.astype(float).tolist(), ref.sizes)
    assert np.isfinite(net.params).all()
    assert_close(net.params, ref.params, dtype)


@pytest.fixture
def portable_adam():
    """Adam's plain loop, which machines without AVX-512 run, on this one too."""
    from nncore import _kernels

    before = _kernels._fast_adam(False)
    yield
    _kernels._fast_adam(before)


@pytest.mark.parametrize("kind", ["adam", "sk_adam"])
def test_adams_fast_loop_steps_within_4_ulps_of_ieee_division(kind, dtype):
    """The AVX-512 loop takes sqrt(v) and 1 / (sqrt(v) q + eps) from the processor's
    estimates refined (no divider); the portable loop divides.  From weights of 0
    a step is the new weight itself, rounded once: over gradients and moments
    spanning many decades (zeros included) each step lies within 4 ulps of the
    IEEE loop's, which rounds four times itself (square root, sum, quotient,
    product).  On machines without AVX-512 both are the portable loop."""
    from nncore import _kernels

    opt = (nncore.optimizers.Adam(1e-3) if kind == "adam"
           else nncore.optimizers.SklearnAdam(1e-3))
    sizes = np.array([300, 300], dtype=np.intp)
    n = _kernels.n_params(sizes)
    rng = np.random.default_rng(0)
    lo, hi = (-16, 8) if dtype == np.float64 else (-8, 8)
    g = (rng.standard_normal(n) * 10.0 ** rng.uniform(lo, hi, n)).astype(dtype)
    g[::13] = 0.0
    state = np.concatenate([rng.standard_normal(n) * 10.0 ** rng.uniform(lo, hi, n),
                            rng.random(n) * 10.0 ** rng.uniform(2 * lo, 2 * hi, n)])
    state[n::17] = 0.0
    steps = {}
    for fast in (True, False):
        before = _kernels._fast_adam(fast)
        try:
            w, s = np.zeros(n, dtype), state.astype(dtype)
            _kernels.optimizer_step(opt.kernel_config(), sizes, w, g.copy(), s,
                                    np.array([5], np.uint64))
        finally:
            _kernels._fast_adam(before)
        steps[fast] = w
    fast, ieee = steps[True], steps[False]
    assert np.isfinite(ieee).all() and np.count_nonzero(ieee) > 0.9 * n
    np.testing.assert_array_equal(fast == 0, ieee == 0)
    nonzero = ieee != 0
    ulps = np.abs(fast[nonzero] - ieee[nonzero]) / np.spacing(np.abs(ieee[nonzero]))
    assert ulps.max() <= 4


@pytest.mark.parametrize("make, make_ref", OPTIMIZERS[4:6])
def test_the_portable_adam_loop_takes_the_reference_steps(make, make_ref, dtype,
                                                          portable_adam, first_layer):
    _fit_against_the_twin(make, make_ref, dtype)


@pytest.mark.parametrize("optimizer", [
    lambda: nncore.optimizers.SGD(0.05), lambda: nncore.optimizers.SGD(0.05, momentum=0.9),
    lambda: nncore.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: nncore.optimizers.Adam(0.05)], ids=["sgd", "momentum", "nesterov", "adam"])
def test_minibatches_of_weight_zero_under_every_first_layer_path(optimizer, first_layer):
    """A minibatch whose sample weights are all zero takes no step, and the next one
    starts its forward pass afresh (no look-ahead was formed): the same training
    whatever path the first layer's update takes, sparse input included."""
    import scipy.sparse as sp

    from nncore import _kernels

    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 12))
    X[X < 0.3] = 0.0
    Y = np.eye(3)[rng.integers(0, 3, 40)]
    w = rng.uniform(0.5, 2.0, 40)
    w[8:16] = 0.0  # the second minibatch of 8
    def trained(data):
        net = nncore.Network([12, 6, 3], activation="tanh", output="softmax",
                             loss="cross_entropy", seed=3)
        return net.fit(data, Y, epochs=3, batch_size=8, optimizer=optimizer(),
                       sample_weight=w, shuffle=False).params

    ours = trained(X)
    np.testing.assert_array_equal(trained(sp.csr_matrix(X)), ours)
    before = _kernels._panel_steps(0)
    try:
        whole = trained(X)
    finally:
        _kernels._panel_steps(*before)
    np.testing.assert_allclose(ours, whole, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs", [
    dict(sizes=[2, 3, 1]),
    dict(sizes=[784, 16, 16, 10], activation="relu", output="softmax", loss="cross_entropy"),
    dict(sizes=[4, 5, 5, 3], activation=["leaky_relu", "tanh"], output="softmax"),
    dict(sizes=[3, 1], output="identity", dtype="float32", seed=7),
])
def test_repr_makes_the_same_network(kwargs):
    """A network's repr is the call that makes it: one activation name where the
    hidden layers share it, a list where they differ, none without hidden layers;
    the same parameters again."""
    net = nncore.Network(**kwargs)
    again = eval(repr(net), {"Network": nncore.Network})  # noqa: S307 -- our own repr
    assert repr(again) == repr(net)
    np.testing.assert_array_equal(again.params, net.params)
    assert again.activations == net.activations and again.dtype == net.dtype
    if isinstance(kwargs.get("activation", "sigmoid"), str) and len(kwargs["sizes"]) > 2:
        assert f"activation={kwargs.get('activation', 'sigmoid')!r}" in repr(net)
    assert ("activation=" in repr(net)) == (len(kwargs["sizes"]) > 2)
