"""Issue 4's toolkit: activations, losses, optimisers, validation, early
stopping, continued training, callbacks, float32 end to end."""

import itertools

import numpy as np
import pytest
from conftest import assert_close
from test_against_reference import random_case
from test_gradcheck import central_differences

import nncore
from nncore import _kernels, datasets, reference

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
PAIRS = [(o, "mse") for o in ("sigmoid", "identity", "softmax")] + [
    ("sigmoid", "cross_entropy"), ("softmax", "cross_entropy")]
CONFIGS = [(h, o, loss) for h, (o, loss) in itertools.product(HIDDEN, PAIRS)]


@pytest.mark.parametrize("hidden,output,loss", CONFIGS)
def test_every_configuration_against_the_reference(hidden, output, loss, dtype):
    net, ref, X, Y = random_case(len(hidden) * 7 + len(output) + len(loss), 9, dtype,
                                 acts=(hidden, output), loss=loss)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    assert_close(net.predict(X), ref.predict(Xl), dtype)
    assert_close(net.loss(X, Y), ref.loss(Xl, Yl), dtype)
    assert_close(net.gradient(X, Y), ref.gradient(Xl, Yl), dtype)


@pytest.mark.parametrize("hidden,output,loss", CONFIGS)
def test_every_configuration_against_finite_differences(hidden, output, loss):
    rng = np.random.default_rng(3)
    sizes = [3, 4, 3] if output == "softmax" else [3, 4, 2]
    net = nncore.Network(sizes, activation=hidden, output=output, loss=loss, seed=2)
    net.params = net.params + rng.normal(0, 0.3, net.n_params)
    X = rng.normal(size=(5, 3))
    Y = (np.eye(3)[[0, 2, 1, 1, 0]] if output == "softmax"
         else rng.uniform(size=(5, sizes[-1])))
    g = net.gradient(X, Y)
    fd = central_differences(net, X, Y)
    # O(h^2) truncation plus eps*|C|/h rounding: 1e-7 of the scale is safe;
    # relu kinks are avoided because no pre-activation lies within h of 0 here
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_activations_are_overflow_safe():
    z = np.array([[-1e300, -1e5, -50.0, 0.0, 50.0, 1e5, 1e300]])
    for name, act_id in _kernels.ACTIVATION_IDS.items():
        out = np.empty_like(z)
        with np.errstate(all="raise"):
            _kernels.activate(z, out, act_id)
        if name in ("identity", "relu", "leaky_relu"):
            continue  # they return their (finite) input, scaled
        if name == "exp":
            # the Poisson loss's log link: e^z beyond float64 (z > 709.78) is inf, as in
            # scikit-learn, and the loss reports it; no floating-point trap either way
            np.testing.assert_array_equal(np.isinf(out), z > 709.78)
            continue
        assert np.isfinite(out).all(), name
    out = np.empty_like(z)
    _kernels.activate(z, out, _kernels.ACTIVATION_IDS["softmax"])
    assert out.sum() == pytest.approx(1.0)


def test_cross_entropy_takes_no_log_of_zero():
    net = nncore.Network([2, 3], output="softmax", loss="cross_entropy")
    net.params = np.zeros(net.n_params)
    net.biases[0][:] = [1000.0, -1000.0, 0.0]  # softmax output is exactly [1, 0, 0]
    X = np.zeros((2, 2))
    assert net.loss(X, [[1, 0, 0], [1, 0, 0]]) == 0.0
    assert net.loss(X, [[0, 1, 0], [0, 1, 0]]) == pytest.approx(2000.0)
    assert np.isfinite(net.gradient(X, [[0, 1, 0], [0, 1, 0]])).all()
    b = nncore.Network([2, 1], output="sigmoid", loss="cross_entropy")
    b.params = [800.0, 0.0, 0.0]
    assert b.loss(X, [0, 0]) == pytest.approx(800.0)


@pytest.mark.parametrize("bad", [
    dict(output="softmax", sizes=[3, 1], loss="mse"),
    dict(output="identity", sizes=[3, 2], loss="cross_entropy"),
    dict(output="tanh", sizes=[3, 2], loss="mse"),
    dict(activation="softmax", sizes=[3, 4, 2]),
])
def test_unsupported_pairs_are_refused(bad):
    sizes = bad.pop("sizes")
    with pytest.raises(ValueError, match="softmax|cannot be used|output activation|hidden"):
        nncore.Network(sizes, **bad)


OPTIMIZERS = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {"momentum": 0.9}),
    ("momentum", {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("optimizer,options", OPTIMIZERS)
def test_optimisers_against_the_reference(optimizer, options, dtype):
    net, ref, X, Y = random_case(31, 23, dtype)
    lr = {"sgd": 0.5, "momentum": 0.1, "adam": 0.01}[optimizer]
    net.fit(X, Y, epochs=3, batch_size=5, learning_rate=lr, optimizer=optimizer, **options)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=5,
            learning_rate=lr, optimizer=optimizer, **options)
    assert_close(net.params, ref.params, dtype)


@pytest.mark.parametrize("optimizer,options", [o for o in OPTIMIZERS if o[0] != "sgd"])
def test_optimisers_against_torch(optimizer, options):
    torch = pytest.importorskip("torch")
    net, _, X, Y = random_case(41, 20, np.float64)
    lr = {"momentum": 0.1, "adam": 0.01}[optimizer]
    sizes = net.sizes
    layers = [torch.nn.Linear(a, b).double() for a, b in zip(sizes[:-1], sizes[1:])]
    with torch.no_grad():
        for layer, w, b in zip(layers, net.weights, net.biases):
            layer.weight.copy_(torch.from_numpy(w.copy()))
            layer.bias.copy_(torch.from_numpy(b.copy()))
    wd = options.get("weight_decay", 0.0)
    groups = [{"params": [l.weight for l in layers], "weight_decay": wd},
              {"params": [l.bias for l in layers], "weight_decay": 0.0}]
    if optimizer == "momentum":
        opt = torch.optim.SGD(groups, lr=lr, momentum=options["momentum"],
                              nesterov=options.get("nesterov", False))
    else:
        opt = torch.optim.Adam(groups, lr=lr, betas=(options.get("beta1", 0.9),
                                                     options.get("beta2", 0.999)), eps=1e-8)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for start in range(0, 20, 5):  # no shuffling: the same minibatches in both
        a = Xt[start:start + 5]
        for layer in layers:
            a = torch.sigmoid(layer(a))
        loss = ((a - Yt[start:start + 5]) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.fit(X, Y, epochs=1, batch_size=5, learning_rate=lr, optimizer=optimizer,
            shuffle=False, **options)
    got = np.concatenate([np.column_stack([l.bias.detach().numpy(), l.weight.detach().numpy()])
                          .ravel() for l in layers])
    np.testing.assert_allclose(net.params, got, rtol=1e-10, atol=1e-12)


def test_schedules():
    from nncore.optimizers import learning_rate as lr
    assert lr("constant", 1.0, 7, 0.5, 2) == 1.0
    assert lr("step", 1.0, 5, 0.5, 2) == 0.25
    assert lr("exponential", 1.0, 2, 0.5, 2) == pytest.approx(0.5)
    assert lr("inverse_time", 1.0, 4, 0.5, 2) == pytest.approx(0.5)
    net = nncore.Network([2, 2, 1], seed=0)
    X = np.random.default_rng(0).uniform(size=(20, 2))
    net.fit(X, X[:, 0], epochs=4, lr_schedule="step", decay_rate=0.1, decay_steps=2,
            learning_rate=1.0)
    np.testing.assert_allclose(net.history["lr"], [1.0, 1.0, 0.1, 0.1])
    net.fit(X, X[:, 0], epochs=1, lr_schedule=lambda epoch, r0: r0 / (epoch + 1),
            learning_rate=1.0)
    assert net.history["lr"][-1] == pytest.approx(1 / 5)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_two_fits_of_five_equal_one_of_ten(optimizer, dtype):
    X, y = datasets.load_digits(return_X_y=True, scale=True)
    Y = datasets.one_hot(y, 10)
    a = nncore.Network([64, 16, 10], dtype=dtype, seed=4)
    b = nncore.Network([64, 16, 10], dtype=dtype, seed=4)
    kw = dict(batch_size=16, optimizer=optimizer, learning_rate=0.05,
              lr_schedule="exponential", decay_rate=0.9, decay_steps=1)
    a.fit(X[:400], Y[:400], epochs=5, **kw).fit(X[:400], Y[:400], epochs=5, **kw)
    b.fit(X[:400], Y[:400], epochs=10, **kw)
    assert a.params.tobytes() == b.params.tobytes()
    del a.history["time"], b.history["time"]  # wall-clock seconds differ run to run
    assert a.history == b.history


def test_validation_history_and_accuracy():
    X_train, X_test, y_train, y_test = datasets.digits_split()
    net = nncore.Network([64, 20, 10], seed=0)
    net.fit(X_train, datasets.one_hot(y_train), epochs=3,
            validation_data=(X_test, datasets.one_hot(y_test)))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "time"):
        assert len(net.history[key]) == 3
    assert net.history["val_accuracy"][-1] == net.accuracy(X_test, datasets.one_hot(y_test))
    assert net.history["val_loss"][-1] == pytest.approx(
        net.loss(X_test, datasets.one_hot(y_test)), rel=1e-12)
    split = nncore.Network([64, 20, 10], seed=0)
    split.fit(X_train, datasets.one_hot(y_train), epochs=2, validation_split=0.2)
    assert len(split.history["val_loss"]) == 2


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    Y = rng.uniform(size=(60, 1))  # noise: validation loss soon rises
    Xv, Yv = rng.normal(size=(30, 5)), rng.uniform(size=(30, 1))
    seen = {}

    def remember(epoch, logs):
        seen[epoch] = (logs["val_loss"], net.params.copy())

    net = nncore.Network([5, 40, 1], seed=0)
    net.fit(X, Y, epochs=200, batch_size=4, learning_rate=2.0, validation_data=(Xv, Yv),
            early_stopping=True, patience=3, callbacks=[remember])
    epochs_run = len(net.history["val_loss"])
    assert epochs_run < 200
    best = int(np.argmin(net.history["val_loss"]))
    assert epochs_run - 1 - best == 3  # stopped after `patience` epochs without progress
    assert net.best_epoch_ == best
    np.testing.assert_array_equal(net.params, seen[best][1])
    assert net.loss(Xv, Yv) == pytest.approx(min(net.history["val_loss"]))


def test_callbacks_can_stop_and_see_logs():
    calls = []

    def cb(epoch, logs):
        calls.append((epoch, sorted(logs)))
        return epoch == 2

    class Stopper:
        def on_epoch_end(self, epoch, logs):
            if epoch == 10:
                raise nncore.StopTraining

    X = np.random.default_rng(0).uniform(size=(10, 2))
    nncore.Network([2, 1], seed=0).fit(X, X[:, :1], epochs=50, callbacks=[cb])
    assert [c[0] for c in calls] == [0, 1, 2]
    assert "loss" in calls[0][1]
    net = nncore.Network([2, 1], seed=0).fit(X, X[:, :1], epochs=50, callbacks=[Stopper()])
    assert len(net.history["loss"]) == 11


def test_verbose_modes(capsys):
    X = np.random.default_rng(0).uniform(size=(10, 2))
    nncore.Network([2, 1], seed=0).fit(X, X[:, :1], epochs=3, verbose=0)
    assert capsys.readouterr() == ("", "")
    nncore.Network([2, 1], seed=0).fit(X, X[:, :1], epochs=3, verbose=2)
    out = capsys.readouterr().out
    assert out.count("\n") == 3 and "loss=" in out and "samples/s" in out
    nncore.Network([2, 1], seed=0).fit(X, X[:, :1], epochs=3, verbose=1)
    err = capsys.readouterr().err  # tqdm writes to stderr
    assert "3/3" in err and "loss" in err


def test_float32_end_to_end(tmp_path):
    X, y = datasets.load_digits(return_X_y=True, scale=True)
    net = nncore.Network([64, 16, 10], dtype="float32", seed=0)
    net.fit(X[:300], datasets.one_hot(y[:300]), epochs=2, optimizer="adam",
            learning_rate=0.01)
    assert net.params.dtype == np.float32
    assert net.predict(X[:5]).dtype == np.float32
    assert net.gradient(X[:5], datasets.one_hot(y[:5], 10)).dtype == np.float32
    assert net._opt[1].dtype == np.float32
    net.save(tmp_path / "f32.npz")
    back = nncore.load(tmp_path / "f32.npz")
    assert back.params.dtype == np.float32 and back._opt[1].dtype == np.float32
    assert back.params.tobytes() == net.params.tobytes()


@pytest.mark.parametrize("hidden,output,loss", CONFIGS[::2])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_save_load_every_configuration(tmp_path, hidden, output, loss, optimizer, dtype):
    net, _, X, Y = random_case(2, 12, dtype, acts=(hidden, output), loss=loss)
    net.fit(X, Y, epochs=1, batch_size=4, optimizer=optimizer, learning_rate=0.01)
    net.save(tmp_path / "m.npz")
    back = nncore.load(tmp_path / "m.npz")
    assert back.activations == net.activations and back.loss_name == net.loss_name
    assert back.params.tobytes() == net.params.tobytes()
    assert back._opt[0] == net._opt[0]
    assert back._opt[1].tobytes() == net._opt[1].tobytes()
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_digits_softmax_cross_entropy_adam_reaches_96_percent():
    X_train, X_test, y_train, y_test = datasets.digits_split()
    net = nncore.Network([64, 64, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=0)
    net.fit(X_train, datasets.one_hot(y_train), epochs=30, batch_size=32, optimizer="adam",
            learning_rate=1e-3)
    assert net.accuracy(X_test, datasets.one_hot(y_test)) >= 0.96


def test_reference_twin_has_every_activation():
    for name in HIDDEN:
        a = reference.activate(name, [-1.0, 2.0])
        assert len(a) == 2
    assert sum(reference.activate("softmax", [1.0, 2.0, 3.0])) == pytest.approx(1.0)
